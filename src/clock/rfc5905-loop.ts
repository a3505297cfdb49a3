/** The RFC 5905 discipline's loop filter: its phase time constant, the least-squares FLL's points, and what the poll adaptation is given. */
import type { NtpTime } from '../time/ntp-time.js';
import { addPoint, type Fit, newFit, offLine, slope, type WeightedPoint, weightedLine } from './lsfit.js';
import { WANDER } from './peer-exchanges.js';
import { ALLAN, FLL_MAX_POINTS, FLL_POINTS } from './rfc5905-params.js';
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

  /** Adds an update; the slope of true time against the counter over the last ones (null with too few). */
  push(raw: RawTime, time: NtpTime, w: number): number | null {
    const pts = this.pts;
    pts.push({ raw, time, w });
    // At least the last FLL_POINTS updates, and as many more as cover half the Allan intercept: at short
    // polls eight updates span seconds, and their slope is noise (±100 ppm at 1 s polls over a WAN).
    const span = (p: WeightedPoint | undefined) => (p === undefined ? 0 : Number(raw - p.raw) / 1e9);
    while (pts.length > FLL_POINTS && (span(pts[1]) >= ALLAN / 2 || pts.length > FLL_MAX_POINTS)) pts.shift();
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
  jumped = false;

  start(raw: RawTime, time: NtpTime): void {
    this.fit = newFit(raw, time);
    this.last = { raw, time };
    this.jumped = false;
  }

  stop(): void {
    this.fit = null;
    this.last = null;
  }

  /** Adds an update; `rate` is the best rate correction known (s/s), `known` whether it was measured. */
  add(raw: RawTime, time: NtpTime, rate: number, known: boolean, stept: number, maxfreq: number): void {
    const last = this.last;
    this.last = { raw, time };
    if (this.fit === null) return;
    if (last !== null) {
      const { off, dx } = offLine(last.raw, last.time, raw, time, rate);
      if (Math.abs(off) > stept + (known ? 100e-6 : 2 * maxfreq) * dx) {
        this.fit = newFit(raw, time);
        this.jumped = true;
        return;
      }
    }
    addPoint(this.fit, raw, time);
  }

  /** The frequency measured (null with fewer than two updates since the start or the last step). */
  slope(): number | null {
    return slope(this.fit, 2);
  }
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
