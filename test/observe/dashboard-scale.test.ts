// The dashboard's axis arithmetic (src/observe/dashboard/scale.ts): the functions the page runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decadeAbove,
  formatSeconds,
  linearTickLabels,
  SCALE_JS,
  symlogBwd,
  symlogFwd,
  symlogRange,
  symlogSplits,
  symlogThreshold,
  symlogTickLabels,
  timeWindow,
} from '../../src/observe/dashboard/scale.js';

describe('dashboard scale', () => {
  it('symlog is odd, monotonic, linear near 0, one unit per decade, and inverted by symlogBwd', () => {
    const c = 1e-6;
    assert.equal(symlogFwd(0, c), 0);
    assert.ok(Math.abs(symlogFwd(1e-3, c) - symlogFwd(1e-4, c) - 1) < 0.005, 'a decade is one unit');
    assert.ok(Math.abs(symlogFwd(2e-8, c) / symlogFwd(1e-8, c) - 2) < 0.01, 'near-linear well within ±c');
    fc.assert(
      fc.property(
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.constantFrom(1e-9, 1e-6),
        (a, b, k) => {
          assert.equal(symlogFwd(-a, k), -symlogFwd(a, k));
          if (a < b) assert.ok(symlogFwd(a, k) <= symlogFwd(b, k));
          const back = symlogBwd(symlogFwd(a, k), k);
          assert.ok(Math.abs(back - a) <= 1e-9 * Math.max(Math.abs(a), k), `${a} -> ${back}`);
        },
      ),
    );
  });

  it('a 2.5 s step beside µs offsets: the range ends on decades, the µs points keep a third of the height', () => {
    const c = 1e-6;
    assert.deepEqual(symlogRange(-2e-5, 2.5, c), [-1e-4, 10]);
    assert.deepEqual(symlogRange(3e-5, 4e-4, c), [0, 1e-3], 'one sign: 0 is the other end');
    assert.deepEqual(symlogRange(null, null, c), [-c, c]);
    assert.deepEqual(symlogRange(0, 0, c), [-c, c]);
    assert.equal(decadeAbove(1e-4, c), 1e-4);
    assert.equal(decadeAbove(1.01e-4, c), 1e-3);
    assert.equal(decadeAbove(3e-7, c), c);
    // On a linear axis from -100 µs to 10 s, ±20 µs is 4e-6 of the height: a flat line.
    // On the symlog axis it is more than a quarter of it.
    const [lo, hi] = symlogRange(-2e-5, 2.5, c);
    const frac = (v: number) => (symlogFwd(v, c) - symlogFwd(lo, c)) / (symlogFwd(hi, c) - symlogFwd(lo, c));
    assert.ok(frac(2e-5) - frac(-2e-5) > 0.25, `${frac(2e-5) - frac(-2e-5)}`);
    assert.ok((2e-5 - -2e-5) / (hi - lo) < 1e-5);
  });

  it('symlog ticks: 0 and decades in the range, thinned to fit, labelled ns/µs/ms/s', () => {
    const s = symlogSplits(-1e-4, 10, 1e-6, 20);
    assert.deepEqual(s, [-1e-4, -1e-5, 0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10]);
    assert.deepEqual(symlogTickLabels(s), [
      '-100 µs',
      '-10 µs',
      '0',
      '10 µs',
      '100 µs',
      '1 ms',
      '10 ms',
      '100 ms',
      '1 s',
      '10 s',
    ]);
    // Room for 8: every other decade, the same ones whatever the range (k even: 1 µs·100^j).
    assert.deepEqual(symlogSplits(-1e-4, 10, 1e-6, 8), [-1e-4, 0, 1e-4, 1e-2, 1]);
    assert.deepEqual(symlogSplits(0, 1e-1, 1e-6, 8), [0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]);
    assert.deepEqual(symlogSplits(0, 1e-1, 1e-6, 4), [0, 1e-4, 1e-2]);
    // Without 0 in the range, ±c is a tick; nanosecond threshold.
    assert.deepEqual(symlogSplits(1e-9, 1e-6, 1e-9, 10), [1e-9, 1e-8, 1e-7, 1e-6]);
    assert.deepEqual(symlogTickLabels([1e-9, 1e-8, 1e-7, 1e-6]), ['1 ns', '10 ns', '100 ns', '1 µs']);
    fc.assert(
      fc.property(
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.integer({ min: 3, max: 30 }),
        (a, b, max) => {
          const [lo, hi] = symlogRange(Math.min(a, b), Math.max(a, b), 1e-6);
          const t = symlogSplits(lo, hi, 1e-6, max);
          assert.ok(t.length <= max && t.length >= 1, `${t.length} ticks for ${max}`);
          assert.ok(
            t.every((v, i) => v >= lo && v <= hi && (i === 0 || v > (t[i - 1] ?? 0))),
            'sorted, in range',
          );
          assert.ok(symlogTickLabels(t).every((l) => /^(0|-?\d+ (ns|µs|ms|s))$/.test(l)));
        },
      ),
    );
  });

  it('the threshold follows the data down to ns, not below 1 ns nor above 1 µs', () => {
    assert.equal(symlogThreshold([]), 1e-6);
    assert.equal(symlogThreshold([1e-5, 2e-5, -3e-6, 2.5, null]), 1e-6);
    assert.equal(symlogThreshold([3e-9, 5e-9, 1e-8, 0]), 1e-9);
    assert.equal(symlogThreshold([4e-8, 5e-8, 6e-8]), 1e-8);
    assert.equal(symlogThreshold([1e-13, 1e-12]), 1e-9);
  });

  it('linear tick labels: one unit per axis, the decimals the step needs', () => {
    assert.deepEqual(linearTickLabels([0, 0.5, 1, 1.5, 2, 2.5], 0.5), [
      '0',
      '0.5 s',
      '1.0 s',
      '1.5 s',
      '2.0 s',
      '2.5 s',
    ]);
    assert.deepEqual(linearTickLabels([-2e-5, -1e-5, 0, 1e-5], 1e-5), ['-20 µs', '-10 µs', '0', '10 µs']);
    assert.deepEqual(linearTickLabels([1e-4, 1.5e-4, 2e-4], 5e-5), ['100 µs', '150 µs', '200 µs']);
    assert.deepEqual(linearTickLabels([0.001, 0.0015], 0.0005), ['1.0 ms', '1.5 ms']);
    assert.deepEqual(linearTickLabels([-5e-9, 5.000000000000001e-21, 5e-9], 5e-9), ['-5 ns', '0', '5 ns']);
    assert.equal(formatSeconds(2.500012), '2.500 s');
    assert.equal(formatSeconds(-3.2e-6), '-3.200 µs');
    assert.equal(formatSeconds(null), '-');
    assert.equal(formatSeconds(0), '0');
  });

  it('the time window: the range up to the newest point, all, or the zoom', () => {
    assert.deepEqual(timeWindow(1000, 5000, 600, null), [4400, 5000]);
    assert.deepEqual(timeWindow(1000, 5000, null, null), [1000, 5000]);
    assert.deepEqual(timeWindow(1000, 5000, 600, [2000, 2100]), [2000, 2100]);
    assert.deepEqual(timeWindow(1000, 1000, null, null), [999, 1001]);
    assert.equal(timeWindow(null, null, 600, null), null);
  });

  it('the page gets the same functions, self-contained', () => {
    const fns = new Function(`${SCALE_JS}\nreturn { symlogSplits, symlogTickLabels, symlogRange };`)() as {
      symlogSplits: typeof symlogSplits;
      symlogTickLabels: typeof symlogTickLabels;
      symlogRange: typeof symlogRange;
    };
    assert.deepEqual(fns.symlogRange(-2e-5, 2.5, 1e-6), [-1e-4, 10]);
    assert.deepEqual(fns.symlogTickLabels(fns.symlogSplits(-1e-4, 10, 1e-6, 8)), [
      '-100 µs',
      '0',
      '100 µs',
      '10 ms',
      '1 s',
    ]);
  });
});
