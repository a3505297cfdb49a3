/**
 * Bounded offset errors for the feed-forward clock's filter: an exchange queued by E has an offset
 * error within ±E/2 (uniform when the queueing is exponential each way), not a Gaussian one. The
 * filter's update with such an exchange is the exact posterior mean and covariance of a Gaussian
 * prior times that bounded likelihood (moment matching): an exchange whose interval holds the
 * prediction with room to spare hardly moves it, one whose interval excludes part of the prior cuts
 * it off. See docs/clocks.md ("Offset and frequency").
 */

const SQRT2 = Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/** erf(x) for |x| ≤ 3 from its Maclaurin series (alternating; terms fall below 1e-17). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= -x2 / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return 2 * INV_SQRT_PI * sum;
}

/** erfcx(x) = exp(x²)·erfc(x) for x ≥ 0: the series below 2.5, the continued fraction above. */
export function erfcx(x: number): number {
  if (x < 2.5) return Math.exp(x * x) * (1 - erfSeries(x));
  // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail.
  let f = x;
  for (let k = 40; k >= 1; k--) f = x + k / 2 / f;
  return INV_SQRT_PI / f;
}

/** Φ(x), the standard normal distribution function. */
export function normalCdf(x: number): number {
  const z = x / SQRT2;
  if (Math.abs(z) <= 2.5) return 0.5 * (1 + erfSeries(z));
  const tail = 0.5 * erfcx(Math.abs(z)) * Math.exp(-z * z);
  return z > 0 ? 1 - tail : tail;
}

/**
 * Mean and variance of a normal (mean `mu`, sd `sd`) restricted to [lo, hi]; stable when the interval
 * lies far in one tail (then the mass sits at its near end).
 */
export function truncatedNormal(
  mu: number,
  sd: number,
  lo: number,
  hi: number,
): { mean: number; variance: number } {
  if (!(sd > 0) || !(hi > lo)) {
    const m = Math.min(hi, Math.max(lo, mu));
    return { mean: m, variance: 0 };
  }
  // Far in the lower tail: mirror into the upper one.
  if ((hi - mu) / sd < 0) {
    const r = truncatedNormal(-mu, sd, -hi, -lo);
    return { mean: -r.mean, variance: r.variance };
  }
  const a = (lo - mu) / sd;
  const b = (hi - mu) / sd;
  const width = hi - lo;
  let pa: number;
  let pb: number;
  let z: number;
  if (a > 0) {
    // Everything divided by exp(−a²/2): Q(x) = ½·erfcx(x/√2)·exp(−x²/2).
    const decay = Math.exp(-(b * b - a * a) / 2);
    pa = INV_SQRT_2PI;
    pb = INV_SQRT_2PI * decay;
    z = 0.5 * erfcx(a / SQRT2) - 0.5 * erfcx(b / SQRT2) * decay;
  } else {
    pa = INV_SQRT_2PI * Math.exp((-a * a) / 2);
    pb = Number.isFinite(b) ? INV_SQRT_2PI * Math.exp((-b * b) / 2) : 0;
    z = normalCdf(b) - normalCdf(a);
  }
  if (!(z > 0) || b - a < 1e-6) {
    // Narrow against the prior: nearly uniform on [lo, hi].
    return { mean: (lo + hi) / 2, variance: (width * width) / 12 };
  }
  const lam = (pa - pb) / z;
  const ta = Number.isFinite(a) ? a * pa : 0;
  const tb = Number.isFinite(b) ? b * pb : 0;
  const mean = Math.min(hi, Math.max(lo, mu + sd * lam));
  const v = sd * sd * (1 + (ta - tb) / z - lam * lam);
  const variance = Math.min((width * width) / 4, Math.max(v, 1e-6 * sd * sd));
  return { mean, variance };
}

/**
 * The posterior of a phase z with prior N(m, p) given y = z + u + n, u uniform within ±h and n
 * normal with variance s2: mean and variance (the exact moments; u's posterior is a truncated normal).
 */
export function boundedUpdate(
  m: number,
  p: number,
  y: number,
  h: number,
  s2: number,
): { mean: number; variance: number } {
  const S = p + s2;
  const g = p / S;
  const u = truncatedNormal(y - m, Math.sqrt(S), -h, h);
  return { mean: m + g * (y - u.mean - m), variance: (p * s2) / S + g * g * u.variance };
}
