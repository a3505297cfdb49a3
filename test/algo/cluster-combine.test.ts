/** RFC 5905 sections 11.2.2 (cluster algorithm) and 11.2.3 (combine algorithm). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cluster, merit } from '../../src/algo/cluster.js';
import { combine, rootDistance } from '../../src/algo/combine.js';
import { MINDISP } from '../../src/algo/constants.js';
import { HuffPuff } from '../../src/algo/huffpuff.js';

const c = (id: string, offset: number, jitter = 0.0001, stratum = 2, dist = 0.01) => ({
  id,
  offset,
  jitter,
  stratum,
  rootDistance: dist,
});

test('11.2.2: survivors are ordered by merit (stratum × MAXDIST + root distance)', () => {
  const r = cluster([c('a', 0, 0.001, 3, 0.01), c('b', 0, 0.001, 2, 0.5), c('c', 0, 0.001, 2, 0.02)], 3, 1.5);
  assert.deepEqual(r.survivors, ['c', 'b', 'a']);
  assert.equal(merit(c('x', 0, 0, 2, 0.1), 1.5), 3.1);
});

test('11.2.2: the survivor with the largest selection jitter is pruned until MINCLOCK remain', () => {
  const r = cluster([c('a', 0), c('b', 0.0002), c('c', -0.0001), c('d', 0.0001), c('out', 0.008)], 3, 1.5);
  assert.deepEqual(r.outliers[0], 'out');
  assert.equal(r.survivors.length, 3);
  assert.ok(!r.survivors.includes('out'));
});

test('11.2.2: pruning stops when the selection jitter is below the smallest peer jitter', () => {
  // Peer jitter (1 ms) larger than the spread of offsets (0.1 ms): nothing is gained by pruning.
  const r = cluster(
    [c('a', 0, 0.001), c('b', 0.0001, 0.001), c('c', 0, 0.001), c('d', 0.00005, 0.001), c('e', 0, 0.001)],
    3,
    1.5,
  );
  assert.equal(r.survivors.length, 5);
  assert.deepEqual(r.outliers, []);
});

test('11.2.2: a preferred peer is never pruned', () => {
  const r = cluster([c('a', 0), c('b', 0.0001), c('d', 0), { ...c('p', 0.01), prefer: true }], 3, 1.5);
  assert.ok(r.survivors.includes('p'));
});

test('11.2.3: combine weights offsets by 1/root distance; jitter is relative to the system peer', () => {
  const r = combine(
    [
      { offset: 0.001, rootDistance: 0.01 },
      { offset: 0.004, rootDistance: 0.02 },
    ],
    0.001,
  );
  const w1 = 100;
  const w2 = 50;
  assert.ok(Math.abs(r.offset - (0.001 * w1 + 0.004 * w2) / (w1 + w2)) < 1e-15);
  assert.ok(Math.abs(r.jitter - Math.sqrt((0.003 ** 2 * w2) / (w1 + w2))) < 1e-15);
  assert.deepEqual(combine([{ offset: 0.5, rootDistance: 0.1 }], 0.5), { offset: 0.5, jitter: 0 });
});

test('root distance (RFC 5905 A.5.5.2 root_dist): max(MINDISP, δr+δ)/2 + εr + ε + PHI·age + ψ', () => {
  const d = rootDistance({
    rootDelay: 0.02,
    delay: 0.01,
    rootDispersion: 0.005,
    dispersion: 0.001,
    jitter: 0.0002,
    age: 100,
  });
  assert.ok(Math.abs(d - (0.015 + 0.005 + 0.001 + 15e-6 * 100 + 0.0002)) < 1e-15);
  const small = rootDistance({
    rootDelay: 0,
    delay: 0.001,
    rootDispersion: 0,
    dispersion: 0,
    jitter: 0,
    age: 0,
  });
  assert.equal(small, MINDISP / 2);
});

test("huff-n'-puff: the offset is corrected by half the delay above the window minimum, towards zero", () => {
  const hp = new HuffPuff(3600, 900);
  hp.add(0, 0.01);
  hp.add(100, 0.03);
  assert.equal(hp.minDelay(), 0.01);
  // Asymmetric congestion on the way out: offset +0.01 with 0.02 extra delay → corrected to 0.
  assert.ok(Math.abs(hp.correct(0.01, 0.03)) < 1e-15);
  assert.ok(Math.abs(hp.correct(-0.004, 0.016) - -0.001) < 1e-15);
  // Never past zero.
  assert.equal(hp.correct(0.002, 0.05), 0);
  // The minimum expires after the window.
  hp.add(3700, 0.02);
  hp.add(4600, 0.025);
  assert.equal(hp.minDelay(), 0.02);
});
