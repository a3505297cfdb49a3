/** The observable state (SystemSnapshot / SourceSnapshot) that ntpq/chronyc-style views read. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSourceConfig } from '../../src/system/system.js';
import { fakeLab } from '../support/fake-discipline.js';

test('snapshot: every field of system and sources is filled truthfully and is JSON-safe', () => {
  const h = fakeLab(81);
  h.addNode({ name: 'S1', address: '10.0.0.1', config: { localStratum: 1 } });
  h.addNode({ name: 'S2', address: '10.0.0.2', config: { localStratum: 2 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.1.1',
    sources: [
      {
        ...defaultSourceConfig('10.0.0.1'),
        minpoll: 4,
        maxpoll: 6,
        iburst: true,
        name: 'one.example',
        prefer: true,
      },
      { ...defaultSourceConfig('10.0.0.2'), minpoll: 4, maxpoll: 6, iburst: true, noselect: true },
      { ...defaultSourceConfig('10.0.0.9'), minpoll: 4, maxpoll: 6 },
    ],
    discipline: { offset: 0.2 },
  });
  h.link('S1', 'C', { delay: 0.003 });
  h.link('S2', 'C', { delay: 0.004 });
  h.start();
  h.runFor(300);
  const snap = c.system.snapshot(h.now);
  const json = JSON.parse(JSON.stringify(snap));
  assert.deepEqual(json, snap);
  assert.equal(snap.synchronised, true);
  assert.equal(snap.stratum, 2);
  assert.equal(snap.leap, 0);
  assert.equal(snap.refid, '10.0.0.1');
  assert.equal(snap.sysPeer, '10.0.0.1');
  assert.equal(snap.clock, 'rfc5905');
  assert.ok(snap.referenceTime !== null && Math.abs(snap.time - snap.referenceTime) < 100);
  assert.ok(Math.abs(snap.rootDistance - (snap.rootDelay / 2 + snap.rootDispersion)) < 1e-12);
  const [one, two, none] = snap.sources;
  assert.ok(one !== undefined && two !== undefined && none !== undefined);
  assert.equal(one.name, 'one.example');
  assert.equal(one.verdict, 'sys-peer');
  assert.equal(one.prefer, true);
  assert.equal(one.reach, 0o377);
  assert.ok(one.when !== null && one.when >= 0 && one.when < 64);
  assert.equal(one.filter.length, 8);
  for (let i = 1; i < one.filter.length; i++)
    assert.ok((one.filter[i]?.age ?? 0) > (one.filter[i - 1]?.age ?? 0));
  assert.ok(one.packetsSent >= one.packetsReceived && one.packetsReceived >= 8);
  assert.equal(one.stratum, 1);
  assert.equal(one.refid, 'LOCL');
  assert.equal(two.verdict, 'noselect');
  assert.equal(two.stratum, 2);
  assert.equal(none.verdict, 'unreachable');
  assert.equal(none.reach, 0);
  assert.equal(none.when, null);
  assert.equal(none.filter.length, 0);
  assert.ok(none.packetsSent > 0);
});
