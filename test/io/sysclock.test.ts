import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelClockModel, STA_UNSYNC } from '../../src/clock/kernel-model.js';
import { SoftwareClock } from '../../src/clock/software-clock.js';
import { decodeStatus, loadFfiKernel, modelKernel, SystemClockDriver } from '../../src/io/sysclock.js';
import { unixNsToNtpTime } from '../../src/time/ntp-time.js';

const S = 1_000_000_000n;
const RT0 = 1_767_225_600n * S;

/** A host whose hardware counter runs fast by `ppm`, a kernel model over it, and a true software clock. */
function rig(ppm: number, kernelError: number, privileged = true) {
  let t = 0; // true seconds
  const hw = () => BigInt(Math.round(t * (1 + ppm * 1e-6) * 1e9));
  const model = new KernelClockModel({
    hw: 0n,
    realtime: RT0 + BigInt(Math.round(kernelError * 1e9)),
    privileged,
  });
  const soft = new SoftwareClock({
    raw: 0n,
    time: unixNsToNtpTime(RT0),
    frequencyPpm: (1 / (1 + ppm * 1e-6) - 1) * 1e6,
  });
  soft.setErrorBound(0n, 0.001);
  return {
    model,
    soft,
    kernel: modelKernel(model, hw),
    setT: (x: number) => {
      t = x;
    },
    /** Kernel realtime error at true time t, seconds. */
    error: () => Number(model.realtime(hw()) - (RT0 + BigInt(Math.round(t * 1e9)))) / 1e9,
  };
}

test('reads the real kernel clock status (read-only) when FFI is available', (t) => {
  const k = loadFfiKernel();
  if (k === null) {
    t.skip('FFI (koffi) not available');
    return;
  }
  assert.equal(k.privileged(), false, 'never writable without allowWrite');
  const d = new SystemClockDriver(k, { enable: true });
  assert.equal(d.adjusting, false, 'enable alone is not enough');
  const st = d.readStatus();
  assert.ok(st !== null);
  assert.equal(st.tolerancePpm, 500, 'Linux reports a 500 ppm tolerance');
  assert.ok(Math.abs(st.frequencyPpm) <= 500);
  assert.ok(st.maxError >= 0 && st.maxError <= 16);
  assert.equal(st.synchronised, !st.flags.includes('UNSYNC'));
  assert.equal(d.follow(new SoftwareClock()).kind, 'disabled');
  const s = k.sample();
  assert.ok(s.realtime > 1_600_000_000n * S);
  const r1 = k.rawNow();
  assert.ok(k.rawNow() >= r1, 'CLOCK_MONOTONIC_RAW does not go back');
});

test('status decoding: units and flags', () => {
  const st = decodeStatus('x', 5, {
    modes: 0,
    offset: -1500,
    freq: -12 * 65536,
    maxerror: 250_000,
    esterror: 1000,
    status: STA_UNSYNC | 0x0001,
    constant: 7,
    precision: 1,
    tolerance: 500 * 65536,
    timeSec: 0,
    timeFrac: 0,
    tick: 10000,
    tai: 37,
  });
  assert.equal(st.offset, -0.0015);
  assert.equal(st.frequencyPpm, -12);
  assert.equal(st.maxError, 0.25);
  assert.deepEqual(st.flags, ['PLL', 'UNSYNC']);
  assert.equal(st.state, 'ERROR');
  assert.equal(st.tai, 37);
});

test('disabled by default and when unprivileged: the kernel clock is left alone', () => {
  const a = rig(50, 0.05);
  const d = new SystemClockDriver(a.kernel);
  a.setT(10);
  assert.deepEqual(d.follow(a.soft), { kind: 'disabled', reason: 'not enabled (read-only)' });
  assert.equal(a.model.frequencyPpm(), 0);
  const b = rig(50, 0.05, false);
  const e = new SystemClockDriver(b.kernel, { enable: true });
  assert.equal(e.adjusting, false);
  assert.match(e.reason, /privilege/);
  assert.ok(e.readStatus() !== null, 'status still readable');
});

test('frequency mode: the kernel clock converges on the software clock without a step', () => {
  const a = rig(50, 0.05);
  const d = new SystemClockDriver(a.kernel, { enable: true, mode: 'frequency', slewTime: 16 });
  for (let t = 0; t <= 600; t += 4) {
    a.setT(t);
    const r = d.follow(a.soft);
    assert.equal(r.kind, 'slew');
  }
  assert.equal(a.model.steps.length, 0);
  assert.ok(Math.abs(a.error()) < 10e-6, `kernel error ${a.error()}`);
  assert.ok(Math.abs(a.model.frequencyPpm() + 49.9975) < 0.1, `kernel freq ${a.model.frequencyPpm()}`);
  const st = d.readStatus();
  // maxerror = the software clock's error bound: 1 ms + 15 ppm × 600 s
  assert.ok(st?.synchronised && Math.abs(st.maxError - 0.01) < 1e-4, `maxerror ${st?.maxError}`);
});

test('a large offset is stepped with ADJ_SETOFFSET', () => {
  const a = rig(0, -3.25);
  const d = new SystemClockDriver(a.kernel, { enable: true });
  a.setT(1);
  const r = d.follow(a.soft);
  assert.equal(r.kind, 'step');
  assert.ok(r.kind === 'step' && Math.abs(r.offset - 3.25) < 1e-9);
  assert.ok(Math.abs(a.error()) < 1e-8);
  // a step of the software clock is followed too
  a.soft.step(1n * S, -2);
  a.setT(2);
  assert.equal(d.follow(a.soft).kind, 'step');
  assert.ok(Math.abs(a.error() + 2) < 1e-6);
});

test('PLL mode: the kernel PLL follows the software clock', () => {
  const a = rig(50, 0.01);
  const d = new SystemClockDriver(a.kernel, { enable: true, mode: 'pll', timeConstant: 2 });
  for (let t = 0; t <= 6000; t += 8) {
    a.setT(t);
    assert.equal(d.follow(a.soft).kind, 'slew');
  }
  assert.ok(Math.abs(a.error()) < 50e-6, `kernel error ${a.error()}`);
  assert.ok(Math.abs(a.model.frequencyPpm() + 50) < 1, `kernel freq ${a.model.frequencyPpm()}`);
  const st = d.readStatus();
  assert.ok(st?.pll === true && st.nano);
});

test('EPERM from the kernel disables the driver', () => {
  const a = rig(0, 0);
  const d = new SystemClockDriver(a.kernel, { enable: true });
  a.model.privileged = false;
  a.setT(1);
  assert.deepEqual(d.follow(a.soft), { kind: 'error', errno: 'EPERM' });
  assert.equal(d.adjusting, false);
});
