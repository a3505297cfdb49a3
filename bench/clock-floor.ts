/**
 * What a clock that knows each exchange's queueing exactly could reach (`node dist/bench/clock-floor.js`),
 * on the simulator's scenario model: exp(θ) queueing each way, 1e-9/√s frequency wander, one exchange
 * per poll, statistics from 2,000 s of 20,000 s, error sampled every 4 s between exchanges. An
 * exchange queued by E has an offset error uniform within ±E/2. Two estimators see the same paths:
 *
 * - **Kalman**: phase and random-walk frequency, each offset with variance E²/12. No estimator
 *   restricted to a linear combination of the offsets does better on average.
 * - **Set membership**: the offset errors are bounded, so the true (phase, frequency) lies where every
 *   one of the last 64 exchanges' ±E/2 intervals holds (each widened by twice the phase the wander
 *   could have added since); the estimate is the centre of that region's frequency range, the phase
 *   in the middle of its interval there. A non-linear estimator: it shows how far below the linear
 *   floor the information in the exchanges reaches.
 *
 * It bounds what the equal-budget targets of issue 11 (half of chrony's RMS at 64 s and 1,024 s) can
 * reach; docs/BENCHMARKS.md ("Accuracy") and docs/clocks.md compare.
 *
 *   node dist/bench/clock-floor.js [--seeds N]
 */
import { parseArgs } from 'node:util';
import { Rng } from '../src/sim/rng.js';

interface Interval {
  t: number;
  lo: number;
  hi: number;
}

/** Exchanges the set-membership estimator keeps, and the frequency grid it scans (± GRID_SD sd). */
const SET_SPAN = 64;
const GRID = 100;
const GRID_SD = 4;

/** The set-membership estimate (phase, frequency) at `now`, or null when no frequency fits every interval. */
function setMembership(obs: Interval[], now: number, b: number, sd: number, wander: number) {
  let fmin = Number.POSITIVE_INFINITY;
  let fmax = Number.NEGATIVE_INFINITY;
  const fits = new Map<number, { lo: number; hi: number }>();
  for (let i = -GRID; i <= GRID; i++) {
    const f = b + ((i * GRID_SD) / GRID) * sd;
    let lo = Number.NEGATIVE_INFINITY;
    let hi = Number.POSITIVE_INFINITY;
    for (const o of obs) {
      const dt = now - o.t;
      const w = (2 * wander * dt ** 1.5) / Math.sqrt(3);
      lo = Math.max(lo, o.lo + f * dt - w);
      hi = Math.min(hi, o.hi + f * dt + w);
    }
    if (lo > hi) continue;
    fits.set(i, { lo, hi });
    fmin = Math.min(fmin, i);
    fmax = Math.max(fmax, i);
  }
  if (fits.size === 0) return null;
  // The feasible grid point nearest the centre of the feasible frequency range.
  const mid = (fmin + fmax) / 2;
  let best = fmin;
  for (const i of fits.keys()) if (Math.abs(i - mid) < Math.abs(best - mid)) best = i;
  const g = fits.get(best);
  if (g === undefined) return null;
  return { a: (g.lo + g.hi) / 2, b: b + ((best * GRID_SD) / GRID) * sd };
}

function floorRms(
  theta: number,
  poll: number,
  wander: number,
  seed: number,
): { kalman: number; set: number } {
  const rng = Rng.derive(seed, 'clock-floor');
  const exp = () => -Math.log(1 - rng.next()) * theta;
  let x = 0; // true offset (s) and frequency (s/s)
  let f = 0;
  let a = 0;
  let b = 0;
  let p00 = 1;
  let p01 = 0;
  let p11 = 1e-6;
  let sa = 0;
  let sb = 0;
  let first = true;
  let se = 0;
  let ss = 0;
  let n = 0;
  const q2 = wander * wander;
  const obs: Interval[] = [];
  for (let t = 0; t < 20000; t += poll) {
    for (let k = 0; k < poll; k += 4) {
      if (t > 2000) {
        se += (x + f * k - (a + b * k)) ** 2;
        ss += (x + f * k - (sa + sb * k)) ** 2;
        n++;
      }
    }
    for (let k = 0; k < poll; k++) {
      x += f;
      f += wander * (rng.next() * 2 - 1) * Math.sqrt(3);
    }
    a += b * poll;
    sa += sb * poll;
    p00 += 2 * p01 * poll + p11 * poll * poll + (q2 * poll ** 3) / 3;
    p01 += p11 * poll + (q2 * poll * poll) / 2;
    p11 += q2 * poll;
    const ef = exp();
    const er = exp();
    const y = x + (ef - er) / 2;
    const e = ef + er;
    const r = e ** 2 / 12 + 1e-12;
    obs.push({ t: t + poll, lo: y - e / 2, hi: y + e / 2 });
    if (obs.length > SET_SPAN) obs.shift();
    if (first) {
      a = y;
      sa = y;
      p00 = r;
      first = false;
      continue;
    }
    const k0 = p00 / (p00 + r);
    const k1 = p01 / (p00 + r);
    const nu = y - a;
    a += k0 * nu;
    b += k1 * nu;
    p11 -= k1 * p01;
    p01 *= 1 - k0;
    p00 *= 1 - k0;
    const sm = setMembership(obs, t + poll, b, Math.sqrt(Math.max(p11, 0)), wander);
    sa = sm?.a ?? a;
    sb = sm?.b ?? b;
  }
  return { kalman: Math.sqrt(se / n), set: Math.sqrt(ss / n) };
}

function range(xs: number[]): string {
  const s = [...xs].sort((p, q) => p - q);
  const med = s[s.length >> 1] ?? Number.NaN;
  return `${s[0]?.toFixed(0)}–${s[s.length - 1]?.toFixed(0)} µs (median ${med.toFixed(0)})`;
}

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '9' } } });
const seeds = Number(values.seeds);
process.stdout.write('| path | poll | Kalman (linear floor) | set membership |\n|---|---:|---:|---:|\n');
for (const [name, theta] of [
  ['lan-default: exp(100 µs) each way', 100e-6],
  ['wan: exp(1 ms) each way', 1e-3],
] as const) {
  for (const poll of [64, 1024]) {
    const ks: number[] = [];
    const ms: number[] = [];
    for (let s = 1; s <= seeds; s++) {
      const r = floorRms(theta, poll, 1e-9, s);
      ks.push(r.kalman * 1e6);
      ms.push(r.set * 1e6);
    }
    process.stdout.write(`| ${name} | ${poll} s | ${range(ks)} | ${range(ms)} |\n`);
  }
}
