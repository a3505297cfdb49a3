/**
 * The RFC 5905 clock under one-sided queueing (issue 11, item 6): scenarios/one-sided.toml (equal base
 * delays, reply queue exp(3 ms), request exp(0.3 ms), 1 s polls, 27 % lost) and one-sided-shift.toml
 * (the reply base delay up by 1 ms and 0.5 ms for 7,000 s). Before: every exchange weighted by its
 * queueing alone left the clock at the weighted mean of −E/2, a mean error of −742 to −759 µs
 * (one-sided) and −895 to −912 µs (one-sided-shift) over seeds 1–5; the feed-forward clock is within
 * 50 µs there. Also the detector alone (`OneSided`): one-sided paths found, symmetric ones not, even
 * when a few heavily queued exchanges dominate the least-squares slope.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OneSided } from '../../src/clock/peer-exchanges.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { realEngineFactory } from '../../src/sim/engines.js';
import { Rng } from '../../src/sim/rng.js';
import { Simulation } from '../../src/sim/simulation.js';
import { standard } from './support.js';

function run(name: string, seed: number) {
  const c = new Simulation(standard(name), realEngineFactory(nodeCrypto, 'rfc5905'), seed).run().clients[0];
  assert.ok(c !== undefined);
  return c;
}

test('rfc5905 on one-sided queueing: mean error within 50 µs of zero, RMS below 150 µs', () => {
  for (const [name, seed] of [
    ['one-sided', 1],
    ['one-sided', 2],
    ['one-sided-shift', 3],
  ] as const) {
    const c = run(name, seed);
    const us = (x: number) => `${(x * 1e6).toFixed(1)} µs`;
    assert.ok(Math.abs(c.meanError) < 50e-6, `${name} seed ${seed}: mean error ${us(c.meanError)}`);
    // (chrony 4.8: 134–139 µs on one-sided, 192–210 µs with the shifts; before: 764–951 µs.)
    assert.ok(c.rmsError < 150e-6, `${name} seed ${seed}: RMS ${us(c.rmsError)}`);
  }
});

/** Feeds `n` exchanges 1 s apart with queueing `q()` = [request, reply] (s); the slopes seen. */
function feed(n: number, q: () => [number, number]): number[] {
  const d = new OneSided();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const [f, r] = q();
    d.add(i, (f - r) / 2, 400e-6 + f + r);
    out.push(d.slope());
  }
  return out;
}

test('OneSided: a reply-queued path is found (slope near −0.5), a request-queued one (+0.5)', () => {
  const rng = new Rng(7);
  const exp = (m: number) => -m * Math.log(1 - rng.next());
  const reply = feed(500, () => [exp(0.3e-3), exp(3e-3)]);
  const k = reply[reply.length - 1] ?? 0;
  assert.ok(k < -0.4 && k >= -0.5, `slope ${k}`);
  // Not before the fewest pairs it needs.
  assert.equal(reply[10], 0);
  const req = feed(500, () => [exp(3e-3), exp(0.3e-3)]);
  assert.ok((req[req.length - 1] ?? 0) > 0.4, `slope ${req[req.length - 1]}`);
});

test('OneSided: symmetric queueing, also with rare large queueing on either side, is not one-sided', () => {
  const rng = new Rng(11);
  const exp = (m: number) => -m * Math.log(1 - rng.next());
  const sym = feed(3000, () => [exp(1e-3), exp(1e-3)]);
  assert.equal(sym.filter((k) => k !== 0).length, 0);
  // Mostly quiet, with an occasional 5 ms queue on one side or the other: each such pair's slope
  // alone is ±0.5, so a few of one sign in a row can make the least-squares slope one-sided.
  const rare = feed(3000, () => {
    const big = rng.next() < 0.03 ? exp(5e-3) : 0;
    return rng.next() < 0.5 ? [exp(50e-6) + big, exp(50e-6)] : [exp(50e-6), exp(50e-6) + big];
  });
  assert.equal(rare.filter((k) => k !== 0).length, 0);
});
