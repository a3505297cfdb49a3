/**
 * The RFC 5905 clock on the wan scenario (10 ms + exp(1 ms) each way), the issue 11 targets: RMS within
 * 2× chrony's and the error below 1 ms as early as chrony's. Before: at 1,024 s the 82 ms offset left
 * by a burst's frequency at the end of FREQ stayed in the mean square offset for ~30 polls (time
 * constant at its minimum, every exchange weighted 1: RMS 562–667 µs on these seeds); at 64 s every
 * FREQ exchange was slewed whole with the hold's 8 s time constant (one queued by 4 ms moved the clock
 * by 2 ms: below 1 ms only from 715 s, median of 5 seeds). And on loss30 (LAN, 30 % loss) the hold
 * slewed at most 500 ppm: the 6.5 ms left after a lost burst took 15 s (from 88 s, chrony 80 s).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { realEngineFactory } from '../../src/sim/engines.js';
import { Simulation } from '../../src/sim/simulation.js';
import type { ClientResult } from '../../src/sim/types.js';
import { pinned, standard } from './support.js';

function runs(poll: number, seeds: number[], name = 'wan'): ClientResult[] {
  return seeds.map((seed) => {
    const res = new Simulation(
      pinned(standard(name), poll),
      realEngineFactory(nodeCrypto, 'rfc5905'),
      seed,
    ).run();
    const c = res.clients[0];
    assert.ok(c !== undefined);
    return c;
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1] ?? Number.NaN;
};

test('rfc5905 on wan at 1,024 s: the start-up transient does not hold the time constant down (RMS median < 500 µs)', () => {
  const rs = runs(10, [1, 3, 4]);
  const rms = rs.map((c) => c.rmsError);
  // chrony 4.8 in the benchmark: 265 µs (median of 5 seeds); before: 562, 667, 609 µs.
  assert.ok(median(rms) < 500e-6, `RMS ${rms.map((r) => (r * 1e6).toFixed(0)).join(', ')} µs`);
  for (const c of rs) assert.ok(c.maxError < 2.5e-3, `max error ${(c.maxError * 1e3).toFixed(2)} ms`);
});

test('rfc5905 on wan at 64 s: FREQ exchanges do not move the clock by their queueing (< 1 ms by 300 s, median)', () => {
  const rs = runs(6, [1, 2, 3, 4, 5]);
  const sync = rs.map((c) => c.timeToSync ?? Number.POSITIVE_INFINITY);
  // chrony 4.8: 73–85 s; before: 144, 582, 715, 726, 769 s.
  assert.ok(median(sync) <= 300, `stays below 1 ms from ${sync.join(', ')} s`);
  for (const c of rs) assert.ok(c.rmsError < 220e-6, `RMS ${(c.rmsError * 1e6).toFixed(0)} µs`);
});

test('rfc5905 on loss30 at 64 s: the hold slews the offset after a lost burst in seconds (< 1 ms by 80 s, median)', () => {
  const sync = runs(6, [1, 2, 3, 4, 5], 'loss30').map((c) => c.timeToSync ?? Number.POSITIVE_INFINITY);
  // chrony 4.8: 80 s (median); before: 527, 91, 3, 88, 1 s.
  assert.ok(median(sync) <= 80, `stays below 1 ms from ${sync.join(', ')} s`);
});

test('rfc5905 on loss30 at the defaults: lost polls and a filter keeping older samples lower the poll (seeds 21–30 settle)', () => {
  // Seed 25 before: two updates in the last 16,000 s at 1,024 s polls, the error drifting to −1.25 ms
  // by the end (the only one of seeds 1–40 that never stayed below 1 ms). chrony 4.8 sends 67
  // requests on these seeds (median of 40).
  const rs = [21, 22, 23, 24, 25, 26, 27, 28, 29, 30].map((seed) => {
    const c = new Simulation(standard('loss30'), realEngineFactory(nodeCrypto, 'rfc5905'), seed).run()
      .clients[0];
    assert.ok(c !== undefined);
    return { seed, c };
  });
  for (const { seed, c } of rs) {
    assert.ok(c.timeToSync !== null, `seed ${seed}: ${(c.maxError * 1e6).toFixed(0)} µs off at the end`);
    assert.ok(c.packetsSent <= 100, `seed ${seed}: ${c.packetsSent} requests`);
  }
  const req = rs.map(({ c }) => c.packetsSent);
  assert.ok(median(req) <= 67, `requests ${req.join(', ')}`);
});

test('rfc5905 on wan at 1,024 s: with the iburst split below 1 ms by the first regular poll (1,100 s) in 26 of seeds 1–40 (chrony 24)', () => {
  // Before: 15 (median 2,199 s; chrony 4.8 1,052.5 s): each exchange of a burst replaced the pending
  // slew by its own offset, the 0.1 s at the first regular poll took 50 s at 2,000 ppm, and the hold's
  // end took the FLL's slope over a few points, a queued one weighted whole (3 ppm in seed 2).
  const rs = runs(
    10,
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
  const early = rs.filter((c) => c.timeToSync !== null && c.timeToSync <= 1100).length;
  assert.ok(early >= 26, `${early} of 40 seeds below 1 ms by 1,100 s`);
  const rms = rs.map((c) => c.rmsError);
  assert.ok(median(rms) < 360e-6, `RMS median ${(median(rms) * 1e6).toFixed(0)} µs (chrony 343 µs)`);
  for (const c of rs) assert.ok(c.packetsSent <= 25, `${c.packetsSent} requests`);
});
