/**
 * Contracts between the clocks (src/clock) and their users: the system process (src/system), the
 * simulator (src/sim) and the daemon (src/daemon).
 *
 * Everything is driven by a raw monotonic counter in nanoseconds (`RawTime`): the daemon reads
 * `process.hrtime.bigint()`, the simulator reads a simulated oscillator. A clock is a model that maps
 * counter values to UTC; steps and slews change the model, never the counter.
 */
import type { NtpTime } from '../time/ntp-time.js';

/** A reading of the raw monotonic counter, nanoseconds (nominal). */
export type RawTime = bigint;

/** A raw counter reading in seconds (nominal counter rate), for epochs and ages stored as numbers. */
export function rawSeconds(raw: RawTime): number {
  return Number(raw) / 1e9;
}

/** Seconds between two raw counter readings (a - b), nominal counter rate. */
export function rawDiffSeconds(a: RawTime, b: RawTime): number {
  return Number(a - b) / 1e9;
}

/** How the clock model changed. Modules that store NTP times subscribe so nothing goes stale. */
export type ClockChange =
  /**
   * The clock was stepped by `offset` seconds at counter value `raw` (new reading = old + offset),
   * for `reason` (e.g. "initial offset"), which the system logs.
   */
  | { kind: 'step'; raw: RawTime; offset: number; reason?: string }
  /** The frequency correction changed (slews are frequency changes over time; no stored value is stale). */
  | { kind: 'frequency'; raw: RawTime; ppm: number };

export type ClockListener = (change: ClockChange) => void;

/** The software clock: turns counter values into UTC. */
export interface LocalClock {
  /** Era-extended NTP time (2^-32 s units since 1900) at counter value `raw`. */
  read(raw: RawTime): NtpTime;
  /**
   * Bound on |clock error| in seconds at `raw`: root distance of the last update plus the local
   * dispersion growth (frequency tolerance × elapsed) since then. Infinity when never synchronised.
   */
  errorBound(raw: RawTime): number;
  /** Optional: the correction (s) taken but not yet applied to the reading at `raw` (a pending slew). */
  pendingSlew?(raw: RawTime): number;
  /** Current rate correction of the model relative to the counter, in ppm. */
  frequencyPpm(): number;
  /** Subscribe to model changes; returns an unsubscribe function. */
  onChange(listener: ClockListener): () => void;
}

/**
 * One complete, validated NTP exchange as raw material, for estimators that work on raw counter
 * timestamps (the feed-forward clock) and for the replay/trace format.
 * ta/tf: our counter when the request left / the response arrived (precise ones where interleaved).
 * tb/te: the server's receive / transmit timestamps (era-resolved NTP time).
 */
export interface RawExchange {
  sourceId: string;
  ta: RawTime;
  tb: NtpTime;
  te: NtpTime;
  tf: RawTime;
  /** Server's root delay / root dispersion (s) and stratum, from the response header. */
  rootDelay: number;
  rootDispersion: number;
  stratum: number;
}

/** The output of the mitigation chain handed to the discipline (RFC 5905 section 11.3, clock_update). */
export interface ClockSample {
  /** Counter value at which the offset was measured. */
  raw: RawTime;
  /** Combined offset, seconds: positive means our clock is behind (remote − local). */
  offset: number;
  /** System jitter, seconds. */
  jitter: number;
  /** Root delay / root dispersion of the path through the system peer, seconds (already including our hop). */
  rootDelay: number;
  rootDispersion: number;
  /** Poll exponent of the system peer. */
  poll: number;
  /** Identifier of the system peer (changes reset some estimators). */
  sourceId: string;
  /**
   * Counter value now, when the update is handed over (≥ raw; the filter's sample may be older).
   * Model changes are applied at this instant so that readings already handed out never change.
   * Optional: when absent the disciplines use the latest counter value they have seen.
   */
  now?: RawTime;
}

export type DisciplineResult =
  /** Offset too large but within panic: waiting for stepout before stepping (RFC 5905 SPIK state). */
  | { kind: 'spike' }
  /** Applied as a slew/frequency update. */
  | { kind: 'slew'; offset: number }
  /** Clock stepped by `offset` seconds, for `reason`. The system must reset associations' filters (RFC 5905 clear). */
  | { kind: 'step'; offset: number; reason?: string }
  /** Offset beyond the panic threshold: refuse; the host decides (log and exit, like ntpd). */
  | { kind: 'panic'; offset: number }
  /** Update ignored (older than the previous one, or feed-forward clock not using this path). */
  | { kind: 'ignored'; reason: string };

export interface DisciplineSnapshot {
  kind: 'rfc5905' | 'feedforward';
  /** Discipline state name, e.g. NSET, FSET, SPIK, FREQ, SYNC (RFC 5905) or WARMUP, TRACKING, FREEWHEEL. */
  state: string;
  /** Last applied offset (s). */
  offset: number;
  /** Frequency correction, ppm. */
  frequencyPpm: number;
  /** Clock jitter and frequency wander (RFC 5905), s and ppm. */
  jitter: number;
  wander: number;
  /** Poll exponent the discipline asks for. */
  poll: number;
  /** Feed-forward only: estimated counter period relative to nominal, minus 1, in ppm; min RTT; etc. */
  extra?: Record<string, number | string | boolean>;
}

/** A clock algorithm: RFC 5905 PLL/FLL or the feed-forward clock. Both own a LocalClock. */
export interface Discipline {
  readonly kind: 'rfc5905' | 'feedforward';
  readonly clock: LocalClock;
  /**
   * The clock follows the system peer's raw exchanges by itself (the feed-forward clock): an update it
   * ignores still makes the system peer our reference. Absent or false: only slews do.
   */
  readonly followsExchanges?: boolean;
  /** Every validated exchange of every source; `fromSystemPeer` marks the one the system follows. */
  exchange(x: RawExchange, fromSystemPeer: boolean): void;
  /** The mitigation chain's result (RFC 5905 clock_update). */
  update(sample: ClockSample): DisciplineResult;
  /** The poll exponent the discipline currently wants (RFC 5905 poll-adjust), within [minpoll, maxpoll]. */
  pollExponent(): number;
  snapshot(raw: RawTime): DisciplineSnapshot;
  /**
   * Optional: an offset measured at counter value `raw` (against the clock as it read then), referred
   * to counter value `at` through the corrections the discipline made to its clock in between (slews,
   * steps, frequency changes). The engine uses it to compare and combine the sources' filter outputs,
   * which are of different ages. Absent: offsets are used as measured.
   */
  offsetAt?(raw: RawTime, offset: number, at: RawTime): number;
  /**
   * Optional (`ntpkit makestep`, chrony's makestep): the part of the correction still being slewed
   * is stepped at `raw` at once, announced with `reason`. Returns the step in seconds (0: none pending).
   */
  makestep?(raw: RawTime, reason: string): number;
  /**
   * Optional: asked once an iburst has its first samples (their round-trip `delays`, s): how many of
   * its remaining requests to hold back for the source's first regular poll, `pollSeconds` later (sent
   * there as a burst: the same requests, later). Absent or 0: the whole iburst at once.
   */
  iburstHeld?(pollSeconds: number, delays: readonly number[]): number;
}
