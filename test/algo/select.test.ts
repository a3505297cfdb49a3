/** RFC 5905 section 11.2.1 (selection: intersection algorithm) and Appendix A.5.5.1. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { intersect } from '../../src/algo/select.js';

test('11.2.1: agreeing candidates are all truechimers and the intersection is the common part', () => {
  const r = intersect([
    { id: 'a', offset: 0.0, rootDistance: 0.01 },
    { id: 'b', offset: 0.002, rootDistance: 0.01 },
    { id: 'c', offset: -0.001, rootDistance: 0.01 },
  ]);
  assert.equal(r.ok, true);
  assert.deepEqual(r.truechimers.sort(), ['a', 'b', 'c']);
  assert.deepEqual(r.falsetickers, []);
  assert.ok(Math.abs(r.low - -0.008) < 1e-12 && Math.abs(r.high - 0.009) < 1e-12, `${r.low} ${r.high}`);
  assert.equal(r.allow, 0);
});

test('11.2.1: 5 candidates with 2 falsetickers: the falsetickers are outside the intersection', () => {
  const r = intersect([
    { id: 't1', offset: 0.0, rootDistance: 0.01 },
    { id: 't2', offset: 0.001, rootDistance: 0.01 },
    { id: 't3', offset: -0.001, rootDistance: 0.01 },
    { id: 'f1', offset: 0.25, rootDistance: 0.01 },
    { id: 'f2', offset: -0.4, rootDistance: 0.01 },
  ]);
  assert.equal(r.ok, true);
  assert.deepEqual(r.falsetickers.sort(), ['f1', 'f2']);
  assert.deepEqual(r.truechimers.sort(), ['t1', 't2', 't3']);
  assert.equal(r.allow, 2);
});

test('11.2.1: no majority (two disjoint pairs) fails', () => {
  const r = intersect([
    { id: 'a', offset: 0, rootDistance: 0.01 },
    { id: 'b', offset: 0.001, rootDistance: 0.01 },
    { id: 'c', offset: 1, rootDistance: 0.01 },
    { id: 'd', offset: 1.001, rootDistance: 0.01 },
  ]);
  assert.equal(r.ok, false);
  assert.equal(r.truechimers.length, 0);
});

test('11.2.1: fewer truechimers than minSane fails', () => {
  const r = intersect([{ id: 'a', offset: 0, rootDistance: 0.01 }], 2);
  assert.equal(r.ok, false);
  assert.equal(intersect([{ id: 'a', offset: 0, rootDistance: 0.01 }], 1).ok, true);
});

test('11.2.1: a wide interval overlapping the intersection is a truechimer even if its midpoint is outside', () => {
  const r = intersect([
    { id: 'a', offset: 0, rootDistance: 0.01 },
    { id: 'b', offset: 0.001, rootDistance: 0.01 },
    { id: 'w', offset: 0.05, rootDistance: 0.1 },
  ]);
  assert.equal(r.ok, true);
  assert.ok(r.truechimers.includes('w'));
});

test('11.2.1: with a majority of intervals containing the true time, the result contains it (property)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          err: fc.double({ min: -0.9, max: 0.9, noNaN: true }),
          dist: fc.double({ min: 0.001, max: 0.5, noNaN: true }),
        }),
        {
          minLength: 3,
          maxLength: 8,
        },
      ),
      fc.array(fc.double({ min: 2, max: 10, noNaN: true }), { maxLength: 3 }),
      (good, badOffsets) => {
        fc.pre(good.length > badOffsets.length);
        // Truechimers: intervals containing 0 (the true offset). Falsetickers: far away.
        const cands = good.map((g, i) => ({ id: `t${i}`, offset: g.err * g.dist, rootDistance: g.dist }));
        badOffsets.forEach((b, i) => {
          cands.push({ id: `f${i}`, offset: b * (i % 2 === 0 ? 1 : -1), rootDistance: 0.01 });
        });
        const r = intersect(cands);
        if (r.ok) {
          assert.ok(r.low <= 0 && r.high >= 0, `[${r.low}, ${r.high}]`);
          for (let i = 0; i < badOffsets.length; i++) assert.ok(r.falsetickers.includes(`f${i}`));
        }
        // With every truechimer centred on the true time, the selection always succeeds.
        const centred = intersect(cands.map((x) => (x.id.startsWith('t') ? { ...x, offset: 0 } : x)));
        assert.equal(centred.ok, true);
        for (let i = 0; i < good.length; i++) assert.ok(centred.truechimers.includes(`t${i}`));
      },
    ),
  );
});
