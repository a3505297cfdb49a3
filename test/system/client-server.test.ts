/**
 * Scenario tests of the client/server modes (basic and interleaved, RFC 5905 section 8 and RFC 9769
 * section 3) in the deterministic harness: loss, duplication, reordering, restarts of either side,
 * interleaved accuracy and the fallback to basic mode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LabLink } from '../../src/sim/lab.js';
import { defaultSourceConfig } from '../../src/system/system.js';
import type { SourceConfig } from '../../src/system/types.js';
import { type FakeLab, type FakeNode, fakeLab } from '../support/fake-discipline.js';

function source(xleave: boolean, extra: Partial<SourceConfig> = {}): SourceConfig {
  return { ...defaultSourceConfig('10.0.0.1'), minpoll: 4, maxpoll: 6, iburst: true, xleave, ...extra };
}

function pair(seed: number, xleave: boolean, link: LabLink, txLag = 50e-6, offset = 0.5) {
  const h = fakeLab(seed);
  const s = h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 }, txLag });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    sources: [source(xleave)],
    discipline: { offset },
    txLag,
  });
  h.link('S', 'C', link);
  h.start();
  return { h, s, c };
}

/** Largest |clock error| over the last `seconds` of the run, sampled every 8 s. */
function maxErrorOver(h: FakeLab, c: FakeNode, seconds: number): number {
  let worst = 0;
  h.runFor(seconds, () => (worst = Math.max(worst, Math.abs(c.error()))), 8);
  return worst;
}

for (const xleave of [false, true]) {
  const mode = xleave ? 'interleaved' : 'basic';

  test(`${mode}: converges and stays synchronised through 20 % loss`, () => {
    const { h, c } = pair(11, xleave, { delay: 0.005, jitter: 0.0005, loss: 0.2 });
    h.runFor(300);
    const err = maxErrorOver(h, c, 600);
    const snap = c.system.snapshot(h.now);
    assert.equal(snap.sysPeer, '10.0.0.1');
    assert.ok(err < 0.001, `max error ${err}`);
  });

  test(`${mode}: duplicated packets are rejected as test1-duplicate and do no harm`, () => {
    const { h, c } = pair(12, xleave, { delay: 0.005, jitter: 0.0005, duplicate: 0.5 });
    h.runFor(300);
    const err = maxErrorOver(h, c, 300);
    const s = c.system.snapshot(h.now).sources[0];
    assert.ok(s !== undefined);
    assert.ok((s.rejected['test1-duplicate'] ?? 0) > 5, JSON.stringify(s.rejected));
    assert.ok(err < 0.001, `max error ${err}`);
  });

  test(`${mode}: reordered (late) responses are rejected as test2-bogus`, () => {
    const { h, c } = pair(13, xleave, { delay: 0.005, jitter: 0.0005, reorder: 0.2, reorderDelay: 20 });
    h.runFor(300);
    const err = maxErrorOver(h, c, 600);
    const s = c.system.snapshot(h.now).sources[0];
    assert.ok(s !== undefined);
    assert.ok((s.rejected['test2-bogus'] ?? 0) > 0, JSON.stringify(s.rejected));
    assert.ok(err < 0.001, `max error ${err}`);
  });

  test(`${mode}: survives a server restart and a client restart`, () => {
    const { h, s, c } = pair(14, xleave, { delay: 0.005, jitter: 0.0005 });
    h.runFor(300);
    s.restart();
    h.runFor(200);
    const after = c.system.snapshot(h.now);
    assert.equal(after.sysPeer, '10.0.0.1');
    if (xleave) assert.equal(after.sources[0]?.interleaved, true);
    c.restart();
    const err = maxErrorOver(h, c, 400);
    const snap = c.system.snapshot(h.now);
    assert.equal(snap.sysPeer, '10.0.0.1');
    assert.ok(err < 0.001, `max error ${err}`);
  });
}

test('interleaved removes the server transmit latency from the clock error; basic does not', () => {
  const lag = 0.0008;
  const run = (xleave: boolean) => {
    const { h, c } = pair(21, xleave, { delay: 0.002 }, lag, 0.5);
    h.runFor(400);
    const errors: number[] = [];
    h.runFor(400, () => errors.push(c.error()), 8);
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    return { mean, interleaved: c.system.snapshot(h.now).sources[0]?.interleaved };
  };
  const basic = run(false);
  const xl = run(true);
  assert.equal(basic.interleaved, false);
  assert.equal(xl.interleaved, true);
  // Basic mode: the server's software transmit timestamp is `lag` early, so the client settles lag/2 behind.
  assert.ok(Math.abs(basic.mean + lag / 2) < lag / 8, `basic mean error ${basic.mean}`);
  assert.ok(Math.abs(xl.mean) < lag / 8, `interleaved mean error ${xl.mean}`);
});

test('interleaved client falls back to basic against a server without interleaved support', () => {
  const h = fakeLab(31);
  // Table size 0: the server cannot answer interleaved, like a basic-only server.
  h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1, interleavedTableSize: 0 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    sources: [source(true)],
    discipline: { offset: 0.02 },
  });
  h.link('S', 'C', { delay: 0.003 });
  h.start();
  h.runFor(600);
  const s = c.system.snapshot(h.now).sources[0];
  assert.ok(s !== undefined);
  assert.equal(s.interleaved, false);
  assert.equal(s.rejected['interleaved-unsupported'], 1);
  assert.equal(c.system.snapshot(h.now).sysPeer, '10.0.0.1');
  assert.ok(Math.abs(c.error()) < 0.001);
});

test('the server answers interleaved requests and its table stays within the configured size', () => {
  const h = fakeLab(41);
  const s = h.addNode({
    name: 'S',
    address: '10.0.0.1',
    config: { localStratum: 1, interleavedTableSize: 4 },
  });
  const clients: FakeNode[] = [];
  for (let i = 0; i < 3; i++) {
    const c = h.addNode({ name: `C${i}`, address: `10.0.1.${i + 1}`, sources: [source(true)] });
    h.link('S', `C${i}`, { delay: 0.002 });
    clients.push(c);
  }
  h.start();
  h.runFor(400);
  const snap = s.system.snapshot(h.now);
  assert.ok((snap.extra?.interleavedTableEntries as number) <= 4);
  assert.ok((snap.extra?.serverRequests as number) > 60, 'many more exchanges than table slots');
  for (const c of clients) assert.equal(c.system.snapshot(h.now).sources[0]?.interleaved, true);
  assert.ok((snap.extra?.interleavedResponses as number) > 0);
  assert.ok((snap.extra?.serverResponses as number) > (snap.extra?.interleavedResponses as number));
});

test(`after the start-up step, the announced root dispersion is that of the real samples`, () => {
  // Regression: the first clock update after a step came from a filter holding one real sample and
  // seven empty stages, and the system announced their MAXDISP-weighted dispersion (7.94 s) as
  // its root dispersion while synchronised, until the next filter update.
  const h = fakeLab(21);
  h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    sources: [{ ...source(false), minpoll: 0, maxpoll: 0 }],
    discipline: { offset: 0.5 },
  });
  h.link('S', 'C', { delay: 0.001, jitter: 0.0001 });
  h.start();
  let worst = 0;
  let synced = 0;
  h.runFor(
    60,
    () => {
      const s = c.system.snapshot(h.now);
      if (!s.synchronised) return;
      synced++;
      worst = Math.max(worst, s.rootDispersion);
    },
    0.25,
  );
  assert.ok(synced > 100, `synchronised in ${synced} samples`);
  assert.ok(worst < 0.1, `root dispersion up to ${worst} s while synchronised`);
});
