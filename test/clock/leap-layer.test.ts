/**
 * The leap layer's served view as the system-clock driver steers by it (src/clock/leap.ts): the slew
 * is in force from the leap instant even before the engine's poll carries the leap out, and the
 * served time's rate (`correctionRate`) and the instants it changes (`nextRateChange`) are right.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeapClock } from '../../src/clock/leap.js';
import { durationToSeconds, unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { FakeClock } from '../support/fake-discipline.js';

const S = 1_000_000_000n;
/** 2017-01-01T00:00:00Z as NTP time; the counter starts 100 s before it. */
const MID = unixNsToNtpTime(1_483_228_800n * S);
const START = MID - (100n << 32n);

function layer(mode: 'slew' | 'smear', smearWindow?: number) {
  const base = new FakeClock(0, 0, START);
  base.synced = true;
  const c = new LeapClock(base, smearWindow === undefined ? { mode } : { mode, smearWindow });
  c.schedule(0n, 'insert', MID);
  return { base, c };
}

/** Served minus the continuous (leap-free) time at counter `raw`, s. */
function lag(c: LeapClock, base: FakeClock, raw: bigint): number {
  return durationToSeconds(c.served.read(raw) - base.read(raw));
}

test('slew mode: the served time is slewed from the leap instant on, whether or not poll has run', () => {
  const a = layer('slew');
  const b = layer('slew');
  const t = 100n * S + S / 2n; // 00:00:00.5, the leap due 0.5 s ago
  // a: not polled yet; b: polled at 100.1 s, as the engine would at the leap.
  assert.ok(b.c.poll(100n * S + S / 10n) !== null);
  const la = lag(a.c, a.base, t);
  const lb = lag(b.c, b.base, t);
  assert.ok(Math.abs(lb - -0.5 / 12) < 1e-6, `polled: ${lb}`);
  assert.ok(Math.abs(la - lb) < 2e-3, `not polled: ${la} (would be −1 s without the slew)`);
  assert.ok(Math.abs(a.c.correctionRate(t) + 1 / 12) < 1e-12);
  assert.ok(Math.abs(b.c.correctionRate(t) + 1 / 12) < 1e-12);
  assert.equal(b.c.correctionRate(113n * S), 0, 'slew over after 12 s');
});

test('slew mode: the rate changes at the leap instant and at the end of the slew', () => {
  const { c } = layer('slew');
  assert.equal(c.correctionRate(50n * S), 0);
  assert.equal(c.nextRateChange(50n * S), 100n * S);
  c.poll(100n * S);
  assert.equal(c.nextRateChange(101n * S), 112n * S);
  assert.equal(c.nextRateChange(113n * S), null);
});

test('smear mode: the rate is −1 s over the window inside it, the edges are wake-up instants', () => {
  const { c } = layer('smear', 120); // window from 60 s before midnight to 61 s after (pre-leap time)
  assert.equal(c.correctionRate(10n * S), 0);
  assert.equal(c.nextRateChange(10n * S), 40n * S);
  const r = c.correctionRate(40n * S);
  assert.ok(Math.abs(r + 1 / 121) < 1e-12, `rate ${r}`);
  assert.equal(c.nextRateChange(40n * S), 161n * S);
  c.poll(100n * S);
  assert.ok(Math.abs(c.correctionRate(150n * S) + 1 / 121) < 1e-12);
  assert.equal(c.correctionRate(162n * S), 0);
  assert.equal(c.nextRateChange(162n * S), null);
});
