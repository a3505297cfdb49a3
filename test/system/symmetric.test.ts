/**
 * Scenario tests of the symmetric modes (RFC 5905 sections 8-9, RFC 9769 section 4): two peers
 * converging on each other, passive mobilisation and demobilisation, crossed packets, loss and
 * restarts, basic and interleaved, and the fallback when one side cannot interleave.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LabLink } from '../../src/sim/lab.js';
import { seeded } from '../../src/sim/rng.js';
import { defaultSourceConfig } from '../../src/system/system.js';
import type { SourceConfig } from '../../src/system/types.js';
import { type FakeLab, type FakeNode, fakeLab } from '../support/fake-discipline.js';

function peer(address: string, xleave: boolean): SourceConfig {
  return { ...defaultSourceConfig(address, 123, 'peer'), minpoll: 4, maxpoll: 6, xleave };
}

function twoPeers(
  seed: number,
  xleave: boolean,
  link: LabLink,
  opts: { passive?: boolean; txLag?: number } = {},
) {
  const h = fakeLab(seed);
  // A is a stratum-1 reference; B follows it through a symmetric association.
  const a = h.addNode({
    name: 'A',
    address: '10.0.0.1',
    config: { localStratum: 1, allowPassive: true, requireAuthForMobilise: false },
    sources: opts.passive ? [] : [peer('10.0.0.2', xleave)],
    txLag: opts.txLag ?? 50e-6,
  });
  const b = h.addNode({
    name: 'B',
    address: '10.0.0.2',
    sources: [peer('10.0.0.1', xleave)],
    discipline: { offset: 0.4 },
    txLag: opts.txLag ?? 50e-6,
    config: { allowPassive: true, requireAuthForMobilise: false },
  });
  h.link('A', 'B', link);
  h.start();
  return { h, a, b };
}

for (const xleave of [false, true]) {
  const mode = xleave ? 'interleaved' : 'basic';

  test(`${mode} symmetric: active peers converge on each other`, () => {
    const { h, a, b } = twoPeers(51, xleave, { delay: 0.004, jitter: 0.0003 });
    h.runFor(600);
    const sb = b.system.snapshot(h.now);
    const sa = a.system.snapshot(h.now);
    assert.equal(sb.sysPeer, '10.0.0.1');
    assert.equal(sb.stratum, 2);
    assert.equal(sb.sources[0]?.interleaved, xleave);
    // A (stratum 1) sees B at stratum 2 and does not follow it.
    assert.equal(sa.sources[0]?.stratum, 2);
    assert.ok(Math.abs(b.error()) < 0.0005, `B error ${b.error()}`);
    assert.ok(Math.abs(a.error()) === 0, 'A keeps its clock');
  });

  test(`${mode} symmetric: 20 % loss, duplicates and reordering`, () => {
    const { h, b } = twoPeers(52, xleave, {
      delay: 0.004,
      jitter: 0.0003,
      loss: 0.2,
      duplicate: 0.2,
      reorder: 0.1,
      reorderDelay: 7,
    });
    h.runFor(400);
    let worst = 0;
    h.runFor(800, () => (worst = Math.max(worst, Math.abs(b.error()))), 8);
    const s = b.system.snapshot(h.now).sources[0];
    assert.ok(s !== undefined);
    assert.ok((s.rejected['test1-duplicate'] ?? 0) > 0, JSON.stringify(s.rejected));
    assert.ok(worst < 0.001, `worst ${worst} ${JSON.stringify(s.rejected)}`);
  });

  test(`${mode} symmetric: restart of either peer`, () => {
    const { h, a, b } = twoPeers(53, xleave, { delay: 0.004, jitter: 0.0003 });
    h.runFor(300);
    a.restart();
    h.runFor(300);
    b.restart();
    h.runFor(400);
    const sb = b.system.snapshot(h.now);
    assert.equal(sb.sysPeer, '10.0.0.1');
    assert.equal(sb.sources[0]?.interleaved, xleave);
    assert.ok(Math.abs(b.error()) < 0.0005, `B error ${b.error()}`);
  });
}

for (const xleave of [false, true]) {
  test(`${xleave ? 'interleaved' : 'basic'} symmetric: packets crossed in flight are rejected, not used`, () => {
    // Two peers of the same stratum (both clients of R) send on their own timers: a peer of a higher
    // stratum would be answered at once (poll.ts peerPacket) and nothing would cross. Long and
    // variable delay between them with 16 s polls: both often send before the other's packet arrives.
    const h = fakeLab(54);
    h.addNode({ name: 'R', address: '10.0.0.3', config: { localStratum: 1 } });
    const ref = { ...defaultSourceConfig('10.0.0.3', 123, 'server'), minpoll: 4, maxpoll: 6 };
    const a = h.addNode({
      name: 'A',
      address: '10.0.0.1',
      sources: [ref, peer('10.0.0.2', xleave)],
      discipline: { offset: -0.2 },
      config: { allowPassive: true, requireAuthForMobilise: false },
    });
    const b = h.addNode({
      name: 'B',
      address: '10.0.0.2',
      sources: [ref, peer('10.0.0.1', xleave)],
      discipline: { offset: 0.4 },
      config: { allowPassive: true, requireAuthForMobilise: false },
    });
    h.link('R', 'A', { delay: 0.004, jitter: 0.0003 });
    h.link('R', 'B', { delay: 0.004, jitter: 0.0003 });
    h.link('A', 'B', { delay: 0.9, jitter: 0.6 });
    h.start();
    h.runFor(900);
    const sb = b.system.snapshot(h.now);
    assert.equal(sb.stratum, 2);
    assert.equal(a.system.snapshot(h.now).stratum, 2);
    const s = sb.sources.find((x) => x.address === '10.0.0.1');
    assert.ok(s !== undefined);
    const crossed =
      (s.rejected.crossed ?? 0) + (s.rejected['test2-bogus'] ?? 0) + (s.rejected['interleaved-bogus'] ?? 0);
    assert.ok(crossed > 0, JSON.stringify(s.rejected));
    if (!xleave) assert.ok((s.rejected.crossed ?? 0) > 0, JSON.stringify(s.rejected));
    // Whatever got through was consistent: A's offset as B measured it is A's error less B's,
    // within the path asymmetry (≤ jitter / 2).
    assert.ok(s.reach !== 0 && s.filter.length > 0, JSON.stringify(s.rejected));
    assert.ok(Math.abs(s.offset - (a.error() - b.error())) < 0.3, `offset ${s.offset}`);
    assert.ok(Math.abs(b.error()) < 0.3, `B error ${b.error()}`);
  });
}

test('interleaved passive association follows an interleaved active peer', () => {
  const { h, a, b } = twoPeers(59, true, { delay: 0.004 }, { passive: true });
  h.runFor(600);
  const sa = a.system.snapshot(h.now);
  const sb = b.system.snapshot(h.now);
  assert.equal(sa.sources[0]?.mode, 'passive');
  assert.equal(sa.sources[0]?.interleaved, true);
  assert.equal(sb.sources[0]?.interleaved, true);
  assert.ok(Math.abs(b.error()) < 0.0005, `B error ${b.error()}`);
});

test('interleaved symmetric removes the transmit latency from the offset', () => {
  const lag = 0.001;
  const err = (xleave: boolean) => {
    const { h, b } = twoPeers(55, xleave, { delay: 0.002 }, { txLag: lag });
    h.runFor(500);
    const e: number[] = [];
    h.runFor(400, () => e.push(b.error()), 8);
    return e.reduce((x, y) => x + y, 0) / e.length;
  };
  const basic = err(false);
  const xl = err(true);
  // Basic: our T1 is precise (reported after the send) but the peer's T3 is its software stamp.
  assert.ok(Math.abs(basic + lag / 2) < lag / 8, `basic ${basic}`);
  assert.ok(Math.abs(xl) < lag / 8, `interleaved ${xl}`);
});

test('passive association is mobilised by mode 1 and demobilised when unreachable', () => {
  const { h, a, b } = twoPeers(56, false, { delay: 0.004 }, { passive: true });
  h.runFor(300);
  const sa = a.system.snapshot(h.now);
  assert.equal(sa.sources.length, 1);
  assert.equal(sa.sources[0]?.mode, 'passive');
  assert.ok(a.events.some((e) => e.kind === 'source-added'));
  assert.equal(b.system.snapshot(h.now).sysPeer, '10.0.0.1');
  b.up = false;
  h.runFor(2000);
  assert.equal(a.system.snapshot(h.now).sources.length, 0);
  assert.ok(a.events.some((e) => e.kind === 'source-removed' && e.reason === 'passive peer unreachable'));
});

test('a mode 1 packet without association and without allowPassive gets a stateless mode 2 answer', () => {
  const h = fakeLab(57);
  const a = h.addNode({ name: 'A', address: '10.0.0.1', config: { localStratum: 1, allowPassive: false } });
  const b = h.addNode({
    name: 'B',
    address: '10.0.0.2',
    sources: [peer('10.0.0.1', false)],
    discipline: { offset: 0.3 },
  });
  h.link('A', 'B', { delay: 0.003 });
  h.start();
  h.runFor(300);
  assert.equal(a.system.snapshot(h.now).sources.length, 0);
  assert.equal(b.system.snapshot(h.now).sysPeer, '10.0.0.1');
  assert.ok(Math.abs(b.error()) < 0.0005);
});

test('interleaved symmetric peer falls back to basic against a basic-only peer', () => {
  const h = fakeLab(58);
  h.addNode({
    name: 'A',
    address: '10.0.0.1',
    config: { localStratum: 1 },
    sources: [peer('10.0.0.2', false)],
  });
  const b = h.addNode({
    name: 'B',
    address: '10.0.0.2',
    sources: [peer('10.0.0.1', true)],
    discipline: { offset: 0.3 },
  });
  h.link('A', 'B', { delay: 0.003 });
  h.start();
  h.runFor(600);
  const s = b.system.snapshot(h.now).sources[0];
  assert.ok(s !== undefined);
  assert.equal(s.interleaved, false);
  assert.equal(s.rejected['interleaved-unsupported'], 1);
  assert.ok(Math.abs(b.error()) < 0.0005, `B error ${b.error()}`);
});

test('with requireAuthForMobilise, only an authenticated mode 1 packet mobilises a passive association', () => {
  const key = { id: 5, type: 'SHA1' as const, key: new TextEncoder().encode('peer-secret') };
  const run = (signed: boolean) => {
    const h = fakeLab(60);
    const a = h.addNode({
      name: 'A',
      address: '10.0.0.1',
      config: { localStratum: 1, allowPassive: true, requireAuthForMobilise: true, keys: [key] },
    });
    const b = h.addNode({
      name: 'B',
      address: '10.0.0.2',
      config: { keys: [key] },
      sources: [{ ...peer('10.0.0.1', false), ...(signed ? { key: 5 } : {}) }],
      discipline: { offset: 0.3 },
    });
    h.link('A', 'B', { delay: 0.003 });
    h.start();
    h.runFor(400);
    return { a: a.system.snapshot(h.now), b: b.system.snapshot(h.now), err: b.error() };
  };
  const signed = run(true);
  assert.equal(signed.a.sources.length, 1);
  assert.equal(signed.a.sources[0]?.auth, 'ok');
  assert.equal(signed.a.sources[0]?.keyId, 5);
  assert.equal(signed.b.sources[0]?.auth, 'ok');
  assert.ok(Math.abs(signed.err) < 0.0005);
  const unsigned = run(false);
  // Not mobilised, but still answered statelessly in mode 2.
  assert.equal(unsigned.a.sources.length, 0);
  assert.equal(unsigned.b.sysPeer, '10.0.0.1');
});

/**
 * Peers polling at different intervals (each side sends on its own timer, as chronyd does against a
 * faster ntpkit). B follows A; `fast` says which side polls faster.
 */
function unequalPeers(
  seed: number,
  xleave: boolean,
  polls: { a: number; b: number },
  link: LabLink,
): { h: FakeLab; a: FakeNode; b: FakeNode } {
  const h = fakeLab(seed);
  const a = h.addNode({
    name: 'A',
    address: '10.0.0.1',
    config: { localStratum: 1, allowPassive: true, requireAuthForMobilise: false },
    sources: [{ ...peer('10.0.0.2', xleave), minpoll: polls.a, maxpoll: polls.a }],
  });
  const b = h.addNode({
    name: 'B',
    address: '10.0.0.2',
    sources: [{ ...peer('10.0.0.1', xleave), minpoll: polls.b, maxpoll: polls.b }],
    discipline: { offset: 0.05 },
    config: { allowPassive: true, requireAuthForMobilise: false },
  });
  h.link('A', 'B', link);
  h.start();
  return { h, a, b };
}

for (const xleave of [false, true]) {
  const mode = xleave ? 'interleaved' : 'basic';
  for (const polls of [
    { a: 0, b: -2 },
    { a: -2, b: 0 },
    { a: 6, b: 4 },
    { a: 4, b: 6 },
  ]) {
    const seconds = 2 ** Math.max(polls.a, polls.b) * 100;
    test(`${mode} symmetric, unequal polls A ${polls.a} / B ${polls.b}: no dummy samples, B synchronises`, () => {
      const { h, a, b } = unequalPeers(70 + polls.a, xleave, polls, { delay: 0.0002, jitter: 0.00005 });
      h.runFor(seconds);
      for (const n of [a, b]) {
        const s = n.system.snapshot(h.now).sources[0];
        assert.ok(s !== undefined);
        // Every peer interval brought a valid packet: the register is full and the filter holds eight
        // real samples (a dummy sample would take a stage and show as a missing register).
        // (Bit 0 is the period under way: the peer's next packet may still be to come.)
        assert.equal(
          s.reach | 1,
          0xff,
          `${n.spec.name} reach ${s.reach.toString(8)} ${JSON.stringify(s.rejected)}`,
        );
        assert.equal(s.interleaved, xleave, `${n.spec.name} ${JSON.stringify(s.rejected)}`);
        assert.ok(!n.events.some((e) => e.kind === 'unreachable'), `${n.spec.name} became unreachable`);
      }
      // A (stratum 1) rejects B's packets as a loop (B follows A); B's filter holds eight real samples.
      const s = b.system.snapshot(h.now).sources[0];
      assert.ok(s !== undefined);
      assert.equal(s.filter.length, 8, `filter ${JSON.stringify(s.filter)}`);
      assert.ok(s.dispersion < 0.05, `dispersion ${s.dispersion}`);
      assert.equal(s.rejected['negative-delay'], undefined, JSON.stringify(s.rejected));
      const sb = b.system.snapshot(h.now);
      assert.equal(sb.sysPeer, '10.0.0.1');
      assert.ok(Math.abs(b.error()) < 0.0002, `B error ${b.error()}`);
    });

    test(`${mode} symmetric, unequal polls A ${polls.a} / B ${polls.b} with 10 % loss and reordering`, () => {
      const { h, b } = unequalPeers(80 + polls.b, xleave, polls, {
        delay: 0.0002,
        jitter: 0.00005,
        loss: 0.1,
        reorder: 0.05,
        reorderDelay: 2 ** Math.min(polls.a, polls.b) * 1.5,
      });
      h.runFor(seconds);
      let worst = 0;
      let synced = 0;
      let probes = 0;
      h.runFor(
        seconds / 2,
        () => {
          worst = Math.max(worst, Math.abs(b.error()));
          probes++;
          if (b.system.snapshot(h.now).sysPeer === '10.0.0.1') synced++;
        },
        2 ** Math.max(polls.a, polls.b),
      );
      const s = b.system.snapshot(h.now).sources[0];
      assert.ok(s !== undefined);
      // Basic mode accepts only answers to our newest packet (RFC 5905 section 8): with loss, the
      // faster side loses more than the packets themselves and may now and then lose its peer.
      assert.ok(
        synced >= 0.8 * probes,
        `B synchronised at ${synced} of ${probes} ${JSON.stringify(s.rejected)}`,
      );
      // No sample made of timestamps of two different round trips got through.
      assert.ok(worst < 0.0005, `worst ${worst} ${JSON.stringify(s.rejected)}`);
      assert.ok(s.dispersion < 0.5, `dispersion ${s.dispersion}`);
    });
  }
}

test('interleaved symmetric, faster side: the peer answer names exactly which of our packets it got', () => {
  // B sends four packets per packet of A; a third of B's packets are lost, so A's last received one is
  // often not B's newest. Nothing from A is lost, so every interleaved answer B accepts can be paired
  // exactly: no sample may have to be discarded for a negative delay.
  const { h, b } = unequalPeers(91, true, { a: 0, b: -2 }, { delay: 0.0002, jitter: 0.00005 });
  const drop = seeded(7);
  h.filter = (p) => (p.from === 'B' && drop() < 0.33 ? 'drop' : 'deliver');
  h.runFor(100);
  let worst = 0;
  h.runFor(100, () => (worst = Math.max(worst, Math.abs(b.error()))), 1);
  const s = b.system.snapshot(h.now).sources[0];
  assert.ok(s !== undefined);
  assert.equal(s.interleaved, true);
  assert.equal(s.rejected['negative-delay'], undefined, JSON.stringify(s.rejected));
  assert.equal(s.rejected['interleaved-bogus'], undefined, JSON.stringify(s.rejected));
  assert.ok(s.filter.length === 8, JSON.stringify(s.filter));
  assert.ok(worst < 0.0002, `worst ${worst} ${JSON.stringify(s.rejected)}`);
});
