/**
 * Simulated oscillators: the map from true time to a node's raw counter (nanoseconds, `bigint`), and
 * back.
 *
 * The counter's phase deviation from true time, x(t) seconds, is
 *
 *   x(t) = offset + Σ steps ≤ t + freq·t + ∫₀ᵗ w(s) ds + periodic(t)
 *
 * - `freq`: constant frequency error (a counter running fast by 100 ppm has freq = 100e-6);
 * - w: a random walk of the frequency, with standard deviation `wander` per √second, sampled on a grid
 *   of `wanderStep` seconds and linearly interpolated (so its integral is exact and continuous);
 * - periodic: a temperature-like frequency variation A·sin(2πt/P + φ), integrated analytically.
 *
 * The counter reads raw(t) = origin + round((t + x(t))·1e9 / resolution)·resolution + noise, where
 * noise is normal with sd `noise` seconds (a reading error, not a phase change).
 */
import type { RawTime } from '../clock/types.js';
import { Rng } from './rng.js';

export interface OscillatorSpec {
  /** Initial phase offset, s. */
  offset: number;
  /** Frequency error, ppm (positive: the counter runs fast). */
  freqPpm: number;
  /** Random-walk frequency wander: standard deviation of the frequency change per √s (e.g. 1e-9). */
  wander: number;
  /** Grid of the wander process, s. */
  wanderStep: number;
  /** Periodic frequency variation, ppm amplitude; 0 = off. */
  periodicPpm: number;
  periodicPeriod: number;
  periodicPhase: number;
  /** Reading resolution, ns (integer ≥ 1). */
  resolutionNs: number;
  /** Reading noise, sd in s. */
  noise: number;
  /** Phase steps (e.g. a falseticker that steps): at true time `at`, the phase jumps by `offset` s. */
  steps: { at: number; offset: number }[];
}

export function defaultOscillatorSpec(): OscillatorSpec {
  return {
    offset: 0,
    freqPpm: 0,
    wander: 0,
    wanderStep: 1,
    periodicPpm: 0,
    periodicPeriod: 86400,
    periodicPhase: 0,
    resolutionNs: 1,
    noise: 0,
    steps: [],
  };
}

/** The raw counter of every node reads this at true time 0 (plus the node's phase offset). */
export const RAW_ORIGIN: RawTime = 1_000_000_000_000n;

export class Oscillator {
  readonly spec: OscillatorSpec;
  private readonly walkRng: Rng;
  private readonly noiseRng: Rng;
  /** Wander grid: w[k] frequency at k·h, p[k] = ∫₀^{kh} w. */
  private w: Float64Array;
  private p: Float64Array;
  private n = 1;
  private readonly h: number;
  private readonly freq: number;
  private readonly per: number;
  private readonly omega: number;
  private readonly steps: { at: number; offset: number }[];
  private readonly perfect: boolean;

  constructor(spec: OscillatorSpec, seed: number, label: string) {
    this.spec = spec;
    this.walkRng = Rng.derive(seed, `${label}/wander`);
    this.noiseRng = Rng.derive(seed, `${label}/noise`);
    this.h = spec.wanderStep > 0 ? spec.wanderStep : 1;
    this.w = new Float64Array(spec.wander > 0 ? 1024 : 1);
    this.p = new Float64Array(spec.wander > 0 ? 1024 : 1);
    this.freq = spec.freqPpm * 1e-6;
    this.per = spec.periodicPpm * 1e-6;
    this.omega = (2 * Math.PI) / (spec.periodicPeriod > 0 ? spec.periodicPeriod : 1);
    this.steps = [...spec.steps].sort((a, b) => a.at - b.at);
    this.perfect =
      spec.offset === 0 &&
      spec.freqPpm === 0 &&
      spec.wander === 0 &&
      spec.periodicPpm === 0 &&
      spec.steps.length === 0 &&
      spec.noise === 0 &&
      spec.resolutionNs <= 1;
  }

  private extend(k: number): void {
    if (k < this.n) return;
    if (k + 1 >= this.w.length) {
      let len = this.w.length;
      while (len <= k + 1) len *= 2;
      const w = new Float64Array(len);
      w.set(this.w.subarray(0, this.n));
      const p = new Float64Array(len);
      p.set(this.p.subarray(0, this.n));
      this.w = w;
      this.p = p;
    }
    const sd = this.spec.wander * Math.sqrt(this.h);
    for (let i = this.n; i <= k; i++) {
      const prev = this.w[i - 1]!;
      const next = prev + sd * this.walkRng.normal();
      this.w[i] = next;
      this.p[i] = this.p[i - 1]! + (this.h * (prev + next)) / 2;
    }
    this.n = k + 1;
  }

  /** The wander frequency at true time t (dimensionless). */
  private wanderFreq(t: number): { f: number; integral: number } {
    if (this.spec.wander <= 0 || t <= 0) return { f: 0, integral: 0 };
    const k = Math.floor(t / this.h);
    this.extend(k + 1);
    const w0 = this.w[k]!;
    const w1 = this.w[k + 1]!;
    const dt = t - k * this.h;
    const f = w0 + ((w1 - w0) * dt) / this.h;
    return { f, integral: this.p[k]! + (dt * (w0 + f)) / 2 };
  }

  /** Phase deviation x(t) from true time, s. */
  deviation(t: number): number {
    let x = this.spec.offset + this.freq * t;
    if (this.spec.wander > 0) x += this.wanderFreq(t).integral;
    if (this.per !== 0) {
      const ph = this.spec.periodicPhase;
      x += (this.per / this.omega) * (Math.cos(ph) - Math.cos(this.omega * t + ph));
    }
    for (const s of this.steps) {
      if (s.at > t) break;
      x += s.offset;
    }
    return x;
  }

  /** Frequency error of the counter at true time t (dimensionless, e.g. 1e-4 for 100 ppm). */
  frequency(t: number): number {
    let f = this.freq;
    if (this.spec.wander > 0) f += this.wanderFreq(t).f;
    if (this.per !== 0) f += this.per * Math.sin(this.omega * t + this.spec.periodicPhase);
    return f;
  }

  /** The noiseless counter at true time t, ns. */
  rawExact(t: number): RawTime {
    if (this.perfect) return RAW_ORIGIN + BigInt(Math.round(t * 1e9));
    const ns = Math.round((t + this.deviation(t)) * 1e9);
    const res = this.spec.resolutionNs;
    const q = res > 1 ? Math.floor(ns / res) * res : ns;
    return RAW_ORIGIN + BigInt(q);
  }

  /** A reading of the counter at true time t: resolution and reading noise applied. */
  read(t: number): RawTime {
    if (this.spec.noise <= 0) return this.rawExact(t);
    const ns = Math.round((t + this.deviation(t) + this.spec.noise * this.noiseRng.normal()) * 1e9);
    const res = this.spec.resolutionNs;
    const q = res > 1 ? Math.floor(ns / res) * res : ns;
    return RAW_ORIGIN + BigInt(q);
  }

  /**
   * The earliest true time at which the noiseless counter reaches `raw` (for timers). Fixed-point
   * iteration t ← target − x(t), a contraction because |x'| ≪ 1; steps make x discontinuous, so the
   * result is then checked against the step times.
   */
  trueTimeOf(raw: RawTime): number {
    const target = Number(raw - RAW_ORIGIN) / 1e9;
    if (this.perfect) return target;
    let t = target - this.deviation(Math.max(0, target));
    for (let i = 0; i < 4; i++) {
      const next = target - this.deviation(Math.max(0, t));
      if (Math.abs(next - t) < 1e-12) {
        t = next;
        break;
      }
      t = next;
    }
    // Resolution: the quantised counter reaches raw slightly later; add one tick of margin.
    if (this.spec.resolutionNs > 1) t += this.spec.resolutionNs / 1e9;
    return t;
  }
}
