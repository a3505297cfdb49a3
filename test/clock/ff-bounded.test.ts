import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedUpdate, erfcx, normalCdf, truncatedNormal } from '../../src/clock/ff-bounded.js';

/** Moments of N(mu, sd²) on [lo, hi] by the midpoint rule. */
function numeric(mu: number, sd: number, lo: number, hi: number) {
  const n = 200000;
  let w = 0;
  let m1 = 0;
  let m2 = 0;
  // Densities relative to the largest on the interval (far tails would underflow).
  const near = Math.min(hi, Math.max(lo, mu));
  const top = ((near - mu) / sd) ** 2;
  for (let i = 0; i < n; i++) {
    const x = lo + ((i + 0.5) * (hi - lo)) / n;
    const d = Math.exp(-(((x - mu) / sd) ** 2 - top) / 2);
    w += d;
    m1 += d * x;
    m2 += d * x * x;
  }
  const mean = m1 / w;
  return { mean, variance: m2 / w - mean * mean };
}

test('erfcx and the normal distribution function', () => {
  // erfc(1) = 0.157299207050285, erfc(3) = 2.20904969985854e-5, Φ(−1.96) = 0.0249978951482204.
  assert.ok(Math.abs(erfcx(1) / Math.E - 0.157299207050285) < 1e-13);
  assert.ok(Math.abs(erfcx(3) * Math.exp(-9) - 2.20904969985854e-5) < 1e-16);
  assert.ok(Math.abs(normalCdf(-1.96) - 0.0249978951482204) < 1e-13);
  // Continuous where the series hands over to the continued fraction.
  assert.ok(Math.abs(erfcx(2.5 - 1e-9) - erfcx(2.5 + 1e-9)) < 1e-8);
  // Large arguments: erfcx(x) → 1/(x√π).
  assert.ok(Math.abs(erfcx(1e4) * 1e4 * Math.sqrt(Math.PI) - 1) < 1e-8);
});

test('truncated normal moments: inside, straddling, and far in either tail', () => {
  for (const [mu, sd, lo, hi] of [
    [0, 1, -0.5, 0.5],
    [0.3, 1, -2, 1],
    [0, 1, 1, 4],
    [0, 1, 6, 7],
    [0, 1, -12, -11],
    [5, 0.01, -1, 1],
    [0, 10, -1, 1],
  ] as const) {
    const r = truncatedNormal(mu, sd, lo, hi);
    const x = numeric(mu, sd, lo, hi);
    const scale = hi - lo;
    assert.ok(
      Math.abs(r.mean - x.mean) < 1e-6 * scale,
      `mean ${r.mean} vs ${x.mean} (${mu}, ${sd}, ${lo}, ${hi})`,
    );
    assert.ok(
      Math.abs(r.variance - x.variance) < 1e-4 * x.variance + 1e-9 * scale * scale,
      `variance ${r.variance} vs ${x.variance} (${mu}, ${sd}, ${lo}, ${hi})`,
    );
  }
});

test('bounded update: the Kalman update without a bound; a wide bound around the prior leaves it', () => {
  // h = 0: the Gaussian update, gain p/(p + s2).
  const g = boundedUpdate(1, 4, 3, 0, 4);
  assert.ok(Math.abs(g.mean - 2) < 1e-12 && Math.abs(g.variance - 2) < 1e-12);
  // A prior of sd 10 µs, an offset 100 µs away whose error is within ±1 ms: next to no information.
  const wide = boundedUpdate(0, 1e-10, 100e-6, 1e-3, 1e-12);
  assert.ok(Math.abs(wide.mean) < 1e-9 && Math.abs(wide.variance - 1e-10) < 1e-13, JSON.stringify(wide));
  // The same offset known to ±20 µs cuts the prior off: the estimate moves to the bound's edge.
  const tight = boundedUpdate(0, 1e-10, 100e-6, 20e-6, 1e-12);
  assert.ok(tight.mean > 79e-6 && tight.mean < 85e-6, JSON.stringify(tight));
  assert.ok(tight.variance < 1e-10 / 4);
});
