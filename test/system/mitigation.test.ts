/**
 * Scenario tests of the system process (RFC 5905 section 11): selection with falsetickers, a server
 * that steps, and root delay / root dispersion accumulating along a stratum chain (section 11.3).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHI } from '../../src/algo/constants.js';
import { defaultSourceConfig } from '../../src/system/system.js';
import type { SourceConfig } from '../../src/system/types.js';
import { fakeLab } from '../support/fake-discipline.js';

function server(address: string): SourceConfig {
  return { ...defaultSourceConfig(address), minpoll: 4, maxpoll: 6, iburst: true };
}

test('5 servers of which 2 are falsetickers: marked, never selected, clock within the truechimers bound', () => {
  const h = fakeLab(61);
  const offsets = [0, 0.0008, -0.0006, 0.25, -0.4];
  const addrs = offsets.map((_, i) => `10.0.0.${i + 1}`);
  offsets.forEach((off, i) => {
    h.addNode({
      name: `S${i}`,
      address: addrs[i] ?? '',
      config: { localStratum: 1 },
      discipline: { offset: off },
    });
  });
  const c = h.addNode({
    name: 'C',
    address: '10.0.1.1',
    sources: addrs.map(server),
    discipline: { offset: 0.2 },
  });
  offsets.forEach((_, i) => {
    h.link(`S${i}`, 'C', { delay: 0.003 + 0.002 * i, jitter: 0.0005 });
  });
  h.start();
  h.runFor(120);
  let worstExcess = Number.NEGATIVE_INFINITY;
  let probes = 0;
  h.runFor(
    1200,
    () => {
      const snap = c.system.snapshot(h.now);
      probes++;
      for (const s of snap.sources) {
        if (s.address === '10.0.0.4' || s.address === '10.0.0.5') {
          assert.equal(s.verdict, 'falseticker', `${s.address}: ${s.verdict} (${s.verdictReason})`);
          assert.notEqual(snap.sysPeer, s.id);
        } else {
          assert.ok(['sys-peer', 'combined'].includes(s.verdict), `${s.address}: ${s.verdict}`);
        }
      }
      // The true time is inside every truechimer's correctness interval, so our clock must be within
      // the largest truechimer root distance (plus the truechimers' own clock errors) of it.
      const bound = Math.max(
        ...snap.sources.filter((s) => s.verdict !== 'falseticker').map((s) => s.rootDistance),
      );
      worstExcess = Math.max(worstExcess, Math.abs(c.error()) - (bound + 0.0008));
    },
    16,
  );
  assert.ok(probes > 50);
  assert.ok(worstExcess < 0, `clock outside the truechimer bound by ${worstExcess}`);
  assert.ok(Math.abs(c.error()) < 0.001, `error ${c.error()}`);
  const snap = c.system.snapshot(h.now);
  const ft = snap.sources.find((s) => s.address === '10.0.0.4');
  assert.match(ft?.verdictReason ?? '', /outside the intersection/);
});

test('a server that steps by 1 s becomes a falseticker among three', () => {
  const h = fakeLab(62);
  const addrs = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
  addrs.forEach((a, i) => {
    h.addNode({ name: `S${i}`, address: a, config: { localStratum: 1 } });
  });
  const c = h.addNode({
    name: 'C',
    address: '10.0.1.1',
    sources: addrs.map(server),
    discipline: { offset: 0.3 },
  });
  addrs.forEach((_, i) => {
    h.link(`S${i}`, 'C', { delay: 0.004, jitter: 0.0004 });
  });
  h.start();
  h.runFor(400);
  // A fault of the server's clock (not a step its software made and would announce).
  h.node('S1').discipline.clock.offset += 1;
  let worst = 0;
  h.runFor(800, () => (worst = Math.max(worst, Math.abs(c.error()))), 8);
  const snap = c.system.snapshot(h.now);
  assert.equal(snap.sources.find((s) => s.address === '10.0.0.2')?.verdict, 'falseticker');
  assert.ok(worst < 0.001, `worst ${worst}`);
  assert.equal(c.events.filter((e) => e.kind === 'clock-step').length, 1, 'only the initial step');
});

test('a single server that steps by 1 s: the spike is suppressed first, then the client follows', () => {
  const h = fakeLab(63);
  const s = h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.1.1',
    sources: [server('10.0.0.1')],
    discipline: { offset: 0.3 },
  });
  h.link('S', 'C', { delay: 0.004, jitter: 0.0004 });
  h.start();
  h.runFor(400);
  const stepsBefore = c.events.filter((e) => e.kind === 'clock-step').length;
  s.discipline.clock.offset += 1;
  h.runFor(600);
  const steps = c.events.filter((e) => e.kind === 'clock-step');
  assert.equal(steps.length, stepsBefore + 1);
  const last = steps[steps.length - 1];
  assert.ok(last?.kind === 'clock-step' && Math.abs(last.offset - 1) < 0.002);
  const src = c.system.snapshot(h.now).sources[0];
  assert.ok((src?.rejected['popcorn-spike'] ?? 0) >= 1, JSON.stringify(src?.rejected));
  assert.ok(Math.abs(c.error() - 1) < 0.001, `error ${c.error()}`);
});

test('stratum 1 → 2 → 3: root delay and root dispersion accumulate (RFC 5905 section 11.3)', () => {
  const h = fakeLab(64);
  h.addNode({ name: 'A', address: '10.0.0.1', config: { localStratum: 1 } });
  const b = h.addNode({
    name: 'B',
    address: '10.0.0.2',
    sources: [server('10.0.0.1')],
    discipline: { offset: 0.2 },
  });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.3',
    sources: [server('10.0.0.2')],
    discipline: { offset: -0.3 },
  });
  h.link('A', 'B', { delay: 0.01, delayBack: 0.012 });
  h.link('B', 'C', { delay: 0.02 });
  h.start();
  h.runFor(900);
  const sb = b.system.snapshot(h.now);
  const sc = c.system.snapshot(h.now);
  assert.equal(sb.stratum, 2);
  assert.equal(sc.stratum, 3);
  assert.equal(sc.refid, '10.0.0.2');
  assert.equal(sb.refid, '10.0.0.1');
  const short = 2 ** -16;
  // B: root delay = A's (0) + the A–B round trip (0.022 s plus transmit latencies).
  assert.ok(Math.abs(sb.rootDelay - 0.0221) < 0.0002, `B root delay ${sb.rootDelay}`);
  // C: root delay = B's advertised root delay + the B–C round trip.
  const fromB = sc.sources[0];
  assert.ok(fromB !== undefined);
  assert.ok(Math.abs(fromB.rootDelay - sb.rootDelay) <= short, `${fromB.rootDelay} vs ${sb.rootDelay}`);
  assert.ok(
    Math.abs(sc.rootDelay - (fromB.rootDelay + fromB.delay)) <= 2 * short,
    `C root delay ${sc.rootDelay}`,
  );
  assert.ok(sc.rootDelay > sb.rootDelay + 0.04);
  // Root dispersion: at least the upstream root dispersion plus our peer dispersion, never below MINDISP.
  assert.ok(sb.rootDispersion >= 0.01);
  assert.ok(sc.rootDispersion >= fromB.rootDispersion + fromB.dispersion - PHI * 64 - short);
  assert.ok(sc.rootDispersion > sb.rootDispersion - PHI * 64);
  // Root distance = root delay / 2 + root dispersion, and it grows down the chain.
  assert.ok(Math.abs(sc.rootDistance - (sc.rootDelay / 2 + sc.rootDispersion)) < 1e-12);
  assert.ok(sc.rootDistance > sb.rootDistance);
  assert.ok(Math.abs(c.error()) < 0.002, `C error ${c.error()}`);
});

test('losing the only source: holdover with growing root dispersion, then unsynchronised', () => {
  const h = fakeLab(65);
  const s = h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.1.1',
    sources: [server('10.0.0.1')],
    discipline: { offset: 0.3 },
    config: { maxDistance: 0.1 },
  });
  h.link('S', 'C', { delay: 0.004 });
  h.start();
  h.runFor(400);
  const before = c.system.snapshot(h.now);
  assert.equal(before.synchronised, true);
  s.up = false;
  h.runFor(2000);
  const lost = c.system.snapshot(h.now);
  assert.equal(lost.sysPeer, null);
  assert.equal(lost.sources[0]?.verdict, 'unreachable');
  assert.ok(c.events.some((e) => e.kind === 'sys-peer' && e.sourceId === null));
  assert.equal(lost.synchronised, true, 'holdover');
  assert.ok(lost.rootDispersion > before.rootDispersion + 15e-6 * 1500);
  // 0.1 s of root distance at 15 ppm is reached after about 6000 s.
  h.runFor(6000);
  const after = c.system.snapshot(h.now);
  assert.equal(after.synchronised, false);
  assert.equal(after.leap, 3);
  assert.equal(after.stratum, 16);
});

test('a source whose jitter exceeds max-jitter is marked jittery and never selected (chrony maxjitter)', () => {
  const h = fakeLab(62);
  const addrs = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
  addrs.forEach((address, i) => {
    h.addNode({ name: `S${i}`, address, config: { localStratum: 1 } });
  });
  const c = h.addNode({
    name: 'C',
    address: '10.0.1.1',
    config: { maxJitter: 0.005 },
    // Polled at the fake discipline's poll (2^4 s): a source not followed would otherwise poll at its
    // own poll (up to 2^6 s) and its eight filter stages span the fake clock's millisecond corrections
    // (a real discipline refers old offsets to its corrections; this one does not).
    sources: addrs.map((a) => ({ ...server(a), maxpoll: 4 })),
    discipline: { offset: 0.02 },
  });
  h.link('S0', 'C', { delay: 0.003, jitter: 0.0005 });
  h.link('S1', 'C', { delay: 0.004, jitter: 0.0005 });
  // Up to 60 ms of extra delay each way: offsets scatter by tens of ms.
  h.link('S2', 'C', { delay: 0.003, jitter: 0.06 });
  h.start();
  h.runFor(300);
  let jitteryProbes = 0;
  h.runFor(
    600,
    () => {
      const snap = c.system.snapshot(h.now);
      const noisy = snap.sources.find((s) => s.address === '10.0.0.3');
      assert.ok(noisy !== undefined);
      assert.notEqual(snap.sysPeer, noisy.id, 'the jittery source is never the system peer');
      if (noisy.jitter > 0.005) {
        assert.equal(noisy.verdict, 'jittery', `${noisy.verdict} (${noisy.verdictReason})`);
        jitteryProbes++;
      } else assert.notEqual(noisy.verdict, 'jittery');
      for (const s of snap.sources.filter((x) => x !== noisy))
        assert.ok(
          ['sys-peer', 'combined'].includes(s.verdict),
          `${s.address}: ${s.verdict} (${s.verdictReason})`,
        );
      assert.ok((snap.events?.['sys-peer'] ?? 0) >= 1, 'events counted by kind');
    },
    30,
  );
  assert.ok(jitteryProbes > 0, 'the noisy source was over the limit at some probe');
  assert.ok(Math.abs(c.error()) < 0.002, `clock error ${c.error()}`);
});
