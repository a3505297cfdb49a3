/**
 * The daemon's typed configuration (what a TOML file becomes after validation). Pure data: the
 * daemon (src/daemon) resolves names, reads key files and binds sockets from it.
 */
import type { RefclockConfig } from '../refclock/types.js';
import type { BroadcastConfig, SymmetricKey, SystemConfig } from '../system/types.js';

/** The unprivileged NTP port the built-in default serves on when not running as root. */
export const DEFAULT_UNPRIVILEGED_PORT = 10123;
/** The system's leap-second list (Debian's tzdata), loaded by default when it exists. */
export const DEFAULT_LEAP_FILE = '/usr/share/zoneinfo/leap-seconds.list';
/** The default dashboard address of the built-in configuration. */
export const DEFAULT_DASHBOARD = '127.0.0.1:9976';

/** Options shared by every configured association. */
export interface SourceOptions {
  iburst: boolean;
  burst: boolean;
  /** Poll exponents, log2 s. */
  minpoll: number;
  maxpoll: number;
  prefer: boolean;
  noselect: boolean;
  xleave: boolean;
  /** Symmetric key ID, or null for no authentication. */
  key: number | null;
  version: number;
  /** Samples with a larger round-trip delay (s) are discarded; null = no limit. */
  maxDelay: number | null;
}

/** `[[server]]`, `[[peer]]`, `[[broadcast-client]]`: one host name or address. */
export interface HostSourceConfig extends SourceOptions {
  host: string;
  port: number;
  /** `[[server]]` only: authenticate with NTS (RFC 8915); `host` is then the NTS-KE server. */
  nts?: boolean;
  /** NTS-KE port (default 4460). */
  ntsPort?: number;
}

/** `[nts]`: Network Time Security, client trust and the NTS-KE server (docs/nts.md). */
export interface NtsConfig {
  /** PEM file of CA / self-signed certificates trusted for NTS-KE servers; null = the system store. */
  trustedCerts: string | null;
  /** Do not verify NTS-KE server certificates (tests only). */
  insecureSkipVerify: boolean;
  /** PEM certificate chain and private key of our NTS-KE server; both set = serve NTS. */
  serverCert: string | null;
  serverKey: string | null;
  /** TCP port of our NTS-KE server (default 4460). */
  kePort: number;
  /** Addresses the NTS-KE server listens on; null = those of `[serve] listen`. */
  keListen: string[] | null;
  /** File keeping the cookie master keys across restarts; null = next to the state file, or none. */
  keyFile: string | null;
  /** Seconds between master key rotations (default 86400). */
  rotateInterval: number;
  /** Master keys kept (current + previous), default 3. */
  keepKeys: number;
  /** NTS-KE connections open at once (default 100). */
  maxConnections: number;
  /** Seconds a KE connection may take (handshake and exchange), default 5. */
  handshakeTimeout: number;
  /** NTS-KE connections one source address may have open at once (default 8). */
  maxConnectionsPerSource: number;
  /** Seconds without traffic after which a KE connection is closed (default 2). */
  idleTimeout: number;
}

/** `[[pool]]`: a DNS name giving several servers. */
export interface PoolSourceConfig extends SourceOptions {
  host: string;
  port: number;
  /** How many of its addresses to use at once. */
  maxSources: number;
  /** Seconds between DNS re-resolutions (also the delay before an unreachable server is replaced). */
  reresolveInterval: number;
  /** A source is unreachable (and replaced) after this many polls without an answer. */
  unreachablePolls: number;
}

export interface ServiceConfig {
  port: number;
  tcp: boolean;
  udp: boolean;
  address?: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface DaemonConfig {
  /** The file this came from, or null for the built-in default / a string. */
  file: string | null;
  servers: HostSourceConfig[];
  pools: PoolSourceConfig[];
  peers: HostSourceConfig[];
  broadcastClients: HostSourceConfig[];
  /** `[[refclock]]`: reference clocks (SHM, PPS, NMEA; docs/refclock.md). */
  refclocks: RefclockConfig[];
  /** Engine parameters. `keys` holds the inline keys; the daemon adds those of `keysFile`. */
  system: SystemConfig;
  keysFile: string | null;
  /** `[nts]` (always set by the parser; optional for hand-built configurations). */
  nts?: NtsConfig;
  clock: {
    discipline: 'rfc5905' | 'feedforward';
    /** Drift/state file (JSON, written atomically), null = none. */
    stateFile: string | null;
    /** Seconds between state file writes while running (it is also written at exit). */
    stateInterval: number;
    /** Drive the host's system clock (only effective when privileged). Default false: never touched. */
    systemClock: boolean;
    /** Offsets above this (s) are stepped, below slewed (RFC 5905 STEPT 0.128); 0 = never step. */
    stepThreshold: number;
    /** Offsets above this (s) are refused (RFC 5905 PANICT 1000); 0 = no panic check. */
    panicThreshold: number;
    /** Seconds a large offset must persist before it is stepped (RFC 5905 WATCH 900). */
    stepout: number;
    /** Allow one step of any size before the first synchronisation (ntpd -g). Default true. */
    stepAtStartup: boolean;
    /** Frequency tolerance, ppm (default 500). */
    maxFrequency: number;
    /**
     * `leap-file`: the leap-seconds.list to load; null = the system's (DEFAULT_LEAP_FILE) when it
     * exists, "none" = no list. (The leap mode and smear window are in `system`.)
     */
    leapFile?: string | null;
  };
  server: {
    /** Answer client requests (mode 3) at all. */
    enabled: boolean;
    /** Addresses to bind (IPv4 and IPv6 get their own sockets). */
    listen: string[];
    /** null = 123 when root, DEFAULT_UNPRIVILEGED_PORT otherwise. 0 = any free port. */
    port: number | null;
    clientTableSize: number;
    /**
     * How the NTP sockets (client and server traffic alike) timestamp datagrams: 'kernel' = the
     * kernel's receive and transmit stamps (Linux; falls back to 'user' where unavailable), 'user' =
     * the counter read in the message handler and the send callback.
     */
    timestamping: 'kernel' | 'user';
    /**
     * Server worker threads on batched sockets (recvmmsg/sendmmsg, SO_REUSEPORT; Linux); null (the
     * default) = the number of cores. 0 = no workers, the node:dgram path, also used where batched
     * sockets are missing.
     */
    workers: number | null;
  };
  access: { allow: string[]; deny: string[] };
  rateLimit: {
    enabled: boolean;
    /** Minimum average interval between a client's requests, log2 s (chrony `ratelimit interval`). */
    interval: number;
    /** Requests a client may send in a burst above the average rate. */
    burst: number;
    /** Answer limited requests with KoD RATE (some of them) instead of dropping all. */
    kod: boolean;
    /** One in `leak` limited requests is still answered (chrony leak); 0 = never. */
    leak: number;
  };
  legacy: {
    time: ServiceConfig | null;
    daytime: ServiceConfig | null;
    /** TCP connections per service (default 256). */
    maxConnections?: number;
    /** TCP connections one source address may have open at once, over all services (default 8). */
    maxConnectionsPerSource?: number;
    /** Seconds without traffic after which a TCP connection is closed (default 2). */
    idleTimeout?: number;
  };
  observe: {
    /** Unix control socket path; 'default' = the platform default path; null = off. */
    controlSocket: string | null;
    /** A group whose members may use the read-only commands (status, sources, clients); null = owner only. */
    controlGroup: string | null;
    /** host:port for Prometheus metrics, null = off. */
    metrics: string | null;
    /** host:port for the web dashboard, null = off. */
    dashboard: string | null;
    /** Answer ntpq (mode 6) from other hosts than loopback. */
    ntpqRemote: boolean;
    statsDir: string | null;
    /** Rotate statistics files: 'daily' | 'none'. */
    statsRotate: 'daily' | 'none';
  };
  log: { level: LogLevel; format: 'json' | 'text' };
  daemon: {
    /** After binding privileged ports, switch to this user (and group), when running as root. */
    user: string | null;
    group: string | null;
    pidFile: string | null;
  };
}

export type { BroadcastConfig, SymmetricKey };
