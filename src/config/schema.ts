/**
 * The configuration schema: every table and key of the TOML file with its type, default, range or
 * allowed values and meaning (the builders are in schema-kit.ts). The defaults of the engine's keys
 * are read from src/system/defaults.ts and the RFC 5905 constants; the others are written here and
 * in schema-sources.ts (sources and keys), and nowhere else. src/config/parse.ts reads files with
 * it; docs/CONFIG.md's key tables and ntpkit.toml(5) are generated from it (`npm run gen:packaging`).
 */
import { LEAP_MODES } from '../clock/leap.js';
import { MAXFREQ, PANICT, STEPT, WATCH } from '../clock/rfc5905-params.js';
import { KE_DEFAULT_PORT } from '../nts/ke.js';
import { defaultSystemConfig } from '../system/defaults.js';
import {
  bool,
  custom,
  int,
  type KeySpec,
  type Keys,
  list,
  num,
  oneOf,
  optBool,
  optList,
  optNumber,
  optStr,
  str,
} from './schema-kit.js';
import { REFCLOCK, REFCLOCK_DRIVER_KEYS } from './schema-refclock.js';
import {
  BROADCAST,
  HOST,
  HOST_PORT,
  IP,
  KEY,
  KEYS,
  POOL,
  SERVER_NTS,
  SOURCE_OPTIONS,
  validCidr,
} from './schema-sources.js';
import type { LogLevel } from './types.js';

const SYS = defaultSystemConfig();

// ---- engine ----

export const SYSTEM = {
  minSane: int(
    'min-sources',
    SYS.minSane,
    'survivors needed for the selection to succeed (RFC 5905 MINSANE)',
    {
      min: 1,
      max: 64,
    },
  ),
  minClock: int('min-clock', SYS.minClock, 'survivors kept by the cluster algorithm (MINCLOCK)', {
    min: 1,
    max: 64,
  }),
  maxClock: int('max-clock', SYS.maxClock, 'maximum number of sources (MAXCLOCK)', { min: 1, max: 64 }),
  maxDistance: num(
    'max-distance',
    SYS.maxDistance,
    'root distance above which a source is unselectable (MAXDIST)',
    { min: 0.001, max: 16, unit: 's' },
  ),
  maxJitter: num(
    'max-jitter',
    SYS.maxJitter,
    'jitter above which a source is unselectable, shown `~` jittery (chrony `maxjitter`)',
    { min: 1e-9, max: 16, unit: 's' },
  ),
  maxStratum: int('max-stratum', SYS.maxStratum, 'sources at or above this stratum are unselectable', {
    min: 1,
    max: 16,
  }),
  precision: int('precision', SYS.precision, 'precision of our clock readings', {
    min: -32,
    max: 0,
    unit: 'log2 s',
  }),
  huffPuff: num('huff-puff', SYS.huffPuff, 'huff-n’-puff window, 0 = off', { min: 0, max: 86400, unit: 's' }),
  allowPassive: bool(
    'allow-passive',
    SYS.allowPassive,
    'accept symmetric-active packets from unconfigured peers',
  ),
  broadcastClient: bool(
    'accept-broadcast',
    SYS.broadcastClient,
    'accept mode 5 from unconfigured broadcast servers',
  ),
  requireAuthForMobilise: bool(
    'require-auth-for-mobilise',
    SYS.requireAuthForMobilise,
    'passive/broadcast mobilisation needs authentication',
  ),
  interleavedTableSize: int(
    'interleaved-table-size',
    SYS.interleavedTableSize,
    'clients remembered for interleaved server mode (fixed memory)',
    { min: 0, max: 1 << 20 },
  ),
};

export const LOCAL = {
  stratum: optNumber(
    'stratum',
    'serve our own clock at this stratum when no source is selectable — chrony’s `local stratum N`, for isolated networks. `[local]` without `stratum` and `orphan` serves at stratum 10',
    { int: true, min: 1, max: 15, defaultText: 'absent: off' },
  ),
  orphan: optNumber(
    'orphan',
    'orphan mode (ntpd’s `tos orphan N`): when no upstream source (stratum below N) survives, the servers of a group that have each other as sources elect one orphan parent by ntpd’s rule (the lowest address: an IPv4 address as a number, IPv6 by its hashed reference ID), which serves at stratum N (refid 127.0.0.1), the others follow it at N+1; upstream sources are used again as soon as they return. `[local]` with only `orphan` has no local clock source. See docs/clocks.md',
    { int: true, min: 1, max: 15, defaultText: 'absent: off' },
  ),
};

export const CLOCK = {
  discipline: oneOf(
    'discipline',
    ['rfc5905', 'feedforward'] as const,
    'feedforward',
    '`feedforward` (RADclock-style, the default: best accuracy) or `rfc5905` (PLL/FLL) — see docs/clocks.md',
  ),
  stateFile: optStr(
    'state-file',
    null,
    'drift/state file (JSON, written atomically at stop and every `state-interval`; its frequency is loaded at start)',
    { type: 'path' },
  ),
  stateInterval: num('state-interval', 3600, 'seconds between state file writes', {
    min: 1,
    max: 86400 * 7,
    unit: 's',
  }),
  systemClock: bool(
    'system-clock',
    false,
    'drive the host’s system clock (needs privileges; ntpkit then keeps them). Default: never touched, ntpkit serves its software clock',
  ),
  stepThreshold: num('step-threshold', STEPT, 'offsets above this are stepped; 0 = always slew', {
    min: 0,
    max: 86400,
    unit: 's',
  }),
  panicThreshold: num(
    'panic-threshold',
    PANICT,
    'larger offsets are refused and the daemon exits; 0 = no check',
    { min: 0, max: 1e9, unit: 's' },
  ),
  stepout: num(
    'stepout',
    WATCH,
    'seconds a large offset must persist before it is stepped (RFC 5905 WATCH)',
    {
      min: 0,
      max: 86400,
      unit: 's',
    },
  ),
  stepAtStartup: bool(
    'step-at-startup',
    true,
    'one step of any size is allowed before the first synchronisation (ntpd -g)',
  ),
  maxFrequency: num('max-frequency', MAXFREQ * 1e6, 'frequency tolerance', {
    min: 1,
    max: 100000,
    unit: 'ppm',
  }),
  leapMode: oneOf(
    'leap-mode',
    LEAP_MODES,
    'step',
    'how a leap second is carried out: `step` (23:59:59 repeated / skipped, as the kernel does), `slew` (served time slewed by the second afterwards, about 12 s, as chrony’s `leapsecmode slew`), `smear` (served time smeared over `leap-smear-window`, LI 0 served, as chrony’s `smoothtime … leaponly`), `ignore` — see docs/clocks.md',
  ),
  leapFile: optStr(
    'leap-file',
    null,
    'leap-seconds.list (IERS/IETF format, hash verified); default `/usr/share/zoneinfo/leap-seconds.list` when it exists; `"none"` = no list. An expired list is warned about and not trusted; a bad one is logged and ignored',
    { type: 'path', defaultText: 'the system’s' },
  ),
  leapSmearWindow: num(
    'leap-smear-window',
    86400,
    'smear window, centred on the leap (86400: noon to noon UTC)',
    { min: 60, max: 7 * 86400, unit: 's' },
  ),
};

// ---- services ----

export const SERVE = {
  enabled: bool(
    'enabled',
    true,
    'answer client requests (mode 3); false = client only (sockets still bound for our own polls)',
  ),
  listen: list(
    'listen',
    ['0.0.0.0', '::'],
    'addresses to bind; IPv4 and IPv6 get their own sockets. An address that cannot be bound (e.g. `::` without IPv6) is logged and skipped',
    IP,
  ),
  port: optNumber('port', 'UDP port; 0 = any free port (tests)', {
    int: true,
    min: 0,
    max: 65535,
    defaultText: '123 as root, 10123 otherwise',
  }),
  clientTableSize: int(
    'client-table-size',
    4096,
    'clients tracked for rate limiting and `ntpkit clients` (fixed memory, least recently seen evicted)',
    { min: 16, max: 1 << 22 },
  ),
  timestamping: oneOf(
    'timestamping',
    ['kernel', 'user'] as const,
    'kernel',
    'how the NTP sockets (client and server traffic) timestamp datagrams: `"kernel"` = the kernel’s receive and transmit stamps (Linux; each socket falls back to `"user"` where they are unavailable, `ntpkit status` shows which), `"user"` = the counter read in the message handler and send callback',
  ),
  workers: optNumber(
    'workers',
    'server worker threads on batched sockets (recvmmsg/sendmmsg, SO_REUSEPORT, one per worker; Linux): they answer client requests (basic, interleaved with kernel transmit stamps, symmetric-key MACs, NTS) and hand other modes to the main thread, whose own sends keep kernel transmit stamps (docs/daemon.md); `0` = the node:dgram path, also used (with a log line and the reason in `ntpkit status`) where batched sockets are unavailable',
    { int: true, min: 0, max: 256, defaultText: 'the number of cores' },
  ),
};

export const NTS = {
  trustedCerts: optStr(
    'trusted-certs',
    null,
    'PEM file of CA or self-signed certificates trusted for NTS-KE servers',
    { type: 'path', defaultText: 'none (system CA store)' },
  ),
  insecureSkipVerify: bool(
    'insecure-skip-verify',
    false,
    'do not verify NTS-KE server certificates (tests only: anyone on the path can then forge time)',
  ),
  serverCert: optStr('server-cert', null, 'PEM certificate chain of our NTS-KE server (with `server-key`)', {
    type: 'path',
  }),
  serverKey: optStr('server-key', null, 'PEM private key of our NTS-KE server', { type: 'path' }),
  kePort: int('ke-port', KE_DEFAULT_PORT, 'TCP port of our NTS-KE server (0 = any free port, tests)', {
    min: 0,
    max: 65535,
  }),
  keListen: optList('ke-listen', 'IP addresses the NTS-KE server listens on', {
    ...IP,
    elementPath: true,
    defaultText: '`[serve] listen`',
  }),
  keyFile: optStr(
    'key-file',
    null,
    'cookie master keys (JSON, mode 0600, written atomically); without it and without a state file the keys live in memory and clients need NTS-KE again after a restart',
    { type: 'path', defaultText: '`ntpkit-nts-keys.json` next to `[clock] state-file`' },
  ),
  rotateInterval: num(
    'rotate-interval',
    86400,
    'seconds between master key rotations (also at start when the newest key is older)',
    { min: 60, max: 86400 * 365, unit: 's' },
  ),
  keepKeys: int(
    'keep-keys',
    3,
    'master keys kept (cookies older than `keep-keys − 1` rotations get an NTS NAK)',
    { min: 2, max: 100 },
  ),
  maxConnections: int('max-connections', 100, 'NTS-KE connections open at once; more are refused', {
    min: 1,
    max: 100000,
  }),
  handshakeTimeout: num(
    'handshake-timeout',
    5,
    'seconds an NTS-KE connection may take (TLS handshake and exchange), server and client side',
    { min: 0.1, max: 600, unit: 's' },
  ),
  maxConnectionsPerSource: int(
    'max-connections-per-source',
    8,
    'NTS-KE connections one client address may have open at once (over all `ke-listen` addresses); more are closed at accept, so one address cannot take every `max-connections` slot',
    { min: 1, max: 100000 },
  ),
  idleTimeout: num('idle-timeout', 2, 'seconds without traffic after which an NTS-KE connection is closed', {
    min: 0.1,
    max: 600,
    unit: 's',
  }),
};

const CIDR = { check: validCidr, problem: 'is not an address or CIDR prefix', type: 'CIDR prefixes' };

export const ACCESS = {
  allow: list(
    'allow',
    ['0.0.0.0/0', '::/0'],
    'CIDR prefixes (`10.0.0.0/8`, `::1/128`, or plain addresses) allowed to query',
    { ...CIDR, defaultText: 'everyone' },
  ),
  deny: list('deny', [], 'prefixes denied; deny entries are checked before allow entries', {
    ...CIDR,
    defaultText: 'none',
  }),
};

export const RATE_LIMIT = {
  enabled: optBool('enabled', 'rate limiting on or off', {
    defaultText: 'true when the table exists',
    toml: 'true',
  }),
  interval: int('interval', 3, 'a client may average one request per 2^interval s', {
    min: -4,
    max: 12,
    unit: 'log2 s',
  }),
  burst: int('burst', 8, 'requests allowed in a burst above that', { min: 1, max: 256 }),
  kod: bool(
    'kod',
    true,
    'answer limited requests with KoD RATE (at most one per client per second) instead of silence',
  ),
  leak: int('leak', 2, 'a random 1 in 2^leak limited requests is still answered (0 = none)', {
    min: 0,
    max: 1024,
    unit: 'log2',
  }),
};

/** `time-port` / `daytime-port`: a port, or absent / false for off. */
function servicePort(key: string, doc: string): KeySpec<number | null> {
  return custom<number | null>(
    key,
    null,
    doc,
    { type: 'integer 0…65535', defaultText: 'absent = off' },
    (r, t, p) => {
      const v = t[key];
      if (v === undefined || v === false) return null;
      return r.num(t, key, p, 0, { int: true, min: 0, max: 65535 });
    },
  );
}

export const LEGACY = {
  timePort: servicePort('time-port', 'RFC 868 Time service port (37 is standard)'),
  daytimePort: servicePort('daytime-port', 'RFC 867 Daytime service port (13 is standard)'),
  tcp: bool('tcp', true, 'serve over TCP'),
  udp: bool('udp', true, 'serve over UDP (rate limited per source)'),
  address: str('address', '', 'bind address', { defaultText: '`::` (dual stack)', toml: null }),
  maxConnections: int('max-connections', 256, 'TCP connections open at once, per service', {
    min: 1,
    max: 100000,
  }),
  maxConnectionsPerSource: int(
    'max-connections-per-source',
    8,
    'TCP connections one client address may have open at once (over both services); more are closed at accept',
    { min: 1, max: 100000 },
  ),
  idleTimeout: num(
    'idle-timeout',
    2,
    'seconds without traffic after which a TCP connection is closed (clients that never read or close)',
    { min: 0.1, max: 600, unit: 's' },
  ),
};

export const OBSERVE = {
  controlSocket: optStr(
    'control-socket',
    'default',
    'Unix socket for `ntpkit status/sources/clients` and the runtime commands (root: /run/ntpkit/ntpkit.sock; else $XDG_RUNTIME_DIR/ntpkit.sock or /tmp/ntpkit-UID/); `false` = off',
    { type: 'path', defaultText: 'platform default' },
  ),
  controlGroup: optStr(
    'control-group',
    null,
    'a group (name or gid) whose members may use the read-only commands (`status`, `sources`, `source`, `clients`); the socket becomes 660, its ntpkit directory 750',
  ),
  metrics: optStr('metrics', null, '`HOST:PORT` for Prometheus `/metrics`, e.g. `"127.0.0.1:9975"`', {
    ...HOST_PORT,
    defaultText: 'off',
  }),
  dashboard: optStr('dashboard', null, '`HOST:PORT` of the web dashboard', {
    ...HOST_PORT,
    defaultText: 'off in files; `127.0.0.1:9976` in the built-in default',
  }),
  ntpqRemote: bool('ntpq-remote', false, 'answer ntpq (mode 6) from non-loopback addresses'),
  statsDir: optStr('stats-dir', null, 'directory for loopstats/peerstats CSV files', {
    type: 'path',
    defaultText: 'off',
  }),
  statsRotate: oneOf(
    'stats-rotate',
    ['daily', 'none'] as const,
    'daily',
    'rotate the statistics files daily or never',
  ),
};

export const LOG = {
  level: oneOf<LogLevel>(
    'level',
    ['debug', 'info', 'warn', 'error'],
    'info',
    'the least severe level logged',
  ),
  format: oneOf(
    'format',
    ['json', 'text'] as const,
    'json',
    '`json`: one JSON object per line on stderr (`ts`, `level`, `msg`, fields); `text`: human lines',
  ),
};

export const DAEMON = {
  user: optStr(
    'user',
    'nobody',
    'when started as root, switch to this user after binding the sockets (port 123), the control socket and legacy ports; `false` = stay root',
  ),
  group: optStr('group', null, 'group to switch to', { defaultText: 'the user’s group' }),
  pidFile: optStr('pid-file', null, 'write the daemon’s PID here at start (removed at stop)', {
    type: 'path',
  }),
};

/** A table of the file: `[name]`, or `[[name]]` when `array`. */
export interface Section {
  readonly name: string;
  readonly array: boolean;
  readonly keys: Record<string, KeySpec<unknown>>;
  /** One line for `ntpkit config keys`. */
  readonly title: string;
  /** Keys that depend on the value of one key (`[[refclock]]`: `driver`): value → its own keys. */
  readonly variants?: { readonly key: string; readonly keys: Readonly<Record<string, Keys>> };
}

export const SERVER = { ...HOST, ...SOURCE_OPTIONS, ...SERVER_NTS };
export const PEER = { ...HOST, ...SOURCE_OPTIONS };
export const POOL_KEYS = { ...HOST, ...SOURCE_OPTIONS, ...POOL };

/** Every table of the file, in the order the unknown-table message lists them. */
export const SECTIONS: readonly Section[] = [
  { name: 'server', array: true, keys: SERVER, title: 'a server we are a client of (mode 3 → 4)' },
  { name: 'pool', array: true, keys: POOL_KEYS, title: 'a DNS name giving several servers' },
  { name: 'peer', array: true, keys: PEER, title: 'symmetric active association (mode 1)' },
  { name: 'broadcast', array: true, keys: BROADCAST, title: 'be a broadcast server (mode 5)' },
  { name: 'broadcast-client', array: true, keys: PEER, title: 'listen to a broadcast server' },
  {
    name: 'refclock',
    array: true,
    keys: REFCLOCK,
    title: 'a reference clock (docs/refclock.md)',
    variants: { key: 'driver', keys: REFCLOCK_DRIVER_KEYS },
  },
  { name: 'system', array: false, keys: SYSTEM, title: 'selection and mobilisation' },
  { name: 'local', array: false, keys: LOCAL, title: 'serving our own clock, orphan mode' },
  { name: 'key', array: true, keys: KEY, title: 'a symmetric key inline' },
  { name: 'keys', array: false, keys: KEYS, title: 'the key file' },
  { name: 'clock', array: false, keys: CLOCK, title: 'the discipline, steps, leap seconds' },
  { name: 'serve', array: false, keys: SERVE, title: 'the NTP server' },
  { name: 'access', array: false, keys: ACCESS, title: 'who may query' },
  { name: 'rate-limit', array: false, keys: RATE_LIMIT, title: 'per-client rate limiting' },
  { name: 'legacy', array: false, keys: LEGACY, title: 'RFC 868 Time and RFC 867 Daytime' },
  { name: 'observe', array: false, keys: OBSERVE, title: 'control socket, metrics, dashboard, statistics' },
  { name: 'log', array: false, keys: LOG, title: 'logging' },
  { name: 'daemon', array: false, keys: DAEMON, title: 'privileges and PID file' },
  { name: 'nts', array: false, keys: NTS, title: 'Network Time Security (RFC 8915)' },
];
