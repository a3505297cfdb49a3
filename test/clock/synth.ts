/**
 * A small synthetic exchange generator with known truth, for the clock tests (the simulator in
 * src/sim is the full version). Seeded; deterministic.
 *
 * - The counter runs fast by a frequency error f(t) = f0 + random walk (per-second steps N(0, wander)).
 * - Each way the path delay is `base` + exp(mean `jitter`); the server's clock is perfect.
 */
import type { Rng } from '../../src/sim/rng.js';
import { durationToSeconds, type NtpTime, secondsToDuration } from '../../src/time/ntp-time.js';

/** 2026-01-01T00:00:00Z as NTP time. */
export const T0: NtpTime = 3976214400n << 32n;

export interface Oscillator {
  /** Counter value (ns, bigint) at true time t (s since T0). */
  raw(t: number): bigint;
  /** Frequency error of the counter at true time t (fraction; counter fast when > 0). */
  freq(t: number): number;
  /** True seconds per nominal counter second at t. */
  rate(t: number): number;
}

export function oscillator(
  rng: Rng,
  seconds: number,
  f0 = 100e-6,
  wander = 1e-9,
  raw0 = 1_000_000_000n,
): Oscillator {
  const n = Math.ceil(seconds) + 2;
  const f = new Float64Array(n);
  const phase = new Float64Array(n + 1); // counter seconds elapsed at integer true seconds
  let cur = f0;
  for (let i = 0; i < n; i++) {
    f[i] = cur;
    phase[i + 1] = phase[i]! + 1 + cur;
    cur += wander * rng.normal();
  }
  const at = (t: number) => Math.min(n - 1, Math.max(0, Math.floor(t)));
  return {
    raw(t: number): bigint {
      const i = at(t);
      const p = phase[i]! + (t - i) * (1 + f[i]!);
      return raw0 + BigInt(Math.round(p * 1e9));
    },
    freq: (t: number) => f[at(t)]!,
    rate: (t: number) => 1 / (1 + f[at(t)]!),
  };
}

export interface PathModel {
  /** One-way delay at true time t, direction 0 = to server, 1 = back. */
  delay(t: number, dir: 0 | 1): number;
}

export function expPath(rng: Rng, base = 100e-6, jitter = 100e-6): PathModel {
  return { delay: () => base + rng.exponential(jitter) };
}

export interface SynthExchange {
  /** True time (s since T0) the request left. */
  t: number;
  ta: bigint;
  tb: NtpTime;
  te: NtpTime;
  tf: bigint;
  /** True time the response arrived. */
  tArrive: number;
}

/** One client/server exchange starting at true time t. */
export function makeExchange(osc: Oscillator, path: PathModel, t: number, serverProc = 20e-6): SynthExchange {
  const d1 = path.delay(t, 0);
  const tbS = t + d1;
  const teS = tbS + serverProc;
  const d2 = path.delay(teS, 1);
  const tArrive = teS + d2;
  return {
    t,
    ta: osc.raw(t),
    tb: T0 + secondsToDuration(tbS),
    te: T0 + secondsToDuration(teS),
    tf: osc.raw(tArrive),
    tArrive,
  };
}

/** Clock error (s) of a reading `read` taken at true time t. */
export function clockError(read: NtpTime, t: number): number {
  return durationToSeconds(read - (T0 + secondsToDuration(t)));
}

export function rms(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  return Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
}
