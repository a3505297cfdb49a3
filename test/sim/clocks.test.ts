/**
 * Both clocks on the standard scenarios through the real engine (issue 11): start-up, adaptive polling
 * against chrony's request budget, long polls without divergence, and one-sided queueing. The chrony
 * figures are chrony 4.8 under clknetsim on the same scenario models (`npm run bench:accuracy`,
 * docs/BENCHMARKS.md), medians over seeds 1–5.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DisciplineKind } from '../../src/clock/index.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { realEngineFactory } from '../../src/sim/engines.js';
import { Simulation } from '../../src/sim/simulation.js';
import type { ClientResult, Scenario } from '../../src/sim/types.js';
import { pinned, standard } from './support.js';

const CLOCKS: DisciplineKind[] = ['feedforward', 'rfc5905'];

function run(sc: Scenario, clock: DisciplineKind, seed: number): ClientResult {
  const r = new Simulation(sc, realEngineFactory(nodeCrypto, clock), seed).run();
  const c = r.clients.find((x) => x.node === 'client');
  assert.ok(c !== undefined);
  return c;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

const us = (s: number) => `${(s * 1e6).toFixed(1)} µs`;

/** Clock error and poll exponent of the client every `every` s (true time). */
function trace(sc: Scenario, clock: DisciplineKind, seed: number, every: number) {
  const sim = new Simulation(sc, realEngineFactory(nodeCrypto, clock), seed);
  const out: { t: number; err: number; poll: number; synchronised: boolean }[] = [];
  const node = sim.nodes.find((n) => n.spec.name === 'client');
  assert.ok(node !== undefined);
  for (const n of sim.nodes) sim.scheduler.at(n.spec.start, () => n.start());
  for (let t = 0; t <= sc.duration; t += every) {
    sim.scheduler.runUntil(t);
    const s = node.snapshot(t);
    out.push({ t, err: node.clockError(t), poll: s.poll, synchronised: s.synchronised });
  }
  return out;
}

test('start-up: the initial 0.1 s offset is stepped at the first reply; the reading is right 2 s later', () => {
  for (const clock of CLOCKS) {
    for (const name of ['lan-default', 'wan']) {
      const tr = trace(standard(name, { duration: 20 }), clock, 1, 0.5);
      const at = (t: number) => tr.find((p) => p.t >= t);
      // The first reply arrives within milliseconds; the burst's second one 2 s later.
      const first = at(0.5);
      assert.ok(
        first !== undefined && Math.abs(first.err) < 2e-3,
        `${clock} ${name}: ${first?.err} at 0.5 s`,
      );
      const later = tr.filter((p) => p.t >= 2.5 && p.t <= 20);
      const worst = Math.max(...later.map((p) => Math.abs(p.err)));
      assert.ok(worst < 2e-3, `${clock} ${name}: worst ${us(worst)} between 2.5 and 20 s`);
    }
  }
});

test('start-up: time to stay below 1 ms no later than chrony (6 s at 64 s polls, 1,046 s at 1,024 s)', () => {
  for (const clock of CLOCKS) {
    for (const [poll, chrony] of [
      [6, 6],
      [10, 1046],
    ] as const) {
      const sc = pinned(standard('lan-default'), poll);
      const syncs = [1, 2, 3, 4, 5].map(
        (seed) => run(sc, clock, seed).timeToSync ?? Number.POSITIVE_INFINITY,
      );
      assert.ok(median(syncs) <= chrony, `${clock} poll ${poll}: ${syncs.join(', ')} s`);
    }
  }
});

test('adaptive polling: at the defaults no more requests than chrony, the poll rising in calm conditions', () => {
  // chrony 4.8 at its defaults (minpoll 6, maxpoll 10), requests per client over the 20,000 s run,
  // medians over seeds 1–5; loss30 over seeds 1–12 against chrony's median over seeds 1–40 (67): its
  // request counts spread widely between seeds (the feed-forward clock 60–78 over seeds 1–5, median
  // 68 against chrony's 63 there, while over seeds 1–40 it is 61 against 67).
  const chrony: Record<string, [number, number]> = {
    'lan-default': [51, 5],
    wan: [46, 5],
    loss30: [67, 12],
    'level-shift': [50, 5],
  };
  for (const clock of CLOCKS) {
    for (const [name, [budget, seeds]] of Object.entries(chrony)) {
      const rs = Array.from({ length: seeds }, (_, i) => run(standard(name), clock, i + 1));
      const req = median(rs.map((c) => c.packetsSent));
      assert.ok(req <= budget, `${clock} ${name}: ${req} requests, chrony ${budget}`);
      assert.ok(median(rs.map((c) => c.meanPoll ?? 0)) > 400, `${clock} ${name}: mean poll`);
    }
  }
  // Calm LAN: the poll climbs to 2^9 s within the first hour and stays near maxpoll.
  const tr = trace(standard('lan-default'), 'feedforward', 1, 64);
  assert.ok(
    tr.some((p) => p.t < 3600 && p.poll >= 9),
    'poll 2^9 s within an hour',
  );
  const late = tr.filter((p) => p.t > 4000).map((p) => p.poll);
  assert.ok(median(late) >= 9, `median poll exponent after 4,000 s: ${median(late)}`);
});

// The poll falling on trouble and rising again, and the budgets with several sources: polling.test.ts.

test('no divergence at 1,024 s polls: both clocks, five seeds', () => {
  // Before: 13–16 ms (feed-forward) and up to 150 ms (RFC 5905) RMS in lan-default. The RFC 5905 loop
  // still needs hours for a WAN start-up transient (seed 1: 1.5 ms RMS), hence its wider bound.
  for (const [clock, rms, max] of [
    ['feedforward', 1e-3, 5e-3],
    ['rfc5905', 2e-3, 10e-3],
  ] as const) {
    for (const name of ['lan-default', 'wan', 'level-shift']) {
      for (const seed of [1, 2, 3, 4, 5]) {
        const c = run(pinned(standard(name), 10), clock, seed);
        assert.ok(c.rmsError < rms, `${clock} ${name} seed ${seed}: RMS ${us(c.rmsError)}`);
        assert.ok(c.maxError < max, `${clock} ${name} seed ${seed}: max ${us(c.maxError)}`);
        assert.ok(c.steps <= 2, `${clock} ${name} seed ${seed}: ${c.steps} steps`);
      }
    }
  }
});

test('one-sided queueing: the feed-forward clock settles within 50 µs of the true time', () => {
  // Reply direction exp(3 ms), request direction exp(0.3 ms), 1 s polls, 27 % lost. Before the
  // asymmetry estimate both clocks settled 180–200 µs (feed-forward) and 550 µs (RFC 5905) behind.
  for (const seed of [1, 2, 3]) {
    const c = run(standard('one-sided', { duration: 6000, warmup: 2000 }), 'feedforward', seed);
    assert.ok(Math.abs(c.meanError) < 50e-6, `seed ${seed}: mean ${us(c.meanError)}`);
    assert.ok(c.rmsError < 150e-6, `seed ${seed}: RMS ${us(c.rmsError)}`);
  }
});

test('start-up at 1 s polls: the burst runs at a quarter of the poll; synchronised within a second', () => {
  const sc = pinned(standard('wan', { duration: 10 }), 0);
  for (const clock of CLOCKS) {
    const tr = trace(sc, clock, 1, 0.25);
    const at1 = tr.find((p) => p.t >= 1);
    assert.equal(at1?.synchronised, true, `${clock}: synchronised at 1 s`);
    const worst = Math.max(...tr.filter((p) => p.t >= 1).map((p) => Math.abs(p.err)));
    assert.ok(worst < 1e-3, `${clock}: worst ${us(worst)} from 1 s`);
  }
});
