/** The RFC 5905 discipline's view of the system peer's raw exchanges: their queueing, their weight as updates, and the polls they missed. */
import { durationToSeconds, type NtpTime } from '../time/ntp-time.js';
import type { RawExchange, RawTime } from './types.js';

/** Delays of the system peer's last exchanges kept (the minimum and median come from them). */
const DELAY_WINDOW = 8;
/** Random-walk frequency noise assumed (s/s per √s): how fast an estimate ages. */
export const WANDER = 1e-9;

/** One exchange as the discipline sees it. */
export interface PeerExchange {
  /** Round-trip delay (s), and the weight of its offset as an update (0–1). */
  delay: number;
  weight: number;
  /** The weight its queueing gives it, also when `full` (the start-up's phase corrections use it). */
  queueWeight: number;
  /** Polls missed since the previous exchange of the source. */
  missed: number;
  /** Variance of its offset error from its queueing alone, (E + e0)²/12 (s²). */
  queueVar: number;
  /** The part of its offset one-sided queueing explains (s, 0 on a path not found one-sided: `OneSided`). */
  asymmetry: number;
}

/** An exchange's offset (s) against the clock as `readAt` reads it at the counter values of its timestamps. */
export function exchangeOffset(x: RawExchange, readAt: (raw: RawTime) => NtpTime): number {
  return (durationToSeconds(x.tb - readAt(x.ta)) + durationToSeconds(x.te - readAt(x.tf))) / 2;
}

export class PeerExchanges {
  private readonly delays: number[] = [];
  private source = '';
  private last: RawTime | null = null;
  /** Mean offset variance of the recent exchanges (s²): what a measured offset adds to the prediction error. */
  noise = Number.NaN;
  private readonly oneSided = new OneSided();

  /**
   * Notes an exchange of the system peer. Its offset error is within ±E/2, E its queueing (delay
   * above the minimum of the last ones), so it is weighted w = V/(V + (E + e0)²/12): V that of a
   * median exchange plus what the clock may have wandered in `sinceUpdate` seconds, or the mean square
   * prediction error `excess` the clock shows (a transient) if larger. `poll` is the current poll
   * interval (s); `full` gives every exchange weight 1 (start-up). `measured` is its offset from SYNC
   * on (NaN before: the first offsets follow the start-up transient, not the queueing).
   */
  add(
    x: RawExchange,
    sinceUpdate: number,
    poll: number,
    full: boolean,
    excess = 0,
    measured = Number.NaN,
  ): PeerExchange {
    const delay = Math.max(0, Number(x.tf - x.ta) / 1e9 - durationToSeconds(x.te - x.tb));
    if (x.sourceId !== this.source) {
      this.delays.length = 0;
      this.last = null;
      this.oneSided.reset();
    }
    const asymmetry = this.oneSided.add(Number(x.tf) / 1e9, measured, delay);
    this.source = x.sourceId;
    const missed =
      this.last === null ? 0 : Math.max(0, Math.round(Number(x.tf - this.last) / 1e9 / poll) - 1);
    this.last = x.tf;
    this.delays.push(delay);
    if (this.delays.length > DELAY_WINDOW) this.delays.shift();
    const sorted = [...this.delays].sort((p, q) => p - q);
    const min = sorted[0] ?? delay;
    const med = (sorted[(sorted.length - 1) >> 1] ?? delay) - min;
    const e0 = 0.1 * med + 1e-6;
    const mu = Math.max(0, sinceUpdate);
    const v = Math.max((med + e0) ** 2 / 12 + (WANDER * WANDER * mu * mu * mu) / 3, excess);
    let nv = 0;
    for (const d of this.delays) nv += (d - min + e0) ** 2 / 12;
    this.noise = nv / this.delays.length;
    const queueWeight = v / (v + (delay - min + e0) ** 2 / 12);
    return {
      delay,
      weight: full ? 1 : queueWeight,
      queueWeight,
      missed,
      queueVar: (delay - min + e0) ** 2 / 12,
      asymmetry,
    };
  }
}

/** Pairs of consecutive exchanges the slope forgets over (exponentially), and the fewest it needs. */
const ONE_SIDED_PAIRS = 64;
const ONE_SIDED_MIN_PAIRS = 32;
/**
 * A slope counts beyond ±0.4 (queueing mostly on one side) and SLOPE_Z standard errors from zero, and
 * when the pairs agree on its sign by SIGN_AGREE (weighted by their queueing change) and SIGN_Z
 * standard errors: queueing on one side of a symmetric path at a time makes every single pair's slope
 * ±0.5, so the few most queued ones dominate a least-squares slope (loss30 at 64 s, seed 35: 0.42 at
 * six standard errors); on a one-sided path nearly all agree.
 */
const SLOPE_MIN = 0.4;
const SLOPE_Z = 6;
const SIGN_AGREE = 0.6;
const SIGN_Z = 4;
/** How long (s) the least delay is remembered as the path's floor: a rise of the queued side's base delay within it is queueing. */
const FLOOR_SPAN = 4096;
/**
 * The share of k·(delay − floor) taken out of each offset. The offset error of one-sided exponential
 * queueing is near zero for small queueing and −E/2 plus the other side's mean for large: k·E over-
 * corrects the least queued exchanges the weights favour and under-corrects the rest; 0.75 puts the
 * mean error of both one-sided scenarios within ±42 µs over seeds 1–40 (seeds 1–5 with 0.7: −58 to
 * −65 µs with the level shifts; with 0.8: +72 to +77 µs without).
 */
const ONE_SIDED_SHARE = 0.75;

/**
 * One-sided queueing of the system peer's path (the feed-forward clock and chrony estimate the same
 * asymmetry): the slope k of offset changes against delay changes between consecutive exchanges is
 * −0.5 when all queueing is on the reply side (+0.5 request side), near 0 when both queue alike.
 * Weighting by the queueing alone then leaves the mean error at a weighted mean of −E/2: ntpd's
 * minimum of eight still sits −130 µs off in `scenarios/one-sided.toml`, every exchange weighted by
 * its queueing −750 µs. Once the slope is found, that part of each offset is taken out, measured from
 * the least delay of the last FLOOR_SPAN s (a level shift of the queued side is then queueing too).
 */
export class OneSided {
  private sxx = 0;
  private sxy = 0;
  private syy = 0;
  private n = 0;
  private su = 0;
  private su2 = 0;
  private sus = 0;
  private prev: { theta: number; delay: number } | null = null;
  /** (time, delay) with increasing delays: the first is the least of the last FLOOR_SPAN s. */
  private floor: Array<[number, number]> = [];

  reset(): void {
    this.sxx = this.sxy = this.syy = this.n = this.su = this.su2 = this.sus = 0;
    this.prev = null;
    this.floor = [];
  }

  /** Adds an exchange at time `t` (s) with offset `theta` (NaN: not counted) and `delay`; returns the part of its offset one-sided queueing explains. */
  add(t: number, theta: number, delay: number): number {
    const fl = this.floor;
    while (fl.length > 0 && (fl[fl.length - 1]?.[1] ?? 0) >= delay) fl.pop();
    fl.push([t, delay]);
    while ((fl[0]?.[0] ?? t) < t - FLOOR_SPAN) fl.shift();
    const p = this.prev;
    this.prev = Number.isFinite(theta) ? { theta, delay } : null;
    if (p !== null && this.prev !== null) {
      const dx = delay - p.delay;
      const dy = theta - p.theta;
      const f = 1 - 1 / ONE_SIDED_PAIRS;
      const u = Math.abs(dx);
      this.sxx = this.sxx * f + dx * dx;
      this.sxy = this.sxy * f + dx * dy;
      this.syy = this.syy * f + dy * dy;
      this.n = this.n * f + 1;
      this.su = this.su * f + u;
      this.su2 = this.su2 * f + u * u;
      this.sus = this.sus * f + u * Math.sign(dx * dy);
    }
    const k = this.slope();
    return k === 0 ? 0 : ONE_SIDED_SHARE * k * (delay - (fl[0]?.[1] ?? delay));
  }

  /** The slope k, within ±0.5; 0 unless the path is found one-sided. */
  slope(): number {
    if (this.n < ONE_SIDED_MIN_PAIRS || !(this.sxx > 0) || !(this.su > 0)) return 0;
    const k = this.sxy / this.sxx;
    const se2 = Math.max(0, this.syy - k * this.sxy) / (this.n - 2) / this.sxx;
    if (Math.abs(k) < SLOPE_MIN || k * k < SLOPE_Z * SLOPE_Z * se2) return 0;
    // The sign test: agreement a of the pairs (weights u), over its standard error 1/√(effective pairs).
    const a = this.sus / this.su;
    const pairs = (this.su * this.su) / this.su2;
    if (a * k < 0 || Math.abs(a) < SIGN_AGREE || Math.abs(a) * Math.sqrt(pairs) < SIGN_Z) return 0;
    return Math.max(-0.5, Math.min(0.5, k));
  }
}

/**
 * The exchanges of one burst (seconds apart: the same phase) combined by their queueing, as a Kalman
 * filter without dynamics: each moves the correction still pending by its share of the variance. The
 * RFC 5905 clock's start-up after an iburst split (src/clock/iburst-split.ts): otherwise each one
 * replaces the pending slew by its own offset, and the last of the burst, not the least queued, sets
 * the phase.
 */
export class BurstPhase {
  private v = 0;

  /**
   * The offset to hand on for an exchange measuring `measured` while `pending()` is still to be slewed;
   * null outside a burst (or for its first exchange: its own offset, weighted as usual).
   */
  offset(inBurst: boolean, queueVar: number, measured: number, pending: () => number): number | null {
    if (!inBurst || !(this.v > 0)) {
      this.v = queueVar;
      return null;
    }
    const w = this.v / (this.v + queueVar);
    this.v = (this.v * queueVar) / (this.v + queueVar);
    const p = pending();
    return p + w * (measured - p);
  }
}
