import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MedianFilter, type RefSample } from '../../src/refclock/filter.js';

const s = (i: number, offset: number, dispersion = 1e-6): RefSample => ({
  raw: BigInt(i) * 1_000_000_000n,
  offset,
  dispersion,
  leap: 0,
});

describe('refclock median filter', () => {
  it('is empty without samples', () => {
    assert.equal(new MedianFilter(8).compute(), null);
  });

  it('trims outliers and averages the samples around the median', () => {
    const f = new MedianFilter(16, 0.6);
    const offsets = [0.001, 0.0011, 0.0009, 0.001, 0.5, -0.4, 0.00105, 0.00095, 0.001, 0.3];
    for (const [i, o] of offsets.entries()) f.add(s(i + 1, o));
    const r = f.compute();
    assert.ok(r !== null);
    assert.equal(r.count, 10);
    assert.equal(r.kept, 6);
    // The three wild samples are gone: the mean is that of the central six.
    assert.ok(Math.abs(r.offset - 0.001) < 5e-5, `offset ${r.offset}`);
    assert.ok(r.jitter < 1e-4, `jitter ${r.jitter}`);
    assert.ok(r.dispersion >= 1e-6 && r.dispersion < 2e-4);
  });

  it('drops the oldest samples beyond its length and refuses non-increasing times', () => {
    const f = new MedianFilter(4, 1);
    for (let i = 1; i <= 6; i++) f.add(s(i, i));
    f.add(s(3, 100));
    assert.deepEqual(
      f.contents().map((x) => x.offset),
      [3, 4, 5, 6],
    );
    const r = f.compute();
    assert.equal(r?.offset, 4.5);
    // Mean time of the kept samples: counter 4.5 s.
    assert.equal(r?.raw, 4_500_000_000n);
    f.clear();
    assert.equal(f.size, 0);
  });

  it('result lies within the kept range and ignores any minority of outliers (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e-3, max: 1e-3, noNaN: true }), { minLength: 5, maxLength: 40 }),
        fc.array(fc.double({ min: 10, max: 1000, noNaN: true }), { maxLength: 4 }),
        (good, bad) => {
          const all = [...good, ...bad.map((b, i) => (i % 2 === 0 ? b : -b))];
          // Outliers are at most a quarter of the samples: with keep 0.5 they are always trimmed.
          fc.pre(bad.length * 4 <= all.length);
          const f = new MedianFilter(64, 0.5);
          for (const [i, o] of all.entries()) f.add(s(i + 1, o));
          const r = f.compute();
          assert.ok(r !== null);
          return r.offset >= -1e-3 && r.offset <= 1e-3;
        },
      ),
    );
  });
});
