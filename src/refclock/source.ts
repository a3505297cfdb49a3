/**
 * A reference clock as a source of the selection (chrony refclock.c, ntpd refclock_*.c): samples of
 * (counter value, reference time) come in from the host whenever the driver has one; every 2^poll s
 * the median filter turns those of the interval into one filtered sample, which the engine uses
 * like a network source's clock filter output (offset, delay, dispersion, jitter). A reference clock
 * is stratum 0, so the system becomes stratum 1 with the refclock's refid.
 *
 * Pulse sources (PPS) only mark the start of a second. Which second it is comes from the locked
 * refclock (`lock`, e.g. the NMEA or SHM time of the same GPS receiver) or, without a lock, from our
 * own clock while its error bound is below 0.4 s (chrony's rule).
 */
import { rootDistance } from '../algo/combine.js';
import { MAXDISP } from '../algo/constants.js';
import type { FilterOutput } from '../algo/filter.js';
import { type LocalClock, type RawTime, rawSeconds } from '../clock/types.js';
import { durationToSeconds, MASK32 } from '../time/ntp-time.js';
import { type FilteredSample, MedianFilter, type RefSample } from './filter.js';
import type { RefclockConfig, RefclockSample } from './types.js';

/** Why a sample was not accepted (stable codes, counted per source). */
export type RefclockReject =
  /** Not a finite offset or a counter value not after the previous sample. */
  | 'invalid'
  /** The reference says it is not synchronised (leap 3). */
  | 'unsynchronised'
  /** A pulse with a lock but the locked refclock has no recent sample. */
  | 'no-lock-sample'
  /** A pulse whose offset does not match the locked refclock's within 0.2 s. */
  | 'lock-mismatch'
  /** A pulse without a lock while our clock's error bound is 0.4 s or more. */
  | 'clock-unsynchronised'
  /** A pulse for a refclock configured without `pulse` (or the other way round). */
  | 'wrong-kind';

export type SampleResult = { ok: true; offset: number } | { ok: false; reason: RefclockReject };

/** What a pulse needs from the refclock it is locked to. */
export interface LockReference {
  /** The locked refclock's newest sample. */
  sample: RefSample | undefined;
  /** Its driver poll interval (s): a lock sample older than twice that is stale. */
  interval: number;
}

/** Largest |pulse offset − lock offset| + dispersions accepted (s), as in chrony. */
export const LOCK_LIMIT = 0.2;
/** Our clock's error bound below which a pulse is numbered by our own clock (s). */
export const PULSE_CLOCK_LIMIT = 0.4;
/** Outputs remembered for snapshots. */
const HISTORY = 8;

export interface RefclockHistoryEntry extends FilteredSample {
  /** The output as used (dispersion and jitter included). */
  epoch: number;
}

export class RefclockSource {
  readonly id: string;
  readonly cfg: RefclockConfig;
  readonly filter: MedianFilter;
  /** Reachability register: a bit per poll, set when the poll had at least one good sample. */
  reach = 0;
  /** Counter value of the next poll, null before start. */
  nextPoll: RawTime | null = null;
  /** Counter value of the newest accepted sample. */
  lastValid: RawTime | null = null;
  /** Epoch (raw seconds) of the newest filtered sample handed to the selection. */
  selectEpoch = Number.NEGATIVE_INFINITY;
  leap = 0;
  readonly rootDelay = 0;
  readonly rootDispersion = 0;
  samplesAccepted = 0;
  readonly rejected: Record<string, number> = {};
  /** Newest first. */
  readonly history: RefclockHistoryEntry[] = [];
  private out: FilterOutput | null = null;
  private newest: RefSample | undefined;

  constructor(id: string, cfg: RefclockConfig) {
    this.id = id;
    this.cfg = { ...cfg };
    this.filter = new MedianFilter(cfg.filter, cfg.keep, cfg.precision);
  }

  get stratum(): number {
    return this.cfg.stratum;
  }

  /** Poll exponent (the system process sees it as the host poll). */
  get hpoll(): number {
    return this.cfg.poll;
  }

  /** Interval between polls in ns. */
  private intervalNs(): bigint {
    return BigInt(Math.round(2 ** this.cfg.poll * 1e9));
  }

  start(raw: RawTime): void {
    this.nextPoll = raw + this.intervalNs();
  }

  /** The newest accepted sample (what a pulse refclock locked to this one uses). */
  lastSample(): RefSample | undefined {
    return this.newest;
  }

  /** Interval at which the host reads the driver (s). */
  driverInterval(): number {
    return 2 ** this.cfg.dpoll;
  }

  private reject(reason: RefclockReject): SampleResult {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    return { ok: false, reason };
  }

  /**
   * Adds one sample. `clock` is the engine's clock; `lock` is given for a pulse refclock with `lock`.
   * Never throws: a bad sample is counted under its reason and dropped.
   */
  addSample(s: RefclockSample, clock: LocalClock, lock: LockReference | null): SampleResult {
    const leap = s.leap ?? 0;
    if (leap === 3 || !Number.isInteger(leap) || leap < 0 || leap > 3) return this.reject('unsynchronised');
    if ((s.reference === null) !== this.cfg.pulse) return this.reject('wrong-kind');
    if (this.newest !== undefined && s.raw <= this.newest.raw) return this.reject('invalid');
    const local = clock.read(s.raw);
    const extra = s.dispersion !== undefined && Number.isFinite(s.dispersion) ? Math.max(0, s.dispersion) : 0;
    const dispersion = Math.max(this.cfg.precision, extra);
    let offset: number;
    if (s.reference !== null) {
      offset = durationToSeconds(s.reference - local) + this.cfg.offset;
    } else {
      // Phase of our clock at the pulse; the pulse is the start of a second (+ the configured offset).
      const phase = Number(local & MASK32) / 2 ** 32;
      offset = this.cfg.offset - phase;
      offset -= Math.round(offset);
      if (this.cfg.lock !== undefined) {
        const ref = lock?.sample;
        if (ref === undefined) return this.reject('no-lock-sample');
        const age = rawSeconds(s.raw) - rawSeconds(ref.raw);
        if (lock === null || Math.abs(age) > 2 * lock.interval + 1) return this.reject('no-lock-sample');
        offset += Math.round(ref.offset - offset);
        if (Math.abs(ref.offset - offset) + ref.dispersion + dispersion >= LOCK_LIMIT)
          return this.reject('lock-mismatch');
      } else if (!(clock.errorBound(s.raw) < PULSE_CLOCK_LIMIT)) {
        return this.reject('clock-unsynchronised');
      }
    }
    if (!Number.isFinite(offset)) return this.reject('invalid');
    const sample: RefSample = { raw: s.raw, offset, dispersion, leap };
    this.filter.add(sample);
    this.newest = sample;
    this.lastValid = s.raw;
    this.samplesAccepted++;
    return { ok: true, offset };
  }

  /**
   * The poll: filters what was collected since the last one. Returns true when a new filtered sample
   * is ready for the selection.
   */
  poll(raw: RawTime): boolean {
    const interval = this.intervalNs();
    if (this.nextPoll === null) this.nextPoll = raw;
    while (this.nextPoll <= raw) this.nextPoll += interval;
    const f = this.filter.compute();
    this.filter.clear();
    if (f === null || f.dispersion > this.cfg.maxDispersion) {
      if (f !== null) this.rejected['max-dispersion'] = (this.rejected['max-dispersion'] ?? 0) + 1;
      this.reach = (this.reach << 1) & 0xff;
      return false;
    }
    this.reach = ((this.reach << 1) | 1) & 0xff;
    const epoch = rawSeconds(f.raw);
    this.out = {
      offset: f.offset,
      delay: this.cfg.delay,
      dispersion: f.dispersion,
      jitter: f.jitter,
      epoch,
      raw: f.raw,
    };
    this.leap = f.leap;
    this.selectEpoch = epoch;
    this.history.unshift({ ...f, epoch });
    if (this.history.length > HISTORY) this.history.length = HISTORY;
    return true;
  }

  /** The latest filtered sample, as a clock filter output. */
  output(): FilterOutput | null {
    return this.out;
  }

  /** Root distance: delay/2 + dispersion + jitter + PHI·age (RFC 5905 root_dist() with zero root values). */
  rootDistance(raw: RawTime): number {
    const o = this.out;
    if (o === null) return MAXDISP;
    return rootDistance({
      rootDelay: 0,
      delay: o.delay,
      rootDispersion: 0,
      dispersion: o.dispersion,
      jitter: o.jitter,
      age: rawSeconds(raw) - o.epoch,
    });
  }

  /** After a clock step every stored offset is stale. */
  clearAfterStep(_raw: RawTime): void {
    this.filter.clear();
    this.out = null;
    this.newest = undefined;
    this.selectEpoch = Number.NEGATIVE_INFINITY;
  }
}
