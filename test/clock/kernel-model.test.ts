import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADJ_FREQUENCY,
  ADJ_MAXERROR,
  ADJ_NANO,
  ADJ_OFFSET,
  ADJ_OFFSET_SINGLESHOT,
  ADJ_SETOFFSET,
  ADJ_STATUS,
  ADJ_TAI,
  ADJ_TICK,
  ADJ_TIMECONST,
  emptyTimex,
  KernelClockModel,
  SCALED_PPM,
  STA_CLOCKERR,
  STA_DEL,
  STA_FLL,
  STA_INS,
  STA_MODE,
  STA_NANO,
  STA_PLL,
  STA_UNSYNC,
  TIME_DEL,
  TIME_ERROR,
  TIME_INS,
  TIME_OK,
  TIME_OOP,
  TIME_WAIT,
} from '../../src/clock/kernel-model.js';

const S = 1_000_000_000n;
const RT0 = 1_767_225_600n * S;

function tx(modes: number, f: Partial<ReturnType<typeof emptyTimex>> = {}) {
  return { ...emptyTimex(modes), ...f };
}

test('unprivileged: reading works, any adjustment fails with EPERM', () => {
  const k = new KernelClockModel({ privileged: false, realtime: RT0 });
  const r = k.adjtimex(0n, tx(0));
  assert.ok(r.ok);
  assert.equal(r.state, TIME_ERROR, 'a fresh kernel is unsynchronised');
  assert.equal(r.timex.status & STA_UNSYNC, STA_UNSYNC);
  assert.deepEqual(k.adjtimex(0n, tx(ADJ_FREQUENCY, { freq: 1 })), { ok: false, errno: 'EPERM' });
});

test('ADJ_FREQUENCY is scaled ppm, clamped to ±500 ppm, and changes the rate from now on', () => {
  const k = new KernelClockModel({ realtime: RT0 });
  const r = k.adjtimex(0n, tx(ADJ_FREQUENCY, { freq: 100 * SCALED_PPM }));
  assert.ok(r.ok && r.timex.freq === 100 * SCALED_PPM);
  assert.equal(k.realtime(1000n * S) - RT0, 1000n * S + 100_000_000n);
  const c = k.adjtimex(1000n * S, tx(ADJ_FREQUENCY, { freq: 900 * SCALED_PPM }));
  assert.ok(c.ok && c.timex.freq === 500 * SCALED_PPM);
  assert.equal(c.ok && c.timex.tolerance, 500 * SCALED_PPM);
});

test('ADJ_SETOFFSET steps by a timeval (negative offsets: negative seconds, positive fraction)', () => {
  const k = new KernelClockModel({ realtime: RT0 });
  k.adjtimex(10n * S, tx(ADJ_SETOFFSET | ADJ_NANO, { timeSec: 1, timeFrac: 500_000_000 }));
  assert.equal(k.realtime(10n * S) - RT0, 11_500_000_000n);
  k.adjtimex(10n * S, tx(ADJ_SETOFFSET | ADJ_NANO, { timeSec: -1, timeFrac: 750_000_000 }));
  assert.equal(k.realtime(10n * S) - RT0, 11_250_000_000n);
  // microseconds without ADJ_NANO
  k.adjtimex(10n * S, tx(ADJ_SETOFFSET, { timeSec: 0, timeFrac: 1 }));
  assert.equal(k.realtime(10n * S) - RT0, 11_250_001_000n);
  assert.equal(
    k.adjtimex(10n * S, tx(ADJ_SETOFFSET, { timeSec: 0, timeFrac: 2_000_000 })).ok,
    false,
    'EINVAL',
  );
});

test('ADJ_OFFSET without STA_PLL does nothing; with STA_PLL the phase is amortised by 2^-(2+tc) per second', () => {
  const k = new KernelClockModel({ realtime: RT0 });
  k.adjtimex(0n, tx(ADJ_OFFSET | ADJ_NANO, { offset: 1_000_000 }));
  assert.equal(k.pendingOffsetNs(), 0);
  const r = k.adjtimex(
    0n,
    tx(ADJ_STATUS | ADJ_NANO | ADJ_OFFSET | ADJ_TIMECONST, {
      status: STA_PLL,
      offset: 1_000_000,
      constant: 0,
    }),
  );
  assert.ok(r.ok);
  assert.equal(r.state, TIME_OK, 'STA_UNSYNC cleared');
  assert.equal(r.timex.status & (STA_PLL | STA_NANO), STA_PLL | STA_NANO);
  // after the first second the kernel has applied 1/4 of the offset, then 1/4 of the rest, ...
  const after = (n: number) => Number(k.realtime(BigInt(n) * S) - RT0 - BigInt(n) * S);
  assert.ok(Math.abs(after(1) - 250_000) < 2);
  assert.ok(Math.abs(after(2) - 250_000 - 187_500) < 2);
  assert.ok(Math.abs(after(60) - 1_000_000) < 10);
  // readback in µs without STA_NANO (ADJ_MICRO would switch); here nano → ns
  const rb = k.adjtimex(60n * S, tx(0));
  assert.ok(rb.ok && Math.abs(rb.timex.offset) < 10);
});

test('kernel PLL: repeated offsets converge on the counter frequency error', () => {
  // hardware counter fast by 50 ppm; feed the true offset every 16 s
  const k = new KernelClockModel({ realtime: RT0 });
  const hwAt = (t: number) => BigInt(Math.round(t * (1 + 50e-6) * 1e9));
  k.adjtimex(0n, tx(ADJ_STATUS | ADJ_NANO | ADJ_TIMECONST, { status: STA_PLL, constant: 2 }));
  let off = 0;
  for (let t = 16; t <= 20000; t += 16) {
    const hw = hwAt(t);
    off = Number(RT0 + BigInt(t) * S - k.realtime(hw));
    k.adjtimex(hw, tx(ADJ_OFFSET | ADJ_NANO, { offset: off }));
  }
  assert.ok(Math.abs(k.frequencyPpm() + 50) < 0.5, `freq ${k.frequencyPpm()}`);
  assert.ok(Math.abs(off) < 20_000, `offset ${off} ns`);
});

test('FLL mode (STA_FLL) with long update intervals sets STA_MODE and adjusts by offset / (4·secs)', () => {
  const k = new KernelClockModel({ realtime: RT0 });
  k.adjtimex(0n, tx(ADJ_STATUS | ADJ_NANO | ADJ_TIMECONST, { status: STA_PLL | STA_FLL, constant: 10 }));
  const r = k.adjtimex(1000n * S, tx(ADJ_OFFSET | ADJ_NANO, { offset: 4_000_000 }));
  assert.ok(r.ok);
  assert.equal(r.timex.status & STA_MODE, STA_MODE);
  // FLL: 4 ms / (4 × 1000 s) = 1 µs/s = 1 ppm; plus the PLL part offset·secs / 2^(2·(2+2+10))
  const expected = 1 + (4e6 * 1000) / 2 ** 28 / 1000;
  assert.ok(Math.abs(k.frequencyPpm() - expected) < 1e-6, `freq ${k.frequencyPpm()}`);
});

test('maxerror grows 500 µs/s until the 16 s limit sets STA_UNSYNC; ADJ_MAXERROR resets it', () => {
  const k = new KernelClockModel({ realtime: RT0, status: 0 });
  k.adjtimex(0n, tx(ADJ_MAXERROR, { maxerror: 1000 }));
  const r = k.adjtimex(10n * S, tx(0));
  assert.ok(r.ok && r.timex.maxerror === 1000 + 10 * 500);
  assert.equal(r.ok && r.state, TIME_OK);
  const late = k.adjtimex(40000n * S, tx(0));
  assert.ok(late.ok && late.timex.maxerror === 16_000_000 && (late.timex.status & STA_UNSYNC) !== 0);
  assert.equal(late.ok && late.state, TIME_ERROR);
});

test('ADJ_OFFSET_SINGLESHOT (adjtime) slews at 500 µs/s', () => {
  const k = new KernelClockModel({ realtime: RT0 });
  k.adjtimex(0n, tx(ADJ_OFFSET_SINGLESHOT, { offset: 1200 }));
  const d = (n: number) => Number(k.realtime(BigInt(n) * S) - RT0 - BigInt(n) * S);
  assert.equal(d(1), 500_000);
  assert.equal(d(2), 1_000_000);
  assert.equal(d(3), 1_200_000);
  assert.equal(d(10), 1_200_000);
});

test('read-only status bits cannot be set; ADJ_STATUS writes the writable bits as given', () => {
  const k = new KernelClockModel({ realtime: RT0, status: 0 });
  const r = k.adjtimex(0n, tx(ADJ_STATUS, { status: STA_PLL | STA_CLOCKERR }));
  assert.ok(r.ok && (r.timex.status & STA_CLOCKERR) === 0 && (r.timex.status & STA_PLL) !== 0);
  const off = k.adjtimex(0n, tx(ADJ_STATUS, { status: 0 }));
  assert.ok(off.ok && (off.timex.status & STA_UNSYNC) === 0, 'status is what was written');
});

/** 2017-01-01T00:00:00Z (the 2016 leap second precedes it), Unix ns. */
const MID = 1_483_228_800n * S;
const MS = 1_000_000n;

// Every leap test sets ADJ_MAXERROR 0: as in the kernel, maxerror starts at the 16 s limit and the
// next second would set STA_UNSYNC (adjtimex then returns TIME_ERROR whatever the leap state).
function state(k: KernelClockModel, hw: bigint): number {
  const r = k.adjtimex(hw, tx(0));
  assert.ok(r.ok);
  return r.state;
}

test('STA_INS: TIME_INS from the next second, 23:59:59 repeated at midnight (TIME_OOP), TIME_WAIT until cleared', () => {
  // Realtime 23:59:50.000 at hw 0, synchronised (no STA_UNSYNC).
  const k = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  const set = k.adjtimex(
    0n,
    tx(ADJ_STATUS | ADJ_MAXERROR | ADJ_TAI, { maxerror: 0, status: STA_INS, constant: 36 }),
  );
  assert.ok(set.ok && set.state === TIME_OK, 'the state machine acts at the next second');
  assert.equal(state(k, S + 1n), TIME_INS);
  // Readings every 250 ms of the counter: 23:59:59.75 → 23:59:59.00 (again) → … → 00:00:00.00.
  assert.equal(k.realtime(9n * S + 750n * MS), MID - 250n * MS);
  assert.equal(k.realtime(10n * S + 250n * MS), MID - 750n * MS, 'the second is repeated');
  assert.equal(state(k, 10n * S + 500n * MS), TIME_OOP);
  assert.equal(k.realtime(10n * S + 999n * MS), MID - 1n * MS);
  assert.equal(k.realtime(11n * S + 250n * MS), MID + 250n * MS);
  assert.equal(state(k, 11n * S + 500n * MS), TIME_WAIT);
  const w = k.adjtimex(11n * S + 500n * MS, tx(0));
  assert.ok(w.ok && w.timex.tai === 37, 'TAI−UTC grows by the inserted second');
  assert.equal(state(k, 20n * S), TIME_WAIT, 'TIME_WAIT while STA_INS is still set');
  k.adjtimex(20n * S, tx(ADJ_STATUS, { status: 0 }));
  assert.equal(state(k, 21n * S + 1n), TIME_OK);
  assert.deepEqual(k.leaps, [{ kind: 'insert', midnight: 1_483_228_800 }]);
  assert.deepEqual(k.steps, [], 'no ADJ_SETOFFSET step');
});

test('the leap is carried out at midnight even when the clock is first read long after it', () => {
  const a = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  a.adjtimex(0n, tx(ADJ_STATUS | ADJ_MAXERROR, { status: STA_INS, maxerror: 0 }));
  assert.equal(a.realtime(3600n * S), MID + 3589n * S);
  const d = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  d.adjtimex(0n, tx(ADJ_STATUS | ADJ_MAXERROR, { status: STA_DEL, maxerror: 0 }));
  assert.equal(d.realtime(3600n * S), MID + 3591n * S);
});

test('STA_DEL: TIME_DEL, 23:59:59 skipped (23:59:58.999 → 00:00:00.000), then TIME_WAIT', () => {
  const k = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  k.adjtimex(0n, tx(ADJ_STATUS | ADJ_MAXERROR | ADJ_TAI, { maxerror: 0, status: STA_DEL, constant: 37 }));
  assert.equal(state(k, 2n * S), TIME_DEL);
  assert.equal(k.realtime(8n * S + 999n * MS), MID - 1001n * MS);
  assert.equal(k.realtime(9n * S), MID, '23:59:59 does not exist');
  assert.equal(k.realtime(9n * S + 500n * MS), MID + 500n * MS);
  const w = k.adjtimex(9n * S + 500n * MS, tx(0));
  assert.ok(w.ok && w.state === TIME_WAIT && w.timex.tai === 36);
  k.adjtimex(10n * S, tx(ADJ_STATUS, { status: 0 }));
  assert.equal(state(k, 11n * S + 1n), TIME_OK);
  assert.deepEqual(k.leaps, [{ kind: 'delete', midnight: 1_483_228_800 }]);
});

test('clearing STA_INS before midnight cancels the leap; STA_INS set on another day acts at its midnight', () => {
  const k = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  k.adjtimex(0n, tx(ADJ_STATUS | ADJ_MAXERROR, { status: STA_INS, maxerror: 0 }));
  assert.equal(state(k, 2n * S), TIME_INS);
  k.adjtimex(9n * S + 500n * MS, tx(ADJ_STATUS, { status: 0 }));
  assert.equal(state(k, 9n * S + 600n * MS), TIME_OK);
  assert.equal(k.realtime(10n * S + 500n * MS), MID + 500n * MS, 'no second repeated');
  assert.deepEqual(k.leaps, []);
  // Set at 00:00:00.5 of the next day: the leap is at the end of that day, not at once.
  k.adjtimex(10n * S + 500n * MS, tx(ADJ_STATUS | ADJ_MAXERROR, { status: STA_INS, maxerror: 0 }));
  assert.equal(k.realtime(20n * S), MID + 10n * S);
  assert.equal(state(k, 20n * S), TIME_INS);
  assert.equal(k.realtime((86400n + 10n) * S), MID + 86399n * S, 'repeated at the next midnight');
});

test('TIME_ERROR is reported while STA_UNSYNC is set, and the leap still happens; turning the PLL off resets the state', () => {
  const k = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  k.adjtimex(0n, tx(ADJ_STATUS, { status: STA_INS | STA_UNSYNC }));
  assert.equal(state(k, 2n * S), TIME_ERROR);
  assert.equal(k.leapState(2n * S), TIME_INS);
  assert.equal(k.realtime(10n * S + 500n * MS), MID - 500n * MS);
  const p = new KernelClockModel({ realtime: MID - 10n * S, status: 0 });
  p.adjtimex(0n, tx(ADJ_STATUS | ADJ_MAXERROR, { status: STA_PLL | STA_INS, maxerror: 0 }));
  assert.equal(state(p, 2n * S), TIME_INS);
  p.adjtimex(3n * S, tx(ADJ_STATUS | ADJ_MAXERROR, { status: STA_INS, maxerror: 0 }));
  assert.equal(p.leapState(3n * S), TIME_OK, 'PLL off: TIME_OK');
});

test('ADJ_TICK: the rate is tick × USER_HZ µs per second (+ frequency); outside 9000..11000 µs EINVAL', () => {
  const k = new KernelClockModel({ realtime: RT0 });
  const r = k.adjtimex(0n, tx(ADJ_TICK | ADJ_FREQUENCY, { tick: 10_100, freq: -250 * SCALED_PPM }));
  assert.ok(r.ok && r.timex.tick === 10_100);
  // +1 % from the tick, −250 ppm from the frequency: 9750 ppm.
  assert.equal(k.realtime(100n * S) - RT0, 100n * S + 975_000_000n);
  k.adjtimex(100n * S, tx(ADJ_TICK, { tick: 9_000 }));
  assert.equal(k.realtime(110n * S) - RT0, 100n * S + 975_000_000n + 9n * S - 2_500_000n);
  assert.equal(k.adjtimex(110n * S, tx(ADJ_TICK, { tick: 8_999 })).ok, false);
  assert.equal(k.adjtimex(110n * S, tx(ADJ_TICK, { tick: 11_001 })).ok, false);
  const back = k.adjtimex(110n * S, tx(0));
  assert.ok(back.ok && back.timex.tick === 9_000, 'a refused call changes nothing');
});
