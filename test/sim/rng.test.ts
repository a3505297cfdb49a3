import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { meanOf, sample, sdOf } from '../../src/sim/distributions.js';
import { Rng } from '../../src/sim/rng.js';
import { ErrorStats } from '../../src/sim/stats.js';

test('same seed gives the same stream; different seeds and labels differ', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.string(), (seed, label) => {
      const a = Rng.derive(seed, label);
      const b = Rng.derive(seed, label);
      const xs = Array.from({ length: 8 }, () => a.next());
      const ys = Array.from({ length: 8 }, () => b.next());
      assert.deepEqual(xs, ys);
      for (const x of xs) assert.ok(x >= 0 && x < 1);
    }),
  );
  const s1 = Array.from(
    { length: 4 },
    (
      (r) => () =>
        r.nextU32()
    )(new Rng(1)),
  );
  const s2 = Array.from(
    { length: 4 },
    (
      (r) => () =>
        r.nextU32()
    )(new Rng(2)),
  );
  const s3 = Array.from(
    { length: 4 },
    (
      (r) => () =>
        r.nextU32()
    )(Rng.derive(1, 'other')),
  );
  assert.notDeepEqual(s1, s2);
  assert.notDeepEqual(s1, s3);
});

/** Mean within 5 standard errors and sd within 5% of the model. */
function checkMoments(name: string, draw: () => number, mean: number, sd: number, n = 200_000): void {
  const st = new ErrorStats();
  for (let i = 0; i < n; i++) st.add(draw());
  const se = sd / Math.sqrt(n);
  assert.ok(Math.abs(st.mean() - mean) < 5 * se, `${name}: mean ${st.mean()} vs ${mean} (se ${se})`);
  assert.ok(Math.abs(st.sd() / sd - 1) < 0.05, `${name}: sd ${st.sd()} vs ${sd}`);
}

test('uniform, normal and exponential draws match their moments', () => {
  const r = new Rng(42);
  checkMoments('uniform', () => r.next(), 0.5, Math.sqrt(1 / 12));
  checkMoments('normal', () => r.normal(), 0, 1);
  checkMoments('exponential', () => r.exponential(1e-4), 1e-4, 1e-4);
});

test('every jitter distribution matches its declared mean and sd', () => {
  const r = new Rng(7);
  const dists = [
    { dist: 'exp', mean: 100e-6 },
    { dist: 'normal', mean: 50e-6, sd: 20e-6 },
    { dist: 'uniform', min: 10e-6, max: 90e-6 },
    { dist: 'pareto', mean: 100e-6, shape: 4.5 },
    { dist: 'constant', value: 3e-6 },
  ] as const;
  for (const d of dists) {
    const sd = sdOf(d);
    if (sd === 0) {
      assert.equal(sample(d, r), meanOf(d));
      continue;
    }
    checkMoments(d.dist, () => sample(d, r), meanOf(d), sd, 400_000);
  }
});

test('pareto is heavy-tailed: P(X > x) follows (1 + x/λ)^-α', () => {
  const r = new Rng(3);
  const mean = 1;
  const shape = 1.5;
  const lambda = mean * (shape - 1);
  const n = 200_000;
  const x = 20;
  let over = 0;
  for (let i = 0; i < n; i++) if (r.pareto(mean, shape) > x) over++;
  const p = (1 + x / lambda) ** -shape;
  const se = Math.sqrt((p * (1 - p)) / n);
  assert.ok(Math.abs(over / n - p) < 5 * se, `tail ${over / n} vs ${p}`);
});
