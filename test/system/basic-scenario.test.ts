import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSourceConfig } from '../../src/system/system.js';
import { fakeLab } from '../support/fake-discipline.js';

/** The simplest end-to-end check: one client, one server, RFC 5905 client/server mode. */

test('client converges on a local-stratum-1 server', () => {
  const h = fakeLab(7);
  h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 } });
  const src = { ...defaultSourceConfig('10.0.0.1'), minpoll: 4, maxpoll: 6, iburst: true };
  const c = h.addNode({ name: 'C', address: '10.0.0.2', sources: [src], discipline: { offset: 0.05 } });
  h.link('S', 'C', { delay: 0.01, jitter: 0.001 });
  h.start();
  h.runFor(600);
  const snap = c.system.snapshot(h.now);
  const s = snap.sources[0];
  assert.ok(s !== undefined);
  assert.equal(s.verdict, 'sys-peer');
  assert.equal(snap.stratum, 2);
  assert.ok(Math.abs(c.error()) < 0.002, `error ${c.error()}`);
});
