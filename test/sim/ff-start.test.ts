/**
 * The feed-forward clock's start-up on the WAN model (scenarios/wan.toml: 10 ms + exp(1 ms) each way,
 * 0.1 s off, +100 ppm), judged over 100 seeds against chrony 4.8 under clknetsim on the same model and
 * budget (`npm run bench:accuracy -- --scenario wan --poll 6|10 --clock chrony --seeds 100`).
 *
 * Five seeds do not decide this. After the iburst the rate is known only to tens of ppm (six exchanges
 * over 10 s, each offset within ±E/2 of its queueing E), so the first regular exchange sets both the
 * offset and the rate, and its own error (uniform within ±E/2, E the sum of two exp(1 ms)) is carried
 * on as a rate error until a low-delay exchange comes: chrony is in the same position (its clock was
 * 219 µs and 5.9 ppm off after the first regular poll of seed 2). On seeds 1–5 the feed-forward clock
 * stays below 1 ms from 142 s (median; 73–326) against chrony's 74 s, on seeds 1–100 it does so by
 * the first regular poll more often than chrony.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { realEngineFactory } from '../../src/sim/engines.js';
import { Simulation } from '../../src/sim/simulation.js';
import { pinned, standard } from './support.js';

const SEEDS = Array.from({ length: 100 }, (_, i) => i + 1);

/** Time after which |error| stays below 1 ms, per seed (Infinity: not by the end). */
function syncTimes(poll: number): number[] {
  return SEEDS.map((seed) => {
    const r = new Simulation(
      pinned(standard('wan'), poll),
      realEngineFactory(nodeCrypto, 'feedforward'),
      seed,
    ).run();
    const c = r.clients.find((x) => x.node === 'client');
    assert.ok(c !== undefined);
    return c.timeToSync ?? Number.POSITIVE_INFINITY;
  });
}

test('wan at 64 s polls: below 1 ms by the first regular poll (90 s) in at least as many seeds as chrony (56 of 100)', () => {
  // chrony 4.8: 56 of seeds 1–100 by 90 s, median 81 s, the worst 18,049 s. Feed-forward at 2026-12-02
  // 20:30: 66, median 76 s, the worst 395 s.
  const ts = syncTimes(6);
  const early = ts.filter((t) => t <= 90).length;
  assert.ok(early >= 56, `${early} of 100 seeds below 1 ms by 90 s`);
  const worst = Math.max(...ts);
  assert.ok(worst <= 600, `the slowest seed stays below 1 ms from ${worst} s`);
});

test('wan at 1,024 s polls: below 1 ms by the first regular poll (1,100 s) in 80 of 100 seeds (chrony 52)', () => {
  // chrony 4.8: 52 of seeds 1–100 by 1,100 s, median 1,063 s, one seed never. Feed-forward before the
  // iburst split (src/clock/iburst-split.ts): 59, median 1,069.5 s (the first regular poll comes
  // 973–1,075 s after the burst: ±5 % spread); with it 89, median 1,042 s.
  const ts = syncTimes(10);
  const early = ts.filter((t) => t <= 1100).length;
  assert.ok(early >= 80, `${early} of 100 seeds below 1 ms by 1,100 s`);
});
