/**
 * What a clock that knows each exchange's queueing exactly could reach (`node dist/bench/clock-floor.js`),
 * on the simulator's scenario model: exp(θ) queueing each way, 1e-9/√s frequency wander, an iburst of
 * six exchanges 2 s apart at start-up and then one exchange per poll (the request budget of the
 * accuracy benchmark's pinned rows), 20,000 s, the error sampled every 4 s from 2,000 s. An exchange
 * queued by E has an offset error uniform within ±E/2. Two estimators see the same paths:
 *
 * - **Kalman**: phase and random-walk frequency, each offset with variance E²/12. No estimator
 *   restricted to a linear combination of the offsets does better on average.
 * - **Posterior mean** (a particle filter): the same state model, each exchange's likelihood the
 *   uniform ±E/2 it really is; its mean is the estimate with the least mean squared error that the
 *   exchanges allow, up to the filter's sampling (`--particles`, default 20,000: 50,000 moves no
 *   median by more than 1 µs at 1,024 s).
 *
 * A clock that does not know E (it estimates it from the minimum RTT) cannot do better on average
 * than the posterior mean: this bounds what the equal-budget targets of issue 11 (half of chrony's
 * RMS at 64 s and 1,024 s) can reach. docs/BENCHMARKS.md ("Accuracy") and docs/clocks.md compare.
 *
 * `--poll 512` is the evenly spaced schedule with the budget of the clocks' defaults (about 45 requests
 * in 20,000 s).
 *
 *   node dist/bench/clock-floor.js [--seeds N] [--particles N] [--poll SECONDS]... (default 64 and 1024)
 */
import { parseArgs } from 'node:util';
import { Rng } from '../src/sim/rng.js';

const DURATION = 20_000;
const WARMUP = 2000;
const WANDER = 1e-9;
/** Exchanges of the iburst and their spacing (s). */
const IBURST = 6;
const IBURST_GAP = 2;
/** Prior sd of the frequency before the first exchange (s/s). */
const PRIOR_FREQ = 1e-3;
/** Fewest particles inside an exchange's interval before the filter re-seeds inside it. */
const MIN_INSIDE = 200;
/** Regularisation after resampling: jitter of this fraction of the posterior sd. */
const JITTER = 0.1;

interface Estimate {
  a: number;
  b: number;
  t: number;
}

/** Kalman filter over (phase, frequency) with a random-walk frequency; offsets with variance E²/12. */
class Kalman {
  private a = 0;
  private b = 0;
  private p00 = 0;
  private p01 = 0;
  private p11 = PRIOR_FREQ * PRIOR_FREQ;
  private t = Number.NaN;

  constructor(private readonly q2: number) {}

  update(t: number, y: number, e: number): Estimate {
    const r = (e * e) / 12 + 1e-18;
    if (Number.isNaN(this.t)) {
      this.a = y;
      this.p00 = r;
    } else {
      const dt = t - this.t;
      const q2 = this.q2;
      this.a += this.b * dt;
      this.p00 += 2 * this.p01 * dt + this.p11 * dt * dt + (q2 * dt ** 3) / 3;
      this.p01 += this.p11 * dt + (q2 * dt * dt) / 2;
      this.p11 += q2 * dt;
      const s = this.p00 + r;
      const k0 = this.p00 / s;
      const k1 = this.p01 / s;
      const nu = y - this.a;
      this.a += k0 * nu;
      this.b += k1 * nu;
      this.p11 -= k1 * this.p01;
      this.p01 *= 1 - k0;
      this.p00 *= 1 - k0;
    }
    this.t = t;
    return { a: this.a, b: this.b, t };
  }
}

/** Particle filter over (phase, frequency): the posterior under uniform ±E/2 offset errors. */
class Particles {
  private readonly ph: Float64Array;
  private readonly fr: Float64Array;
  private readonly w: Float64Array;
  private readonly tmpP: Float64Array;
  private readonly tmpF: Float64Array;
  private t = Number.NaN;

  constructor(
    private readonly n: number,
    private readonly q2: number,
    private readonly rng: Rng,
  ) {
    this.ph = new Float64Array(n);
    this.fr = new Float64Array(n);
    this.w = new Float64Array(n);
    this.tmpP = new Float64Array(n);
    this.tmpF = new Float64Array(n);
  }

  update(t: number, lo: number, hi: number): Estimate {
    const { n, ph, fr, w, rng } = this;
    if (Number.isNaN(this.t)) {
      for (let i = 0; i < n; i++) {
        ph[i] = lo + (hi - lo) * rng.next();
        fr[i] = rng.normal() * PRIOR_FREQ;
      }
    } else {
      // Predict: the exact discrete process noise of phase and frequency over dt (Cholesky factor).
      const dt = t - this.t;
      const l11 = Math.sqrt((this.q2 * dt ** 3) / 3);
      const l21 = l11 > 0 ? (this.q2 * dt * dt) / 2 / l11 : 0;
      const l22 = Math.sqrt(Math.max(0, this.q2 * dt - l21 * l21));
      let inside = 0;
      for (let i = 0; i < n; i++) {
        const z1 = rng.normal();
        const z2 = rng.normal();
        ph[i] = ph[i]! + fr[i]! * dt + l11 * z1;
        fr[i] = fr[i]! + l21 * z1 + l22 * z2;
        w[i] = ph[i]! >= lo && ph[i]! <= hi ? 1 : 0;
        inside += w[i]!;
      }
      if (inside < MIN_INSIDE) this.reseed(lo, hi);
      else this.resample(inside, lo, hi);
    }
    this.t = t;
    let a = 0;
    let b = 0;
    for (let i = 0; i < n; i++) {
      a += ph[i]!;
      b += fr[i]!;
    }
    return { a: a / n, b: b / n, t };
  }

  /** Systematic resampling of the particles inside [lo, hi], then a small jitter that stays inside. */
  private resample(total: number, lo: number, hi: number): void {
    const { n, ph, fr, w, tmpP, tmpF, rng } = this;
    const step = total / n;
    let u = rng.next() * step;
    let acc = w[0]!;
    let j = 0;
    for (let i = 0; i < n; i++, u += step) {
      while (acc < u && j < n - 1) acc += w[++j]!;
      tmpP[i] = ph[j]!;
      tmpF[i] = fr[j]!;
    }
    ph.set(tmpP);
    fr.set(tmpF);
    const { sa, sb } = this.spread();
    for (let i = 0; i < n; i++) {
      const p = ph[i]! + JITTER * sa * rng.normal();
      if (p >= lo && p <= hi) ph[i] = p;
      fr[i] = fr[i]! + JITTER * sb * rng.normal();
    }
  }

  /** Too few particles inside (rare): draw phases inside, frequencies moved along the covariance. */
  private reseed(lo: number, hi: number): void {
    const { n, ph, fr, rng } = this;
    const m = this.moments();
    const beta = m.vaa > 0 ? m.vab / m.vaa : 0;
    for (let i = 0; i < n; i++) {
      const p = lo + (hi - lo) * rng.next();
      fr[i] = fr[i]! + beta * (p - ph[i]!);
      ph[i] = p;
    }
  }

  private spread(): { sa: number; sb: number } {
    const m = this.moments();
    return { sa: Math.sqrt(m.vaa), sb: Math.sqrt(m.vbb) };
  }

  /** The particles' (co)variances of phase and frequency. */
  private moments(): { vaa: number; vab: number; vbb: number } {
    const { n, ph, fr } = this;
    let ma = 0;
    let mb = 0;
    for (let i = 0; i < n; i++) {
      ma += ph[i]!;
      mb += fr[i]!;
    }
    ma /= n;
    mb /= n;
    let vaa = 0;
    let vab = 0;
    let vbb = 0;
    for (let i = 0; i < n; i++) {
      const da = ph[i]! - ma;
      const db = fr[i]! - mb;
      vaa += da * da;
      vab += da * db;
      vbb += db * db;
    }
    return { vaa: vaa / n, vab: vab / n, vbb: vbb / n };
  }
}

/** RMS error (s) of both estimators on one seed's path. */
export function floorRms(
  theta: number,
  poll: number,
  seed: number,
  particles: number,
): { kalman: number; posterior: number } {
  const rng = Rng.derive(seed, 'clock-floor');
  const kf = new Kalman(WANDER * WANDER);
  const pf = new Particles(particles, WANDER * WANDER, Rng.derive(seed, 'clock-floor/particles'));
  const times: number[] = [];
  for (let i = 0; i < IBURST; i++) times.push(i * IBURST_GAP);
  for (let t = poll; t < DURATION; t += poll) times.push(t);
  let x = 0; // true offset (s) and frequency (s/s)
  let f = 0;
  let k: Estimate = { a: 0, b: 0, t: 0 };
  let p: Estimate = { a: 0, b: 0, t: 0 };
  let next = 0;
  let sk = 0;
  let sp = 0;
  let n = 0;
  for (let t = 0; t < DURATION; t++) {
    if (t === times[next]) {
      const ef = rng.exponential(theta);
      const er = rng.exponential(theta);
      const y = x + (ef - er) / 2;
      const e = ef + er;
      k = kf.update(t, y, e);
      p = pf.update(t, y - e / 2, y + e / 2);
      next++;
    }
    if (t >= WARMUP && t % 4 === 0) {
      sk += (x - (k.a + k.b * (t - k.t))) ** 2;
      sp += (x - (p.a + p.b * (t - p.t))) ** 2;
      n++;
    }
    x += f;
    f += WANDER * rng.normal();
  }
  return { kalman: Math.sqrt(sk / n), posterior: Math.sqrt(sp / n) };
}

function range(xs: number[]): string {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  const med = s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return `${s[0]?.toFixed(0)}–${s[s.length - 1]?.toFixed(0)} µs (median ${med.toFixed(0)})`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '40' },
      particles: { type: 'string', default: '20000' },
      poll: { type: 'string', multiple: true },
    },
  });
  const seeds = Number(values.seeds);
  const particles = Number(values.particles);
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error('--seeds must be a positive integer');
  if (!Number.isInteger(particles) || particles < 1000)
    throw new Error('--particles must be an integer ≥ 1000');
  const polls = (values.poll ?? ['64', '1024']).map(Number);
  for (const p of polls)
    if (!Number.isInteger(p) || p < 16 || p > 4096)
      throw new Error(`--poll: an integer from 16 to 4096 s, got ${p}`);
  process.stdout.write(
    `${seeds} seeds, ${particles} particles\n\n| path | poll | Kalman (linear floor) | posterior mean (floor) |\n|---|---:|---:|---:|\n`,
  );
  for (const [name, theta] of [
    ['lan-default: exp(100 µs) each way', 100e-6],
    ['wan: exp(1 ms) each way', 1e-3],
  ] as const) {
    for (const poll of polls) {
      const ks: number[] = [];
      const ps: number[] = [];
      for (let s = 1; s <= seeds; s++) {
        const r = floorRms(theta, poll, s, particles);
        ks.push(r.kalman * 1e6);
        ps.push(r.posterior * 1e6);
      }
      process.stdout.write(`| ${name} | ${poll} s | ${range(ks)} | ${range(ps)} |\n`);
    }
  }
}

if (process.argv[1]?.endsWith('clock-floor.js')) main();
