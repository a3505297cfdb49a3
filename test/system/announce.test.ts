/** The announcement rule (src/system/announce.ts) and the round-trip form of symmetric exchanges (src/system/exchange.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AnnounceInput, announce, type SystemTime } from '../../src/system/announce.js';
import { asRoundTrip } from '../../src/system/exchange.js';
import { durationToSeconds, secondsToDuration } from '../../src/time/ntp-time.js';
import { shortToSeconds } from '../../src/time/short.js';
import { refidToString } from '../../src/wire/refid.js';

const SYS: SystemTime = {
  leap: 0,
  stratum: 2,
  refid: 0x7f000001,
  referenceTime: 1n << 32n,
  rootDelay: 0.02,
  rootDispersion: 0.005,
  age: 0,
  holdover: false,
};

function input(over: Partial<AnnounceInput>): AnnounceInput {
  return {
    system: SYS,
    clockBound: 0.001,
    pending: 0,
    hold: null,
    maxDistance: 1.5,
    local: null,
    precision: -20,
    now: 5n << 32n,
    ...over,
  };
}

function distanceOf(a: ReturnType<typeof announce>): number {
  return shortToSeconds(a.state.rootDelay) / 2 + shortToSeconds(a.state.rootDispersion);
}

test('a standing update with a disciplined clock is announced with its variables', () => {
  const a = announce(input({}));
  assert.ok(a.synchronised && a.basis === 'system');
  assert.equal(a.state.leap, 0);
  assert.equal(a.state.stratum, 2);
  assert.ok(Math.abs(distanceOf(a) - 0.015) < 1e-4);
});

test('unsynchronised (LI 3, stratum 16, INIT) without an update, before the first correction, while a step is pending', () => {
  for (const [over, why] of [
    [{ system: null }, /no clock update/],
    [{ clockBound: Number.POSITIVE_INFINITY }, /first correction/],
    [{ hold: 'a step of 0.3 s is pending' }, /step/],
    [{ system: { ...SYS, rootDispersion: 2 } }, /root distance .* over 1.5/],
  ] as const) {
    const a = announce(input(over));
    assert.ok(!a.synchronised);
    assert.match(a.reason, why);
    assert.equal(a.state.leap, 3);
    assert.equal(a.state.stratum, 16);
    assert.equal(refidToString(a.state.referenceId), 'INIT');
  }
});

test('the root distance covers the age, the pending correction and the clock error bound', () => {
  const aged = announce(input({ system: { ...SYS, age: 1000 } }));
  assert.ok(Math.abs(distanceOf(aged) - (0.015 + 15e-6 * 1000)) < 1e-4);
  const pending = announce(input({ pending: -0.04 }));
  assert.ok(Math.abs(distanceOf(pending) - 0.055) < 1e-4);
  const bound = announce(input({ clockBound: 0.3 }));
  assert.ok(Math.abs(distanceOf(bound) - 0.3) < 1e-4);
  assert.ok(aged.synchronised && pending.synchronised && bound.synchronised);
  assert.equal(
    announce(input({ system: { ...SYS, holdover: true } })).synchronised && 'holdover',
    'holdover',
  );
});

test('[local] stratum: the host clock or a disciplined one at stratum N with LOCL, anything else unsynchronised', () => {
  const host = announce(
    input({ system: null, clockBound: Number.POSITIVE_INFINITY, local: { stratum: 5, served: 'host' } }),
  );
  assert.ok(host.synchronised && host.basis === 'local');
  assert.equal(host.state.stratum, 5);
  assert.equal(refidToString(host.state.referenceId), 'LOCL');
  assert.equal(distanceOf(host), 0);
  const free = announce(
    input({ system: null, clockBound: 0.02, local: { stratum: 5, served: 'disciplined' } }),
  );
  assert.ok(free.synchronised && Math.abs(distanceOf(free) - 0.02) < 1e-4);
  const other = announce(
    input({ system: null, clockBound: Number.POSITIVE_INFINITY, local: { stratum: 5, served: 'other' } }),
  );
  assert.ok(!other.synchronised);
  assert.match(other.reason, /\[local\]/);
  // A system peer comes first.
  const both = announce(input({ local: { stratum: 5, served: 'host' } }));
  assert.ok(both.synchronised && both.basis === 'system' && both.state.stratum === 2);
});

test('symmetric interleaved exchanges out of round-trip order keep their offset and delay', () => {
  const sec = (s: number) => BigInt(Math.round(s * 1e9));
  const base = 1000n << 32n;
  // T1 = 10 s, T4 = 9.6 s (we received the peer's packet before sending ours); the peer (0.25 s ahead)
  // sent at T3 = 9.2 + 0.25 and received ours at T2 = 10.0001 + 0.25.
  const x = {
    sourceId: 'p',
    ta: sec(10),
    tf: sec(9.6),
    tb: base + secondsToDuration(10.0001 + 0.25),
    te: base + secondsToDuration(9.5999 + 0.25),
    rootDelay: 0,
    rootDispersion: 0,
    stratum: 1,
  };
  const offsetOf = (e: typeof x) =>
    (durationToSeconds(e.tb - base) -
      Number(e.ta) / 1e9 +
      durationToSeconds(e.te - base) -
      Number(e.tf) / 1e9) /
    2;
  const delayOf = (e: typeof x) => Number(e.tf - e.ta) / 1e9 - durationToSeconds(e.te - e.tb);
  const y = asRoundTrip(x, 0);
  assert.ok(y !== null);
  assert.ok(y.ta <= y.tf && y.tb <= y.te, 'a round trip');
  assert.equal(y.tf, x.tf, 'ends at T4 (updates still match it)');
  assert.ok(Math.abs(offsetOf(y) - offsetOf(x)) < 1e-9, `${offsetOf(y)} vs ${offsetOf(x)}`);
  assert.ok(Math.abs(delayOf(y) - delayOf(x)) < 1e-9);
  assert.ok(Math.abs(offsetOf(x) - 0.25) < 1e-9);
  // In order: unchanged; a negative delay: dropped.
  const ordered = {
    ...x,
    ta: sec(9),
    tb: base + secondsToDuration(9.25),
    te: base + secondsToDuration(9.35),
  };
  assert.equal(asRoundTrip(ordered, 0), ordered);
  assert.equal(asRoundTrip({ ...x, te: x.tb - secondsToDuration(0.1) }, 0), null);
});
