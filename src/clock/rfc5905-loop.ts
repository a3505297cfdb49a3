/** The RFC 5905 discipline's loop filter: its phase time constant, the least-squares FLL's points, and what the poll adaptation is given. */
import { durationToSeconds, type NtpTime, secondsToDuration } from '../time/ntp-time.js';
import type { SlewMode } from './history.js';
import { addPoint, type Fit, newFit, offLine, slope, type WeightedPoint, weightedLine } from './lsfit.js';
import { WANDER } from './peer-exchanges.js';
import { ALLAN, FLL_MAX_POINTS, FLL_POINTS, HOLD_SLEW, SPLIT_SLEW } from './rfc5905-params.js';
import type { RawTime } from './types.js';

/**
 * Phase time constant (s) at poll exponent `poll`. The RFC's PLL·2^poll (`pll` the gain) until the
 * noise σ² of the system peer's exchanges is known (`noise`, NaN before); then the one that balances
 * it against the counter's wander: T = (σ²·2^poll/(3q²))^¼ (noise averaged over T/2^poll updates
 * against a random walk q²T³), within [1, 16] polls. `theta2` is the mean square offset.
 */
export function timeConstant(poll: number, noise: number, theta2: number, pll: number): number {
  const pollS = 2 ** poll;
  if (!Number.isFinite(noise)) return pll * Math.min(pollS, ALLAN);
  const t = ((noise * pollS) / (3 * WANDER * WANDER)) ** 0.25;
  // At polls beyond half the Allan intercept a mean square offset above the exchanges' noise is the
  // clock's own error (wander, a start-up transient): corrected with the gain a Kalman filter would
  // give it, err²/(err² + noise). (At shorter polls θ² over a few updates is mostly noise.)
  if (pollS <= ALLAN / 2) return Math.min(16 * pollS, Math.max(pollS, t));
  const excess = theta2 - noise;
  const gain = excess > 0 ? excess / (excess + noise) : 0;
  const fast = pollS / Math.max(gain, 1 / 16);
  return Math.min(16 * pollS, Math.max(pollS, Math.min(t, fast)));
}

/** The least-squares FLL's points: true time at the last updates in SYNC (at least half the Allan intercept's worth), weighted by their queueing. */
export class FllPoints {
  private readonly pts: WeightedPoint[] = [];

  /**
   * Adds an update; the slope of true time against the counter over the last ones (null with too
   * few). `tau` is the phase time constant (s); points before `since` are dropped (a step of the
   * source in FREQ: they are on its old timescale).
   */
  push(raw: RawTime, time: NtpTime, w: number, tau = 0, since: RawTime | null = null): number | null {
    const pts = this.pts;
    while (since !== null && pts.length > 0 && (pts[0]?.raw ?? raw) < since) pts.shift();
    pts.push({ raw, time, w });
    // At least the last FLL_POINTS updates, and as many more as cover half the Allan intercept or one
    // time constant: at short polls eight updates span seconds, and their slope is noise (±100 ppm at
    // 1 s polls over a WAN). (Against a random walk alone the slope's noise over a span S of updates
    // every τ s, 12σ²τ/S³, balances the wander's q²S at about 2.5 time constants, wan at 64 s: RMS
    // 143 → 125 µs with two; but a follower of a parent whose frequency swings by ±2 ppm over 2 h
    // then lags it by 1.2 ms, scenarios/orphan.toml.)
    const window = Math.max(ALLAN / 2, tau);
    const span = (p: WeightedPoint | undefined) => (p === undefined ? 0 : Number(raw - p.raw) / 1e9);
    while (pts.length > FLL_POINTS && (span(pts[1]) >= window || pts.length > FLL_MAX_POINTS)) pts.shift();
    return pts.length < 4 ? null : (weightedLine(pts)?.slope ?? null);
  }

  /** Forgets the points (after a step they are on the old timescale). */
  clear(): void {
    this.pts.length = 0;
  }
}

/**
 * The FREQ state's frequency measurement: a least-squares fit of true time against the counter over
 * its updates. True time that moved beyond the step threshold from what the rate explains (a known
 * rate within 100 ppm, an unknown one up to twice the tolerance) means the source stepped: the fit
 * restarts on its new timescale and `jumped` is set.
 */
export class FreqMeasurement {
  private fit: Fit | null = null;
  private last: { raw: RawTime; time: NtpTime } | null = null;
  /** The fit's points with their round-trip delays (the phase estimate weights them by queueing). */
  private readonly pts: DelayPoint[] = [];
  jumped = false;
  /** Counter value of the last restart at a step of the source (null: none while measuring). */
  since: RawTime | null = null;

  start(raw: RawTime, time: NtpTime, delay = 0): void {
    this.fit = newFit(raw, time);
    this.last = { raw, time };
    this.pts.length = 0;
    this.pts.push({ raw, time, delay });
    this.jumped = false;
    this.since = null;
  }

  stop(): void {
    this.fit = null;
    this.last = null;
    this.pts.length = 0;
    this.since = null;
  }

  /**
   * True time at `raw` on the line through the updates so far, each weighted by its queueing
   * (1/(E + e0)², E its delay above the minimum): the start-up's phase estimate, averaged over every
   * update instead of taken from the last one. Null with fewer than three points or under 4 s.
   */
  lineAt(raw: RawTime): NtpTime | null {
    const pts = this.pts;
    const first = pts[0];
    const lastP = pts[pts.length - 1];
    if (first === undefined || lastP === undefined || pts.length < 3) return null;
    if (Number(lastP.raw - first.raw) / 1e9 < 4) return null;
    let min = Number.POSITIVE_INFINITY;
    for (const p of pts) min = Math.min(min, p.delay);
    const es = pts.map((p) => p.delay - min).sort((a, b) => a - b);
    const e0 = Math.max(0.1, 0.7 / Math.sqrt(pts.length)) * (es[es.length >> 1] ?? 0) + 1e-6;
    let sw = 0;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (const p of pts) {
      const w = 1 / (p.delay - min + e0) ** 2;
      const x = Number(p.raw - first.raw) / 1e9;
      const y = durationToSeconds(p.time - first.time) - x;
      sw += w;
      sx += w * x;
      sy += w * y;
      sxx += w * x * x;
      sxy += w * x * y;
    }
    const d = sw * sxx - sx * sx;
    if (!(d > 0)) return null;
    const b = (sw * sxy - sx * sy) / d;
    const a = (sy - b * sx) / sw;
    const x = Number(raw - first.raw) / 1e9;
    return first.time + secondsToDuration(x + a + b * x);
  }

  /** `stept`: the step threshold (s); `maxfreq`: the frequency tolerance (s/s). */
  constructor(
    private readonly stept: number,
    private readonly maxfreq: number,
  ) {}

  /**
   * Adds an update, `delay` its round-trip delay (s); `known` is the rate correction measured (s/s),
   * if any, else `rate` the best one known. True when the source stepped (the fit restarted).
   */
  add(raw: RawTime, time: NtpTime, known: number | null, rate: number, delay = 0): boolean {
    const last = this.last;
    this.last = { raw, time };
    if (this.fit === null) return false;
    if (last !== null) {
      const { off, dx } = offLine(last.raw, last.time, raw, time, known ?? rate);
      if (Math.abs(off) > this.stept + (known !== null ? 100e-6 : 2 * this.maxfreq) * dx) {
        this.fit = newFit(raw, time);
        this.pts.length = 0;
        this.pts.push({ raw, time, delay });
        this.jumped = true;
        this.since = raw;
        return true;
      }
    }
    addPoint(this.fit, raw, time);
    this.pts.push({ raw, time, delay });
    if (this.pts.length > FLL_MAX_POINTS) this.pts.shift();
    return false;
  }

  /** The frequency measured (null with fewer than two updates since the start or the last step). */
  slope(): number | null {
    return slope(this.fit, 2);
  }
}

interface DelayPoint {
  raw: RawTime;
  time: NtpTime;
  delay: number;
}

/** What one update gives the poll adaptation (`PollAdapter.sample`). */
export interface PollSample {
  /** The offset is within what the path explains (no trouble). */
  rising: boolean;
  distance: number;
  samples: number;
}

/**
 * The offsets are the prediction errors: the estimate holds 1 + R/P samples' worth, R a median
 * exchange's noise (`noise`, NaN before: a third of the half delay squared), P = mean θ² − R. An
 * offset beyond half the delay is trouble.
 */
export function pollSample(
  theta: number,
  theta2: number,
  noise: number,
  rootDelay: number,
  precision: number,
): PollSample {
  const r = Number.isFinite(noise) ? noise : (rootDelay / 2) ** 2 / 3;
  const samples = 1 + r / Math.max(theta2 - r, r / 64, 1e-18);
  const distance = rootDelay / 2 + precision;
  return { rising: !(Math.abs(theta) > distance), distance, samples };
}

/**
 * The startup hold's slew of `offset` (s) while the frequency correction is `freq` (s/s): with PLL/2 s,
 * the slew plus `freq` within HOLD_SLEW tolerances (beyond, linear at that bound). After an iburst split
 * (`split`) a larger offset (the first regular poll's, tens of ms) goes linear within about a second,
 * at most SPLIT_SLEW: the clock is our own, and the frequency is known by then.
 */
export function holdSlew(
  offset: number,
  freq: number,
  maxfreq: number,
  pll: number,
  split: boolean,
): SlewMode {
  const tau = pll / 2;
  const rate = Math.max(HOLD_SLEW * maxfreq - Math.sign(offset) * freq, maxfreq / 10);
  if (!(Math.abs(offset) > rate * tau)) return { kind: 'exp', tau };
  return { kind: 'linear', rate: split ? Math.min(SPLIT_SLEW, Math.max(rate, Math.abs(offset))) : rate };
}

/** `raw`, or the latest of the later counter values given (a model change never goes back in time). */
export function notBefore(raw: RawTime, ...later: (RawTime | null)[]): RawTime {
  let at = raw;
  for (const l of later) if (l !== null && at < l) at = l;
  return at;
}
