import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Distribution } from '../../src/sim/distributions.js';
import { meanOf, sdOf } from '../../src/sim/distributions.js';
import { defaultPathSpec, Path, type PathSpec } from '../../src/sim/path.js';
import { Rng } from '../../src/sim/rng.js';
import { ErrorStats } from '../../src/sim/stats.js';

const mk = (o: Partial<PathSpec>, seed = 1) => new Path({ ...defaultPathSpec(), ...o }, new Rng(seed));

test('delay = base + jitter, for every jitter distribution', () => {
  const base = 100e-6;
  const dists: Distribution[] = [
    { dist: 'exp', mean: 100e-6 },
    { dist: 'normal', mean: 0, sd: 10e-6 },
    { dist: 'uniform', min: 0, max: 200e-6 },
    { dist: 'pareto', mean: 50e-6, shape: 5 },
  ];
  for (const jitter of dists) {
    const p = mk({ delay: base, jitter });
    const st = new ErrorStats();
    for (let i = 0; i < 200_000; i++) for (const d of p.transit(i)) st.add(d);
    const mean = base + meanOf(jitter);
    const sd = sdOf(jitter);
    assert.ok(
      Math.abs(st.mean() - mean) < (5 * sd) / Math.sqrt(st.n),
      `${jitter.dist}: mean ${st.mean()} vs ${mean}`,
    );
    assert.ok(Math.abs(st.sd() / sd - 1) < 0.05, `${jitter.dist}: sd ${st.sd()} vs ${sd}`);
    assert.ok(st.min >= base - 6 * sd && st.min >= 0);
  }
});

/** A count within 5 binomial standard deviations of n·p. */
function binomialOk(count: number, n: number, p: number): boolean {
  return Math.abs(count - n * p) < 5 * Math.sqrt(n * p * (1 - p)) + 1;
}

test('loss, duplication and reordering rates', () => {
  const n = 100_000;
  const p = mk({ delay: 1e-3, loss: 0.3, duplicate: 0.05, reorder: 0.1, reorderDelay: 0.01 });
  let delivered = 0;
  let twice = 0;
  let late = 0;
  for (let i = 0; i < n; i++) {
    const c = p.transit(i);
    delivered += c.length > 0 ? 1 : 0;
    if (c.length === 2) twice++;
    if ((c[0] ?? 0) > 0.005) late++;
  }
  assert.ok(binomialOk(n - delivered, n, 0.3), `lost ${n - delivered}`);
  assert.ok(binomialOk(twice, delivered, 0.05), `duplicated ${twice}`);
  assert.ok(binomialOk(late, delivered, 0.1), `reordered ${late}`);
  assert.equal(p.counters.lost, n - delivered);
  assert.equal(p.counters.duplicated, twice);
});

test('reordering lets a later packet overtake', () => {
  const p = mk({ delay: 1e-3, reorder: 1, reorderDelay: 5e-3 });
  const q = mk({ delay: 1e-3 });
  const a = 0 + (p.transit(0)[0] ?? 0);
  const b = 1e-3 + (q.transit(1e-3)[0] ?? 0);
  assert.ok(b < a);
});

test('scheduled level shift, asymmetry change and outage windows', () => {
  const p = mk({
    delay: 100e-6,
    changes: [
      { at: 1000, delay: 5e-3 },
      { at: 2000, add: -1e-3 },
      { at: 3000, loss: 1 },
    ],
    outages: [[500, 600]],
  });
  assert.deepEqual(p.transit(10), [100e-6]);
  assert.deepEqual(p.transit(550), []);
  assert.deepEqual(p.transit(999.999), [100e-6]);
  assert.deepEqual(p.transit(1000), [5e-3]);
  assert.ok(Math.abs((p.transit(2500)[0] ?? 0) - 4e-3) < 1e-15);
  assert.deepEqual(p.transit(3000), []);
});

test('the same seed gives the same delays; draws do not depend on the loss outcome', () => {
  const a = mk({ delay: 1e-4, jitter: { dist: 'exp', mean: 1e-4 } }, 9);
  const b = mk({ delay: 1e-4, jitter: { dist: 'exp', mean: 1e-4 } }, 9);
  const c = mk({ delay: 1e-4, jitter: { dist: 'exp', mean: 1e-4 }, loss: 0.5 }, 9);
  for (let i = 0; i < 100; i++) {
    const x = a.transit(i);
    assert.deepEqual(x, b.transit(i));
    const y = c.transit(i);
    if (y.length > 0) assert.deepEqual(y, x);
  }
});
