/**
 * What the operator sees of a scheduled leap second and of orphan mode: the `ntpkit status` lines,
 * the Prometheus families and the mode 6 variables, from one snapshot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatStatus, leapStatusText } from '../../src/observe/format.js';
import { prometheusText } from '../../src/observe/metrics.js';
import { systemVariables } from '../../src/observe/mode6.js';
import { fixture } from './fixture.js';

test('status, metrics and mode 6 show the scheduled leap, TAI-UTC and orphan mode', () => {
  const snap = fixture();
  snap.system.leap = 1;
  snap.system.taiUtc = 36;
  snap.system.leapMode = 'step';
  snap.system.leapPending = {
    kind: 'insert',
    at: '2016-12-31T23:59:60Z',
    midnight: 1483228800,
    votes: 3,
    sources: 4,
    list: 'agrees',
  };
  snap.system.orphan = { stratum: 5, active: false, parent: null };
  assert.equal(
    leapStatusText(snap.system),
    'insert second at 2016-12-31T23:59:60Z (3 of 4 sources, leap list agrees)',
  );
  const out = formatStatus(snap);
  assert.match(
    out,
    /Leap status\s+: insert second at 2016-12-31T23:59:60Z \(3 of 4 sources, leap list agrees\)/,
  );
  assert.match(out, /TAI-UTC\s+: 36 s/);
  assert.match(out, /Orphan mode\s+: stratum 5, standing by/);
  const m = prometheusText(snap);
  assert.match(m, /^ntpkit_system_leap_pending\{list="agrees"\} 1$/m);
  assert.match(m, /^ntpkit_system_tai_offset_seconds 36$/m);
  const vars = new Map(systemVariables(snap, new Map()));
  assert.equal(vars.get('tai'), '36');
  assert.notEqual(vars.get('leapsec'), '0');
  snap.system.leapPending = null;
  snap.system.leap = 0;
  snap.system.leapMode = 'smear';
  snap.system.smearing = true;
  assert.equal(leapStatusText(snap.system), 'none; smear mode, smearing now');
});
