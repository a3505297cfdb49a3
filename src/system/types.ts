/**
 * Contracts of the sans-IO protocol engine. The host (daemon or simulator) owns sockets and the one
 * timer; the engine owns every decision.
 *
 *   host                                  engine (NtpSystem)
 *   ----                                  ------------------
 *   packet arrives (bytes, from, raw) --> handlePacket()   --> Action[]
 *   timer fires (raw)                 --> handleTimer()    --> Action[]
 *   a sent packet has left (raw)      --> handleTransmitted() --> Action[]   (precise tx stamp, interleaved)
 *   config change                     --> addSource()/removeSource() --> Action[]
 *   monitoring                        --> snapshot(raw)
 *
 * Time comes in only as raw counter values; the engine reads UTC through its Discipline's LocalClock.
 * Randomness comes in through `deps.random`, cryptography through `deps.crypto`.
 */

import type { BroadcastConfig, SourceConfig, SymmetricKey } from '../assoc/config.js';
import type { AssocEvent } from '../assoc/types.js';
import type { Discipline, RawTime } from '../clock/types.js';
import type { CryptoProvider } from '../wire/crypto.js';
import type { LeapPendingSnapshot, SystemSnapshot } from './snapshot.js';

export type { BroadcastConfig, DigestType, SourceConfig, SourceMode, SymmetricKey } from '../assoc/config.js';
export type { AssocEvent } from '../assoc/types.js';
export type { LeapPendingSnapshot };

/** A transport address. `address` is IPv4 dotted quad or IPv6 text without brackets. */
export interface Endpoint {
  address: string;
  port: number;
}

export type Action =
  /**
   * Send `bytes` to `to` (from the local endpoint `from` when given; port 0 there means the host's
   * usual port for that address: an association sends from the address its peer's packets came to).
   * When `txId` is set, the host must call
   * `handleTransmitted(txId, raw)` with the counter read as soon as the packet has left
   * (in the send callback): that is the precise transmit timestamp used by the interleaved modes.
   * When `transmitAt` is set (unauthenticated basic-mode server responses), the host should write
   * its clock's reading, as an NTP timestamp, at that byte offset just before handing the datagram
   * to the socket: the transmit timestamp is then late rather than early by the processing time.
   */
  | { kind: 'send'; to: Endpoint; from?: Endpoint; bytes: Uint8Array; txId?: number; transmitAt?: number }
  /** The engine wants `handleTimer` to be called at (or soon after) counter value `at`. Replaces any earlier request. */
  | { kind: 'timer'; at: RawTime }
  /** Something observers may want to log or count. */
  | { kind: 'event'; event: SystemEvent };

/** What the engine reports: the associations' events (`AssocEvent`) and the system's own. */
export type SystemEvent =
  | AssocEvent
  | { kind: 'source-added'; sourceId: string }
  | { kind: 'source-removed'; sourceId: string; reason: string }
  | { kind: 'sys-peer'; sourceId: string | null }
  /**
   * The clock was stepped by `offset` s (any step of the discipline's clock), with the discipline's
   * words (`reason`) and their kind (`cause`): 'startup' before the first synchronisation, 'offset'
   * (beyond the step threshold) after it, 'leap' for a leap second carried out in step mode.
   */
  | { kind: 'clock-step'; offset: number; reason: string; cause: StepCause }
  /**
   * A slew of at least `LARGE_SLEW` s started (after updates below it): `offset` s being corrected
   * gradually. Once per large correction, not per update.
   */
  | { kind: 'clock-slew'; offset: number; sourceId: string }
  | { kind: 'clock-panic'; offset: number }
  /** The announcement changed (src/system/announce.ts); `reason`: why not synchronised. */
  | { kind: 'sync'; synchronised: boolean; reason?: string }
  /**
   * The sources showed the served time `offset` s off, beyond the root distance `distance` s that was
   * announced: the system announces unsynchronised until the clock is corrected (counted in the snapshot).
   */
  | { kind: 'served-time-violation'; offset: number; distance: number }
  /**
   * Leap seconds: a leap 'scheduled', 'cancelled' or 'executed', the leap-second list expired
   * ('list-expired'), smearing announced ('smear'); `message` is the log line.
   */
  | {
      kind: 'leap';
      action: 'scheduled' | 'cancelled' | 'executed' | 'list-expired' | 'smear';
      message: string;
      pending?: LeapPendingSnapshot;
    }
  /** Orphan mode (`[local] orphan`) entered or left; `message` is the log line. */
  | { kind: 'orphan'; active: boolean; message: string };

/** Why the clock was stepped (the `clock-step` event). */
export type StepCause = 'startup' | 'offset' | 'leap';
/** The kinds of engine event (the counters of `SystemSnapshot.events` are keyed by them). */
export type SystemEventKind = SystemEvent['kind'];

export interface SystemConfig {
  /** Minimum number of survivors for the selection to succeed (RFC 5905 MINSANE, chrony minsources). Default 1. */
  minSane: number;
  /** Minimum survivors kept by the cluster algorithm (RFC 5905 MINCLOCK). Default 3. */
  minClock: number;
  /** Maximum number of sources (RFC 5905 MAXCLOCK). Default 10. */
  maxClock: number;
  /** Root distance threshold (s) above which a source is not selectable (RFC 5905 MAXDIST). Default 1.5. */
  maxDistance: number;
  /**
   * Sources whose jitter (s) is above this are unselectable, marked `jittery` (chrony maxjitter).
   * Default 1.
   */
  maxJitter: number;
  /** Sources at or above this stratum are unselectable (MAXSTRAT). Default 16. */
  maxStratum: number;
  /** When set, serve as this stratum with no selectable source (chrony `local stratum N`). */
  localStratum: number | null;
  /** Precision of our clock readings, log2 s (e.g. -20). */
  precision: number;
  /** Huff-n'-puff window in seconds (0 = off). */
  huffPuff: number;
  /** Accept symmetric-active packets from unconfigured peers (mobilise passive associations). */
  allowPassive: boolean;
  /** Accept mode-5 broadcasts from unconfigured servers (broadcast client mobilisation). */
  broadcastClient: boolean;
  /** Require authentication for mobilising passive/broadcast associations. */
  requireAuthForMobilise: boolean;
  /** Number of client entries in the interleaved-server timestamp table (fixed memory). */
  interleavedTableSize: number;
  keys: SymmetricKey[];
  broadcast: BroadcastConfig[];
  /** How a leap second is carried out (`[clock] leap-mode`, default 'step'). */
  leapMode?: 'step' | 'slew' | 'smear' | 'ignore';
  /** Smear window, s (`[clock] leap-smear-window`, default 86400: noon to noon UTC). */
  leapSmearWindow?: number;
  /** Orphan mode (`[local] orphan = STRATUM`, ntpd's `tos orphan`): null or absent = off. */
  orphanStratum?: number | null;
}

export interface SystemDeps {
  discipline: Discipline;
  /** Uniform random in [0, 1). Seeded in the simulator. */
  random: () => number;
  /**
   * Cryptographically strong random bytes (NTS unique identifiers, nonces, cookies). Default: bytes
   * drawn from `random` (fine for the simulator, not for a real NTS deployment).
   */
  randomBytes?: (n: number) => Uint8Array;
  /** Digests, AES-CMAC and AEADs (MACs, NTS, IPv6 reference IDs); the host's, e.g. src/io/crypto.ts. */
  crypto: CryptoProvider;
}

/** The engine, as the host sees it. Implemented in src/system/system.ts. */
export interface NtpEngine {
  /** Start: returns the first timer (and iburst sends when due). */
  start(raw: RawTime): Action[];
  /**
   * A received datagram (any mode except 6, which the host routes to the control handler). `raw`:
   * when it arrived (the kernel's stamp where available); `now`: the counter as the host hands it
   * over (≥ raw), which a server answer uses as its basic-mode transmit timestamp. Default: raw.
   */
  handlePacket(raw: RawTime, bytes: Uint8Array, from: Endpoint, to?: Endpoint, now?: RawTime): Action[];
  handleTimer(raw: RawTime): Action[];
  handleTransmitted(txId: number, raw: RawTime): Action[];
  addSource(raw: RawTime, cfg: SourceConfig): { id: string; actions: Action[] };
  removeSource(raw: RawTime, id: string): Action[];
  snapshot(raw: RawTime): SystemSnapshot;
}
