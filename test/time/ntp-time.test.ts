/** Era arithmetic (RFC 5905 section 6) around 2036-02-07T06:28:16Z and the ±68-year window. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  addToTimestamp,
  diffTimestamps,
  durationToNs,
  durationToSeconds,
  ERA_SPAN,
  eraOf,
  formatNtpTime,
  formatUnixNs,
  fromEra,
  isUnambiguous,
  nsToDuration,
  ntpTimeToUnixNs,
  ONE_SECOND,
  resolveTimestamp,
  secondsToDuration,
  timestampToUnixNs,
  toTimestamp,
  unixNsToNtpTime,
  unixNsToTimestamp,
} from '../../src/time/ntp-time.js';
import { secondsToShort, shortToSeconds } from '../../src/time/short.js';

const NS = 1_000_000_000n;
/** 2036-02-07T06:28:16Z, the first era rollover, in Unix ns. */
const ROLLOVER_NS = 2_085_978_496n * NS;
const HALF = 1n << 63n;
/** ±68 years in ns (2^31 s), the unambiguous window. */
const WINDOW_NS = (1n << 31n) * NS;

test('the era boundary is 2036-02-07T06:28:16Z', () => {
  assert.equal(unixNsToNtpTime(ROLLOVER_NS), ERA_SPAN);
  assert.equal(unixNsToTimestamp(ROLLOVER_NS), 0n);
  assert.equal(unixNsToTimestamp(ROLLOVER_NS - NS), 0xffffffff00000000n);
  assert.equal(eraOf(unixNsToNtpTime(ROLLOVER_NS - 1n)), 0n);
  assert.equal(eraOf(unixNsToNtpTime(ROLLOVER_NS)), 1n);
  assert.equal(formatNtpTime(ERA_SPAN, 0), '2036-02-07T06:28:16Z');
  assert.equal(formatNtpTime(0n, 0), '1900-01-01T00:00:00Z');
  assert.equal(formatUnixNs(-1n, 9), '1969-12-31T23:59:59.999999999Z');
});

test('instants on both sides of the rollover survive wire encoding + era resolution', () => {
  for (const offsetS of [-86400n, -1n, 0n, 1n, 86400n, 365n * 86400n]) {
    const t = ROLLOVER_NS + offsetS * NS + 123_456_789n;
    const ts = unixNsToTimestamp(t);
    for (const refShiftS of [-(60n * 365n * 86400n), -3600n, 0n, 3600n, 60n * 365n * 86400n]) {
      const back = timestampToUnixNs(ts, t + refShiftS * NS);
      assert.ok(
        back - t <= 1n && t - back <= 1n,
        `offset ${offsetS}s, reference shift ${refShiftS}s: ${back} vs ${t}`,
      );
    }
  }
});

test('property: wire timestamp + any reference within ±68 years recovers the instant (1 ns rounding)', () => {
  fc.assert(
    fc.property(
      fc.bigInt({
        min: ROLLOVER_NS - 200n * 365n * 86400n * NS,
        max: ROLLOVER_NS + 200n * 365n * 86400n * NS,
      }),
      fc.bigInt({ min: -(WINDOW_NS - NS), max: WINDOW_NS - NS }),
      (t, shift) => {
        const back = timestampToUnixNs(unixNsToTimestamp(t), t + shift);
        assert.ok(back - t <= 1n && t - back <= 1n);
      },
    ),
    { numRuns: 5000 },
  );
});

test('at the edges of the ±68-year window the era flips exactly at half an era', () => {
  const t = fromEra(1n, 0x0000000100000000n); // shortly after the rollover
  const ts = toTimestamp(t);
  // resolution picks the era-extended time in [reference - 2^63, reference + 2^63)
  assert.equal(resolveTimestamp(ts, t + HALF), t);
  assert.equal(resolveTimestamp(ts, t - HALF + 1n), t);
  // one unit further, the nearest era is the other one
  assert.equal(resolveTimestamp(ts, t + HALF + 1n), t + ERA_SPAN);
  assert.equal(resolveTimestamp(ts, t - HALF), t - ERA_SPAN);
  assert.ok(isUnambiguous(HALF - 1n));
  assert.ok(!isUnambiguous(HALF));
  assert.ok(!isUnambiguous(-HALF));
});

test('property: wrapping subtraction gives the true difference across eras while |d| < 68 years', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: ERA_SPAN - (1n << 62n), max: ERA_SPAN + (1n << 62n) }),
      fc.bigInt({ min: -(HALF - 1n), max: HALF - 1n }),
      (a, d) => {
        const b = a + d;
        assert.equal(diffTimestamps(toTimestamp(b), toTimestamp(a)), d);
        assert.equal(addToTimestamp(toTimestamp(a), d), toTimestamp(b));
      },
    ),
    { numRuns: 5000 },
  );
});

test('durations: seconds and ns conversions', () => {
  assert.equal(durationToSeconds((ONE_SECOND * 3n) / 2n), 1.5);
  assert.equal(durationToSeconds(-ONE_SECOND / 4n), -0.25);
  assert.equal(secondsToDuration(2.5), (ONE_SECOND * 5n) / 2n);
  assert.equal(durationToNs(ONE_SECOND), NS);
  assert.equal(nsToDuration(NS), ONE_SECOND);
  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 62n), max: 1n << 62n }), (ns) => {
      const back = durationToNs(nsToDuration(ns));
      assert.ok(back - ns <= 1n && ns - back <= 1n);
      assert.equal(ntpTimeToUnixNs(unixNsToNtpTime(ns)), ns);
    }),
    { numRuns: 2000 },
  );
});

test('short format 16.16 rounds up and saturates', () => {
  assert.equal(shortToSeconds(0x00018000), 1.5);
  assert.equal(secondsToShort(1.5), 0x00018000);
  assert.equal(secondsToShort(1e-9), 1);
  assert.equal(secondsToShort(-1), 0);
  assert.equal(secondsToShort(1e9), 0xffffffff);
  fc.assert(
    fc.property(fc.double({ min: 0, max: 65535, noNaN: true }), (s) => {
      const v = secondsToShort(s);
      assert.ok(shortToSeconds(v) >= s || v === 0xffffffff);
      assert.ok(shortToSeconds(v) - s <= 1 / 65536 + 1e-12);
    }),
  );
});
