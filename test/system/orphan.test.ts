/**
 * The orphan parent election, ntpd's rule (ntpd 4.2.8 and NTPsec `clock_select`): the lowest address
 * metric among the orphan-stratum servers and ourselves, whatever their root distances; upstream
 * sources first; a never-synchronised server does not lead.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Association } from '../../src/assoc/association.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { electOrphanParent, OrphanState, orphanEntries } from '../../src/system/orphan.js';
import { refidFromAddress } from '../../src/wire/refid.js';

const ip = (a: string) => refidFromAddress(a, nodeCrypto);

test('electOrphanParent: the lowest address below ours wins; none below ours: we lead', () => {
  const us = ip('10.0.0.5');
  const c = (id: string) => ({ id, refid: ip(id), localRefid: us });
  assert.equal(electOrphanParent([c('10.0.0.9'), c('10.0.0.3'), c('10.0.0.4')]), '10.0.0.3');
  assert.equal(electOrphanParent([c('10.0.0.9'), c('10.0.0.7')]), null);
  assert.equal(electOrphanParent([]), null);
  // Unsigned comparison: 200.x is above 10.x (a signed 32-bit compare would put it below).
  assert.equal(electOrphanParent([c('200.0.0.1'), c('10.0.0.4')]), '10.0.0.4');
  assert.equal(electOrphanParent([{ id: 'x', refid: ip('200.0.0.1'), localRefid: ip('100.0.0.1') }]), null);
  // Our metric is per source: the local address its packets arrive at (ntpd's dstadr).
  assert.equal(
    electOrphanParent([{ id: 'a', refid: ip('10.0.0.4'), localRefid: ip('10.0.0.2') }]),
    null,
    'on that interface we are .2, below .4',
  );
});

/** Entries as the selection hands them over: real associations, with stratum and root values set. */
function entry(address: string, stratum: number, rootDispersion = 0) {
  const a = new Association(address, { address, port: 123 } as never, {} as never);
  a.stratum = stratum;
  a.rootDispersion = rootDispersion;
  a.rootDelay = 0;
  return { source: a };
}

test('orphanEntries: upstream first; then the parent by address, not by root distance', () => {
  const us = ip('10.0.0.5');
  const refids = (a: Association) => ({ refid: ip(a.cfg.address), localRefid: us });
  const fit = () => true;
  // An upstream (stratum 2 < 5) survives: orphan mode off, the orphan-stratum server left out.
  const withUp = orphanEntries([entry('10.0.0.1', 5), entry('10.0.0.9', 2)], fit, 5, true, refids);
  assert.equal(withUp.active, false);
  assert.deepEqual(
    withUp.entries?.map((e) => e.source.id),
    ['10.0.0.9'],
  );
  assert.equal(withUp.verdicts[0]?.[0], '10.0.0.1');
  // No upstream: .3 is the parent although .7 advertises a far lower root distance.
  const r = orphanEntries(
    [entry('10.0.0.7', 5, 0), entry('10.0.0.3', 5, 0.4), entry('10.0.0.4', 6)],
    fit,
    5,
    true,
    refids,
  );
  assert.equal(r.active, true);
  assert.equal(r.parent, '10.0.0.3');
  assert.deepEqual(
    r.entries?.map((e) => e.source.id),
    ['10.0.0.3'],
  );
  assert.deepEqual(
    r.verdicts.map(([id, v]) => [id, v.verdict]),
    [
      ['10.0.0.7', 'bad-stratum'],
      ['10.0.0.4', 'bad-stratum'],
    ],
  );
  // Only higher addresses at the orphan stratum: we lead (entries null) if we were ever synchronised.
  const lead = orphanEntries([entry('10.0.0.7', 5), entry('10.0.0.8', 6)], fit, 5, true, refids);
  assert.deepEqual([lead.entries, lead.active, lead.parent], [null, true, null]);
  const never = orphanEntries([entry('10.0.0.7', 5)], fit, 5, false, refids);
  assert.deepEqual([never.entries, never.active], [[], false]);
  // Unfit entries count for nothing: an unreachable lower address does not win.
  const unfit = orphanEntries(
    [entry('10.0.0.1', 5), entry('10.0.0.7', 5)],
    (e) => e.source.id !== '10.0.0.1',
    5,
    true,
    refids,
  );
  assert.equal(unfit.parent, null);
});

test('OrphanState reports each change once', () => {
  const o = new OrphanState(5);
  assert.equal(o.set(false, null), null);
  assert.match(o.set(true, null) ?? '', /serving at orphan stratum 5 as the group's parent/);
  assert.equal(o.set(true, null), null);
  assert.equal(o.set(true, '10.0.0.3'), 'orphan mode: following orphan parent 10.0.0.3');
  assert.equal(o.set(false, null), 'orphan mode off: an upstream source is back');
});
