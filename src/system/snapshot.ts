/**
 * The one observable state type. The engine fills `SystemSnapshot`; the daemon wraps it in a
 * `DaemonSnapshot` with server statistics; the control socket, the CLI tables, ntpq (mode 6),
 * Prometheus metrics and the dashboard all read this same structure.
 *
 * It is JSON-safe: no bigint. Absolute times are Unix seconds as numbers (display precision only);
 * every interval is in seconds.
 */

/** Why a source was or was not used (chrony's sources view / ntpq's tally codes). */
export type SelectionVerdict =
  /** The system peer (ntpq '*', chrony '*'). */
  | 'sys-peer'
  /** Survived clustering and is combined (ntpq '+', chrony '+'). */
  | 'combined'
  /** Truechimer discarded by the cluster algorithm (ntpq '-', chrony '-'). */
  | 'outlier'
  /** Outside the intersection (ntpq 'x', chrony 'x'). */
  | 'falseticker'
  /** Jitter too large relative to others (chrony '~'). */
  | 'jittery'
  /** Beyond maxclock survivors (ntpq '.'). */
  | 'excess'
  /** Not reachable / no valid samples yet (chrony '?'). */
  | 'unreachable'
  /** Root distance over the threshold. */
  | 'bad-distance'
  /** Unsynchronised (leap 3) or stratum out of range, or a timing loop. */
  | 'unsynchronised'
  | 'bad-stratum'
  | 'loop'
  /** Configured noselect. */
  | 'noselect'
  /** Waiting for enough samples. */
  | 'pending';

export interface FilterStage {
  offset: number;
  delay: number;
  dispersion: number;
  /** Age of the sample in seconds at snapshot time. */
  age: number;
}

export interface SourceSnapshot {
  id: string;
  address: string;
  port: number;
  name: string | null;
  /** 'refclock': a reference clock (src/refclock); `address` is its driver parameter, port 0. */
  mode: 'server' | 'peer' | 'passive' | 'broadcast-client' | 'refclock';
  /** The association currently runs interleaved. */
  interleaved: boolean;
  xleave: boolean;
  prefer: boolean;
  noselect: boolean;
  /** From the last valid packet. */
  stratum: number;
  refid: string;
  leap: number;
  version: number;
  precision: number;
  rootDelay: number;
  rootDispersion: number;
  /** Poll exponents: ours (host poll) and the peer's. */
  poll: number;
  peerPoll: number;
  /** Reachability shift register (8 bits); display it in octal. */
  reach: number;
  /** Seconds since the last valid packet; null if none. */
  when: number | null;
  /** Clock filter output (s). */
  offset: number;
  delay: number;
  dispersion: number;
  jitter: number;
  /** Root distance to this source (s). */
  rootDistance: number;
  /** Newest first; up to 8. */
  filter: FilterStage[];
  verdict: SelectionVerdict;
  /** Human words for the verdict, e.g. "outside the intersection of 3 truechimers". */
  verdictReason: string;
  auth: 'none' | 'ok' | 'failed';
  /** How the source is authenticated: NTS (RFC 8915), a symmetric key, or not at all. */
  authMethod?: 'nts' | 'symmetric' | 'none';
  /** NTS sources only. */
  nts?: NtsSourceInfo;
  keyId: number | null;
  /** Last kiss code received, if any. */
  kod: string | null;
  /** Rejected packets by check name (e.g. test1-duplicate, test2-bogus, test3-invalid, kod, auth, ...). */
  rejected: Record<string, number>;
  packetsSent: number;
  packetsReceived: number;
  /** Taken offline by the operator (`ntpkit offline`): not polled until `ntpkit online`. */
  offline?: boolean;
  /** Reference clocks only (mode 'refclock'); packetsReceived counts accepted samples. */
  refclock?: RefclockInfo;
}

/** NTS state of a client association. */
export interface NtsSourceInfo {
  /** A session (keys from NTS-KE) is in place. */
  session: boolean;
  /** Cookies in the pool. */
  cookies: number;
  /** NTS-KE runs the association asked for. */
  keRequests: number;
  /** NTS NAKs received. */
  naks: number;
  /** Responses rejected by the NTS checks (forged, tampered, unauthenticated). */
  authFailures: number;
}

/** Driver details of a reference clock source. */
export interface RefclockInfo {
  /** 'SHM' | 'PPS' | 'NMEA'. */
  driver: string;
  /** SHM unit, PPS or serial device. */
  parameter: string;
  /** Refclock whose samples number this one's pulses. */
  lock: string | null;
  trust: boolean;
  /** Samples mark only the start of a second (PPS). */
  pulse: boolean;
  /** Samples collected since the last poll. */
  samples: number;
  /** Offset of the newest accepted sample (s). */
  lastSampleOffset: number | null;
}

export interface SystemSnapshot {
  /** Unix seconds of the snapshot by our clock. */
  time: number;
  /**
   * ntpkit's clock minus the host's CLOCK_REALTIME (s), read at one instant by the daemon:
   * positive = the host clock is slow (chronyc tracking's "System time"). Absent outside the daemon.
   */
  hostClockOffset?: number;
  clock: 'rfc5905' | 'feedforward';
  /** Discipline state (NSET, FREQ, SYNC, ... or WARMUP, TRACKING, FREEWHEEL). */
  clockState: string;
  synchronised: boolean;
  leap: number;
  stratum: number;
  refid: string;
  /** Unix seconds of the last clock update, null if never. */
  referenceTime: number | null;
  rootDelay: number;
  rootDispersion: number;
  /** rootDelay / 2 + rootDispersion. */
  rootDistance: number;
  /** Last offset applied by the discipline (s). */
  offset: number;
  frequencyPpm: number;
  jitter: number;
  /** ppm */
  wander: number;
  poll: number;
  precision: number;
  /** Bound on the error of our clock now (s). */
  errorBound: number;
  sysPeer: string | null;
  sources: SourceSnapshot[];
  /** The leap second scheduled for the end of this month, or null (absent: an engine without leap support). */
  leapPending?: LeapPendingSnapshot | null;
  /** TAI−UTC by the leap-second list (s); null without a valid list. */
  taiUtc?: number | null;
  /** `[clock] leap-mode`, and whether the served time is being smeared now. */
  leapMode?: 'step' | 'slew' | 'smear' | 'ignore';
  smearing?: boolean;
  /** Orphan mode (`[local] orphan`): the orphan stratum, and whether we serve as an orphan now. */
  orphan?: { stratum: number; active: boolean; parent: string | null } | null;
  /** Engine events since the start, by kind (SystemEventKind); absent from older daemons. */
  events?: Partial<Record<string, number>>;
  extra?: Record<string, number | string | boolean>;
}

/** `system.leapPending`: a scheduled leap second. */
export interface LeapPendingSnapshot {
  kind: 'insert' | 'delete';
  /** The second inserted or deleted, ISO 8601 ("2016-12-31T23:59:60Z"). */
  at: string;
  /** Unix seconds of the midnight that follows it. */
  midnight: number;
  /** Survivors announcing it, of `sources` survivors. */
  votes: number;
  sources: number;
  /** The leap-second list: 'agrees', 'silent' (no leap then), 'expired', 'none'. */
  list: 'agrees' | 'silent' | 'expired' | 'none';
}

export interface ServerStats {
  requests: number;
  responses: number;
  interleavedResponses: number;
  kodSent: number;
  rateLimited: number;
  denied: number;
  dropped: number;
  /** Malformed or otherwise invalid packets, by reason. */
  invalid: Record<string, number>;
  clientsTracked: number;
  /** Mode 6 (ntpq) requests received, when the host counts them. */
  controlRequests?: number;
}

export interface ClientSnapshot {
  address: string;
  /** Source port of the last request (ntpq mrulist), when known. */
  port?: number;
  requests: number;
  /** Seconds since the last request. */
  lastSeen: number;
  /** Seconds since the first request, when known. */
  firstSeen?: number;
  /** Average interval between requests (s), null with one request. */
  interval: number | null;
  kodSent: number;
  dropped: number;
  interleaved: boolean;
}

/** How the daemon's NTP sockets timestamp datagrams (`[serve] timestamping`), with counts. */
export interface TimestampingStats {
  /** 'kernel': kernel receive and transmit stamps; 'user': counter reads in the handlers. */
  mode: 'kernel' | 'kernel receive' | 'user';
  /** Datagrams received with a kernel stamp / with the handler's reading instead. */
  rxKernel: number;
  rxUser: number;
  /** Precise transmit stamps from the kernel / from the send callback instead. */
  txKernel: number;
  txUser: number;
  /**
   * With kernel transmit stamps: the measured time from reading a basic-mode transmit timestamp to
   * the datagram leaving, and the amount added to those timestamps for it (src/serve/send-latency.ts).
   */
  sendLatency?: {
    /** Sends measured so far. */
    samples: number;
    /** Seconds added to basic-mode transmit timestamps (0 until enough sends are measured). */
    compensation: number;
    /** Median measured latency of the recent sends (s), null before any. */
    median: number | null;
  };
}

export interface DaemonSnapshot {
  version: string;
  /** Seconds since the daemon started. */
  uptime: number;
  system: SystemSnapshot;
  server: ServerStats;
  clients: ClientSnapshot[];
  /** Absent from daemons that predate it. */
  timestamping?: TimestampingStats;
  /** How the server's sockets are read (absent from daemons that predate it). */
  transport?: TransportSnapshot;
}

/** The daemon's NTP transport: batched worker sockets, or node:dgram (with the reason). */
export type TransportSnapshot =
  | {
      kind: 'batched';
      workers: number;
      /** recvmmsg calls that returned datagrams, and those datagrams. */
      batches: number;
      datagrams: number;
      /** Datagrams the workers handed to the main thread (not plain client requests). */
      forwarded: number;
      sendErrors: number;
      /**
       * Idle cost: the workers' returns from poll (datagrams, a message, the once-a-second
       * timeout) and the main thread's publications of the clock line (absent from older daemons).
       */
      wakeups?: number;
      publishes?: number;
      /** Workers started again after they ended: an exception or a heap over its limit. */
      restarts?: number;
      /**
       * NTS requests the workers answered themselves (with an NTS server; the system's
       * `ntsServer*` in `extra` count these too).
       */
      nts?: { requests: number; responses: number; naks: number; rejected: number };
    }
  | { kind: 'node:dgram'; reason: string };
