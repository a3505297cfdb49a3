import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChronyRefclock } from '../../src/refclock/config.js';

describe('refclock configuration', () => {
  it('reads chrony refclock lines', () => {
    const a = parseChronyRefclock('refclock SHM 0 refid GPS poll 3 offset 0.5 delay 0.2 noselect');
    assert.ok(a.ok, a.ok ? '' : a.errors.join());
    assert.equal(a.config.driver, 'SHM');
    assert.equal(a.config.parameter, '0');
    assert.equal(a.config.refid, 'GPS');
    assert.equal(a.config.poll, 3);
    assert.equal(a.config.offset, 0.5);
    assert.equal(a.config.delay, 0.2);
    assert.equal(a.config.noselect, true);
    const p = parseChronyRefclock('refclock PPS /dev/pps0 lock GPS prefer trust');
    assert.ok(p.ok);
    assert.equal(p.config.refid, 'PPS');
    assert.equal(p.config.pulse, true);
    assert.equal(p.config.lock, 'GPS');
    assert.equal(p.config.prefer && p.config.trust, true);
    const d = parseChronyRefclock('SHM 1:perm=0644 tai maxsamples 4');
    assert.ok(d.ok);
    assert.equal(d.config.refid, 'SHM1');
  });

  it('reports bad chrony lines', () => {
    const bad = (l: string) => {
      const r = parseChronyRefclock(l);
      return r.ok ? [] : r.errors;
    };
    assert.match(bad('refclock SOCK /run/x.sock').join(), /unknown refclock driver/);
    assert.match(bad('refclock SHM').join(), /missing driver parameter/);
    assert.match(bad('refclock SHM 0 poll').join(), /needs a value/);
    assert.match(bad('refclock SHM 0 poll x').join(), /not a number/);
    assert.match(bad('refclock SHM 0 frobnicate 1').join(), /unknown refclock option/);
    assert.match(bad('refclock SHM 0 refid TOOLONG').join(), /refid/);
  });
});
