/**
 * Broadcast mode (RFC 5905 mode 5; interleaved broadcast as in ntpd / RFC 9769): the client first
 * calibrates the delay with client-mode exchanges, then follows the broadcasts without sending, and
 * calibrates again after a while.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LabLink } from '../../src/sim/lab.js';
import { defaultSourceConfig } from '../../src/system/system.js';
import type { SourceConfig } from '../../src/system/types.js';
import { fakeLab } from '../support/fake-discipline.js';

function bcastSource(xleave = false): SourceConfig {
  return { ...defaultSourceConfig('10.0.0.1', 123, 'broadcast-client'), minpoll: 4, maxpoll: 6, xleave };
}

function setup(
  seed: number,
  xleave: boolean,
  txLag = 50e-6,
  link: LabLink = { delay: 0.006, jitter: 0.0002 },
) {
  const h = fakeLab(seed);
  const s = h.addNode({
    name: 'S',
    address: '10.0.0.1',
    config: { localStratum: 1, broadcast: [{ address: '10.0.0.255', port: 123, poll: 4, xleave }] },
    txLag,
  });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    sources: [bcastSource(xleave)],
    discipline: { offset: 0.3 },
    txLag,
  });
  h.link('S', 'C', link);
  h.start();
  return { h, s, c };
}

for (const xleave of [false, true]) {
  const mode = xleave ? 'interleaved' : 'basic';
  test(`${mode} broadcast client: calibrates with client exchanges, then listens`, () => {
    const { h, c } = setup(71, xleave);
    h.runFor(120);
    const a = c.system.association(c.ids[0] ?? '');
    assert.ok(a !== undefined);
    assert.equal(a.calibrating, false);
    assert.ok(
      a.calibratedDelay !== null && Math.abs(a.calibratedDelay - 0.0121) < 0.0005,
      `${a.calibratedDelay}`,
    );
    const sentAfterCalibration = a.packetsSent;
    assert.ok(sentAfterCalibration >= 4);
    h.runFor(400);
    // Listening: no more client packets until the recalibration (after 64 broadcasts, ~17 min).
    assert.equal(a.packetsSent, sentAfterCalibration);
    const snap = c.system.snapshot(h.now);
    assert.equal(snap.sysPeer, a.id);
    assert.equal(snap.sources[0]?.interleaved, xleave);
    assert.equal(snap.sources[0]?.mode, 'broadcast-client');
    assert.ok(Math.abs(c.error()) < 0.0005, `error ${c.error()}`);
    h.runFor(900);
    assert.ok(a.packetsSent > sentAfterCalibration, 'recalibrated');
    assert.ok(Math.abs(c.error()) < 0.0005, `error ${c.error()}`);
  });
}

for (const xleave of [false, true]) {
  const mode = xleave ? 'interleaved' : 'basic';
  test(`${mode} broadcast: loss, duplicates, reordering and restarts of either side`, () => {
    const { h, s, c } = setup(75, xleave, 50e-6, {
      delay: 0.006,
      jitter: 0.0002,
      loss: 0.15,
      duplicate: 0.15,
      reorder: 0.1,
      reorderDelay: 5,
    });
    h.runFor(400);
    s.restart();
    h.runFor(300);
    c.restart();
    h.runFor(300);
    let worst = 0;
    h.runFor(600, () => (worst = Math.max(worst, Math.abs(c.error()))), 8);
    const snap = c.system.snapshot(h.now);
    const src = snap.sources[0];
    assert.ok(src !== undefined);
    assert.equal(snap.sysPeer, src.id);
    assert.ok(
      (src.rejected['test1-duplicate'] ?? 0) + (src.rejected['broadcast-old'] ?? 0) > 0,
      JSON.stringify(src.rejected),
    );
    assert.ok(worst < 0.001, `worst ${worst} ${JSON.stringify(src.rejected)}`);
  });
}

test('interleaved broadcast removes the server transmit latency', () => {
  const lag = 0.001;
  const mean = (xleave: boolean) => {
    const { h, c } = setup(72, xleave, lag);
    h.runFor(300);
    const e: number[] = [];
    h.runFor(500, () => e.push(c.error()), 8);
    return e.reduce((x, y) => x + y, 0) / e.length;
  };
  const basic = mean(false);
  const xl = mean(true);
  // Basic broadcast: T3 is the software stamp, `lag` before the packet leaves; calibration absorbs half of it.
  assert.ok(Math.abs(basic) > lag / 4, `basic ${basic}`);
  assert.ok(Math.abs(xl) < lag / 8, `interleaved ${xl}`);
});

test('broadcast client mobilised from an unconfigured server when broadcastClient is on', () => {
  const h = fakeLab(73);
  h.addNode({
    name: 'S',
    address: '10.0.0.1',
    config: { localStratum: 1, broadcast: [{ address: '10.0.0.255', port: 123, poll: 4, xleave: false }] },
  });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    config: { broadcastClient: true, requireAuthForMobilise: false },
    discipline: { offset: 0.3 },
  });
  const other = h.addNode({ name: 'D', address: '10.0.0.3', config: { broadcastClient: false } });
  h.link('S', 'C', { delay: 0.004 });
  h.link('S', 'D', { delay: 0.004 });
  h.start();
  h.runFor(300);
  const snap = c.system.snapshot(h.now);
  assert.equal(snap.sources.length, 1);
  assert.equal(snap.sources[0]?.mode, 'broadcast-client');
  assert.equal(snap.sysPeer, snap.sources[0]?.id);
  assert.ok(Math.abs(c.error()) < 0.0005);
  assert.equal(other.system.snapshot(h.now).sources.length, 0);
  // Without authentication, mobilisation is refused when required.
  const h2 = fakeLab(74);
  h2.addNode({
    name: 'S',
    address: '10.0.0.1',
    config: { localStratum: 1, broadcast: [{ address: '10.0.0.255', port: 123, poll: 4, xleave: false }] },
  });
  const c2 = h2.addNode({
    name: 'C',
    address: '10.0.0.2',
    config: { broadcastClient: true, requireAuthForMobilise: true },
  });
  h2.link('S', 'C', { delay: 0.004 });
  h2.start();
  h2.runFor(100);
  assert.equal(c2.system.snapshot(h2.now).sources.length, 0);
});
