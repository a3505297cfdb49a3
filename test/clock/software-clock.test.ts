import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PHI, SoftwareClock } from '../../src/clock/software-clock.js';
import type { ClockChange } from '../../src/clock/types.js';
import { durationToSeconds, ONE_SECOND } from '../../src/time/ntp-time.js';

const S = 1_000_000_000n;

test('reads the counter through the model: base, offset and rate', () => {
  const c = new SoftwareClock({ raw: 5n * S, time: 1000n * ONE_SECOND });
  assert.equal(c.read(5n * S), 1000n * ONE_SECOND);
  assert.equal(c.read(6n * S), 1001n * ONE_SECOND);
  assert.equal(c.read(4n * S), 999n * ONE_SECOND);
  const f = new SoftwareClock({ raw: 0n, time: 0n, frequencyPpm: 100 });
  // 1000 s of counter at +100 ppm read as 1000.1 s
  assert.ok(Math.abs(durationToSeconds(f.read(1000n * S)) - 1000.1) < 1e-9);
  assert.equal(f.frequencyPpm(), 100);
});

test('a step moves the reading, is announced, and cancels a pending slew', () => {
  const c = new SoftwareClock({ raw: 0n, time: 0n });
  const seen: ClockChange[] = [];
  const off = c.onChange((x) => seen.push(x));
  c.slewExponential(0n, 0.01, 100);
  c.step(10n * S, -2.5);
  assert.ok(Math.abs(durationToSeconds(c.read(10n * S)) - (10 + 0.01 * -Math.expm1(-0.1) - 2.5)) < 1e-9);
  assert.equal(c.pendingSlew(20n * S), 0);
  const last = seen[seen.length - 1];
  assert.deepEqual(last, { kind: 'step', raw: 10n * S, offset: -2.5 });
  off();
  c.step(11n * S, 1);
  assert.equal(seen.length, 2, 'unsubscribed listener is not called');
});

test('frequency changes keep the reading continuous', () => {
  const c = new SoftwareClock({ raw: 0n, time: 0n });
  const before = c.read(123_456_789_000n);
  c.setFrequency(123_456_789_000n, -250);
  assert.equal(c.read(123_456_789_000n), before);
  const later = durationToSeconds(c.read(123_456_789_000n + 1000n * S) - before);
  assert.ok(Math.abs(later - 1000 * (1 - 250e-6)) < 1e-9);
});

test('exponential slew amortises the offset with its time constant', () => {
  const c = new SoftwareClock({ raw: 0n, time: 0n });
  c.slewExponential(0n, 0.1, 1000);
  assert.ok(Math.abs(c.pendingSlew(1000n * S) - 0.1 / Math.E) < 1e-12);
  const read = durationToSeconds(c.read(1000n * S));
  assert.ok(Math.abs(read - (1000 + 0.1 * (1 - 1 / Math.E))) < 1e-9);
  // a frequency change mid-slew keeps the remaining slew going
  c.setFrequency(1000n * S, 10);
  assert.ok(Math.abs(c.pendingSlew(1000n * S) - 0.1 / Math.E) < 1e-12);
});

test('linear slew runs at the given rate and stops', () => {
  const c = new SoftwareClock({ raw: 0n, time: 0n });
  c.slewLinear(0n, -0.001, 500e-6);
  assert.ok(Math.abs(durationToSeconds(c.read(1n * S)) - (1 - 0.0005)) < 1e-9);
  assert.ok(Math.abs(durationToSeconds(c.read(10n * S)) - (10 - 0.001)) < 1e-9);
  assert.equal(c.pendingSlew(10n * S), 0);
});

test('error bound: infinite until synchronised, then grows at PHI plus the pending slew', () => {
  const c = new SoftwareClock({ raw: 0n, time: 0n });
  assert.equal(c.errorBound(0n), Number.POSITIVE_INFINITY);
  c.setErrorBound(10n * S, 0.002);
  assert.equal(c.errorBound(10n * S), 0.002);
  assert.ok(Math.abs(c.errorBound(110n * S) - (0.002 + 100 * PHI)) < 1e-12);
  c.slewLinear(110n * S, 0.001, 500e-6);
  assert.ok(Math.abs(c.errorBound(110n * S) - (0.002 + 100 * PHI + 0.001)) < 1e-12);
});

test('property: readings never go backwards without a step', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          dt: fc.integer({ min: 0, max: 5_000_000_000 }),
          op: fc.constantFrom('freq', 'exp', 'lin', 'none'),
          v: fc.double({ min: -1, max: 1, noNaN: true }),
        }),
        { minLength: 1, maxLength: 40 },
      ),
      (ops) => {
        const c = new SoftwareClock({ raw: 0n, time: 1n << 40n });
        let raw = 0n;
        let prev = c.read(raw);
        for (const o of ops) {
          raw += BigInt(o.dt);
          const r = c.read(raw);
          assert.ok(r >= prev, `went back at ${raw}`);
          prev = r;
          if (o.op === 'freq') c.setFrequency(raw, o.v * 500);
          else if (o.op === 'exp') c.slewExponential(raw, o.v * 0.1, 1024);
          else if (o.op === 'lin') c.slewLinear(raw, o.v * 0.01);
          assert.equal(c.read(raw), r, 'a model change is continuous at its instant');
        }
      },
    ),
    { numRuns: 200 },
  );
});
