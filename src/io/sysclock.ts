/**
 * Linux system clock driver.
 *
 * It always can READ the kernel clock's status (adjtimex with modes = 0: offset, frequency, maxerror,
 * esterror, status bits, TAI offset). Only when explicitly enabled AND privileged (CAP_SYS_TIME) does
 * it make the kernel clock follow ntpkit's software clock, by frequency (ADJ_FREQUENCY) or through the
 * kernel PLL (ADJ_OFFSET with STA_PLL), stepping (ADJ_SETOFFSET) beyond a threshold; rates beyond
 * ADJ_FREQUENCY's ±500 ppm (a leap slew fed forward) go through ADJ_TICK.
 *
 * The kernel is an interface: the real one goes through clock_adjtime(2) via FFI (koffi), and the
 * tests use `KernelClockModel` (src/clock/kernel-model.ts), so they never touch the host clock. Without
 * FFI the driver still runs: the status is unavailable and the clock is never adjusted.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  ADJ_ESTERROR,
  ADJ_FREQUENCY,
  ADJ_MAXERROR,
  ADJ_NANO,
  ADJ_OFFSET,
  ADJ_SETOFFSET,
  ADJ_STATUS,
  ADJ_TICK,
  ADJ_TIMECONST,
  type AdjtimexResult,
  emptyTimex,
  type KernelClockModel,
  NOMINAL_TICK,
  SCALED_PPM,
  STA_CLOCKERR,
  STA_DEL,
  STA_FLL,
  STA_FREQHOLD,
  STA_INS,
  STA_MODE,
  STA_NANO,
  STA_PLL,
  STA_UNSYNC,
  type Timex,
} from '../clock/kernel-model.js';
import type { LocalClock, RawTime } from '../clock/types.js';
import { ntpTimeToUnixNs } from '../time/ntp-time.js';

/** What the driver needs from a kernel. */
export interface KernelClockInterface {
  readonly name: string;
  /** clock_adjtime(CLOCK_REALTIME, tx). */
  adjtimex(tx: Timex): AdjtimexResult | { ok: false; errno: 'ENOSYS' };
  /** Reads the raw counter and CLOCK_REALTIME (Unix ns) as one pair. */
  sample(): { raw: RawTime; realtime: bigint };
  /**
   * The raw counter this interface pairs with realtime. A host that lets the driver adjust the kernel
   * clock must timestamp with this counter (CLOCK_MONOTONIC_RAW), because every kernel adjustment
   * also changes CLOCK_MONOTONIC (process.hrtime) and would feed back into the software clock.
   */
  rawNow(): RawTime;
  /** Whether adjusting calls can succeed (CAP_SYS_TIME). */
  privileged(): boolean;
}

/** A kernel interface over the model; `hw()` gives the model's current hardware counter value. */
export function modelKernel(model: KernelClockModel, hw: () => bigint): KernelClockInterface {
  return {
    name: 'model',
    adjtimex: (tx) => model.adjtimex(hw(), tx),
    sample: () => {
      const h = hw();
      return { raw: h, realtime: model.realtime(h) };
    },
    rawNow: hw,
    privileged: () => model.privileged,
  };
}

/** CAP_SYS_TIME (bit 25) in this process's effective capabilities (Linux /proc). */
export function hasCapSysTime(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1] === undefined) return false;
    return ((BigInt(`0x${m[1]}`) >> 25n) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** `struct timex` as the C ABI lays it out: the model's fields (clock/kernel-model.ts) and the rest. */
interface TimexC extends Omit<Timex, 'timeSec' | 'timeFrac'> {
  time: { tv_sec: number; tv_usec: number };
  ppsfreq: number;
  jitter: number;
  shift: number;
  stabil: number;
  jitcnt: number;
  calcnt: number;
  errcnt: number;
  stbcnt: number;
  pad: number[];
}

interface KoffiLike {
  load(path: string): { func(def: string): unknown };
  struct(name: string, def: Record<string, unknown>): unknown;
  array(type: string, n: number): unknown;
  errno(): number;
}

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC_RAW = 4;

export interface FfiKernelOptions {
  /**
   * Allow mode-setting calls (anything but a read). Off by default: a second lock besides the driver's
   * own `enable`, so that no test or tool can change the host clock by accident.
   */
  allowWrite?: boolean;
  /**
   * Raw counter: CLOCK_MONOTONIC_RAW (default, never adjusted by the kernel) or hrtime
   * (CLOCK_MONOTONIC: fine for reading, but not for adjusting the kernel clock).
   */
  counter?: 'monotonic-raw' | 'hrtime';
}

/**
 * The real kernel through clock_adjtime(2) via koffi. Returns null when FFI is not available
 * (koffi missing, not Linux, no libc): callers fall back to `unavailableKernel()`.
 */
export function loadFfiKernel(opts: FfiKernelOptions = {}): KernelClockInterface | null {
  if (process.platform !== 'linux') return null;
  let koffi: KoffiLike;
  try {
    const require = createRequire(import.meta.url);
    koffi = require('koffi') as KoffiLike;
  } catch {
    return null;
  }
  try {
    const lib = koffi.load('libc.so.6');
    const timeval = koffi.struct('ntpkit_timeval', { tv_sec: 'long', tv_usec: 'long' });
    koffi.struct('ntpkit_timex', {
      modes: 'uint',
      offset: 'long',
      freq: 'long',
      maxerror: 'long',
      esterror: 'long',
      status: 'int',
      constant: 'long',
      precision: 'long',
      tolerance: 'long',
      time: timeval,
      tick: 'long',
      ppsfreq: 'long',
      jitter: 'long',
      shift: 'int',
      stabil: 'long',
      jitcnt: 'long',
      calcnt: 'long',
      errcnt: 'long',
      stbcnt: 'long',
      tai: 'int',
      pad: koffi.array('int', 11),
    });
    koffi.struct('ntpkit_timespec', { tv_sec: 'long', tv_nsec: 'long' });
    const clockAdjtime = lib.func('int clock_adjtime(int clk, _Inout_ ntpkit_timex *tx)') as (
      clk: number,
      tx: TimexC,
    ) => number;
    const clockGettime = lib.func('int clock_gettime(int clk, _Out_ ntpkit_timespec *ts)') as (
      clk: number,
      ts: { tv_sec: number; tv_nsec: number },
    ) => number;
    const read = (clk: number): bigint => {
      const ts = { tv_sec: 0, tv_nsec: 0 };
      if (clockGettime(clk, ts) !== 0) throw new Error(`clock_gettime(${clk}) failed`);
      return BigInt(ts.tv_sec) * 1_000_000_000n + BigInt(ts.tv_nsec);
    };
    const rawClock = (opts.counter ?? 'monotonic-raw') === 'hrtime' ? null : CLOCK_MONOTONIC_RAW;
    const readRaw = () => (rawClock === null ? process.hrtime.bigint() : read(rawClock));
    return {
      name: 'clock_adjtime (koffi)',
      adjtimex(tx: Timex) {
        if (tx.modes !== 0 && !opts.allowWrite) return { ok: false, errno: 'EPERM' };
        const c: TimexC = {
          modes: tx.modes,
          offset: tx.offset,
          freq: tx.freq,
          maxerror: tx.maxerror,
          esterror: tx.esterror,
          status: tx.status,
          constant: tx.constant,
          precision: 0,
          tolerance: 0,
          time: { tv_sec: tx.timeSec, tv_usec: tx.timeFrac },
          tick: tx.tick,
          ppsfreq: 0,
          jitter: 0,
          shift: 0,
          stabil: 0,
          jitcnt: 0,
          calcnt: 0,
          errcnt: 0,
          stbcnt: 0,
          tai: 0,
          pad: new Array<number>(11).fill(0),
        };
        const state = clockAdjtime(CLOCK_REALTIME, c);
        if (state < 0) {
          const e = koffi.errno();
          return { ok: false, errno: e === 1 ? 'EPERM' : 'EINVAL' };
        }
        const out = emptyTimex(0);
        out.offset = Number(c.offset);
        out.freq = Number(c.freq);
        out.maxerror = Number(c.maxerror);
        out.esterror = Number(c.esterror);
        out.status = c.status;
        out.constant = Number(c.constant);
        out.precision = Number(c.precision);
        out.tolerance = Number(c.tolerance);
        out.timeSec = Number(c.time.tv_sec);
        out.timeFrac = Number(c.time.tv_usec);
        out.tick = Number(c.tick);
        out.tai = c.tai;
        return { ok: true, state, timex: out };
      },
      sample() {
        const r1 = readRaw();
        const rt = read(CLOCK_REALTIME);
        const r2 = readRaw();
        return { raw: r1 + (r2 - r1) / 2n, realtime: rt };
      },
      rawNow: readRaw,
      privileged: () => opts.allowWrite === true && hasCapSysTime(),
    };
  } catch {
    return null;
  }
}

/** No FFI: nothing can be read precisely or adjusted. The raw counter is hrtime; realtime is ms. */
export function unavailableKernel(): KernelClockInterface {
  return {
    name: 'unavailable',
    adjtimex: () => ({ ok: false, errno: 'ENOSYS' }),
    sample: () => ({ raw: process.hrtime.bigint(), realtime: BigInt(Date.now()) * 1_000_000n }),
    rawNow: () => process.hrtime.bigint(),
    privileged: () => false,
  };
}

export type KernelTimeState = 'OK' | 'INS' | 'DEL' | 'OOP' | 'WAIT' | 'ERROR';
const STATES: KernelTimeState[] = ['OK', 'INS', 'DEL', 'OOP', 'WAIT', 'ERROR'];

export interface KernelStatus {
  source: string;
  /** Remaining offset the kernel PLL is slewing (s). */
  offset: number;
  frequencyPpm: number;
  /** Kernel's max/estimated error (s). */
  maxError: number;
  estError: number;
  status: number;
  flags: string[];
  synchronised: boolean;
  pll: boolean;
  fll: boolean;
  nano: boolean;
  timeConstant: number;
  tai: number;
  /** Frequency tolerance (ppm). */
  tolerancePpm: number;
  /** µs per clock tick (ADJ_TICK; 10 000 nominal at USER_HZ 100). */
  tick: number;
  state: KernelTimeState;
}

const FLAG_NAMES: [number, string][] = [
  [STA_PLL, 'PLL'],
  [0x0002, 'PPSFREQ'],
  [0x0004, 'PPSTIME'],
  [STA_FLL, 'FLL'],
  [STA_INS, 'INS'],
  [STA_DEL, 'DEL'],
  [STA_UNSYNC, 'UNSYNC'],
  [STA_FREQHOLD, 'FREQHOLD'],
  [0x0100, 'PPSSIGNAL'],
  [0x0200, 'PPSJITTER'],
  [0x0400, 'PPSWANDER'],
  [0x0800, 'PPSERROR'],
  [STA_CLOCKERR, 'CLOCKERR'],
  [STA_NANO, 'NANO'],
  [STA_MODE, 'MODE'],
  [0x8000, 'CLK'],
];

/** Decodes a `struct timex` read back from the kernel. */
export function decodeStatus(source: string, state: number, t: Timex): KernelStatus {
  const nano = (t.status & STA_NANO) !== 0;
  return {
    source,
    offset: nano ? t.offset / 1e9 : t.offset / 1e6,
    frequencyPpm: t.freq / SCALED_PPM,
    maxError: t.maxerror / 1e6,
    estError: t.esterror / 1e6,
    status: t.status,
    flags: FLAG_NAMES.filter(([bit]) => (t.status & bit) !== 0).map(([, n]) => n),
    synchronised: (t.status & STA_UNSYNC) === 0,
    pll: (t.status & STA_PLL) !== 0,
    fll: (t.status & STA_FLL) !== 0,
    nano,
    timeConstant: t.constant,
    tai: t.tai,
    tolerancePpm: t.tolerance / SCALED_PPM,
    tick: t.tick,
    state: STATES[state] ?? 'ERROR',
  };
}

export interface SystemClockOptions {
  /** Adjust the kernel clock at all (default false: read-only). */
  enable?: boolean;
  /**
   * 'frequency' (default): ADJ_FREQUENCY = software frequency + offset / slewTime (the kernel PLL is
   * off; like chrony). 'pll': hand the offset to the kernel PLL (ADJ_OFFSET, STA_PLL; like ntpd's
   * kernel discipline). Both need the software clock to run on `kernel.rawNow()`, a counter the kernel
   * does not adjust.
   */
  mode?: 'frequency' | 'pll';
  /** Offsets beyond this (s) are stepped with ADJ_SETOFFSET (default 0.128). */
  stepThreshold?: number;
  /** Frequency mode: seconds over which an offset is slewed out (default 16). */
  slewTime?: number;
  /** PLL mode: kernel time constant (default 2). */
  timeConstant?: number;
}

export type FollowResult =
  | { kind: 'disabled'; reason: string }
  | { kind: 'step'; offset: number }
  | { kind: 'slew'; offset: number; frequencyPpm: number; tick?: number }
  | { kind: 'error'; errno: string };

/** ADJ_FREQUENCY's limit (ppm): the feedback part of a frequency-mode slew stays within it. */
export const MAX_FREQ_PPM = 500;
/**
 * Limit (ppm) of the whole rate, with ADJ_TICK: the kernel takes ticks of 9000..11000 µs (±10 %) at
 * USER_HZ 100, each µs of tick 100 ppm; ±100 000 ppm covers chrony's 83 333 ppm leap slew.
 */
export const MAX_RATE_PPM = 100_000;
const PPM_PER_TICK_US = 1e6 / NOMINAL_TICK;

/**
 * A rate (ppm) as the kernel takes it: a tick (µs, nominal unless beyond ADJ_FREQUENCY's ±500 ppm)
 * and the frequency (ppm) for the rest.
 */
export function splitRate(ppm: number): { tick: number; freqPpm: number } {
  const r = Math.max(-MAX_RATE_PPM, Math.min(MAX_RATE_PPM, ppm));
  if (Math.abs(r) <= MAX_FREQ_PPM) return { tick: NOMINAL_TICK, freqPpm: r };
  const dt = Math.round(r / PPM_PER_TICK_US);
  return { tick: NOMINAL_TICK + dt, freqPpm: r - dt * PPM_PER_TICK_US };
}

/** The kernel's leap flags for a coming leap second. */
function leapStatus(leap: 'insert' | 'delete' | null): number {
  return leap === 'insert' ? STA_INS : leap === 'delete' ? STA_DEL : 0;
}

export class SystemClockDriver {
  private enabled: boolean;
  private disabledReason: string;
  private readonly mode: 'frequency' | 'pll';
  private readonly stept: number;
  private readonly slewTime: number;
  private readonly tc: number;
  /** The tick last written (null: not yet; the first frequency-mode call writes it). */
  private tick: number | null = null;

  constructor(
    readonly kernel: KernelClockInterface,
    opts: SystemClockOptions = {},
  ) {
    this.mode = opts.mode ?? 'frequency';
    this.stept = opts.stepThreshold ?? 0.128;
    this.slewTime = opts.slewTime ?? 16;
    this.tc = opts.timeConstant ?? 2;
    if (!opts.enable) {
      this.enabled = false;
      this.disabledReason = 'not enabled (read-only)';
    } else if (!kernel.privileged()) {
      this.enabled = false;
      this.disabledReason = `no privilege to set the clock (${kernel.name})`;
    } else {
      this.enabled = true;
      this.disabledReason = '';
    }
  }

  /** True when the driver will adjust the kernel clock. */
  get adjusting(): boolean {
    return this.enabled;
  }

  get reason(): string {
    return this.disabledReason;
  }

  /** The kernel clock status (adjtimex modes = 0), or null when it cannot be read. */
  readStatus(): KernelStatus | null {
    const r = this.kernel.adjtimex(emptyTimex(0));
    if (!r.ok) return null;
    return decodeStatus(this.kernel.name, r.state, r.timex);
  }

  private call(tx: Timex): FollowResult | null {
    const r = this.kernel.adjtimex(tx);
    if (r.ok) return null;
    if (r.errno === 'EPERM') {
      this.enabled = false;
      this.disabledReason = 'EPERM from the kernel';
    }
    return { kind: 'error', errno: r.errno };
  }

  /**
   * Makes the kernel clock follow `clock` (ntpkit's software clock over the same raw counter the
   * kernel interface samples). Call periodically (e.g. every few seconds).
   *
   * `leap`: a leap second the kernel should carry out at the coming UTC midnight (STA_INS/STA_DEL,
   * as ntpd sets them in step mode); null clears the flags. `feedPpm`: a rate of `clock` beyond its
   * frequency the kernel must run at (the leap slew or smear of the served time), fed forward in
   * frequency mode: the feedback (frequency + offset / slewTime) stays within ±500 ppm, the sum
   * within ±100 000 ppm through ADJ_TICK.
   */
  follow(clock: LocalClock, leap: 'insert' | 'delete' | null = null, feedPpm = 0): FollowResult {
    if (!this.enabled) return { kind: 'disabled', reason: this.disabledReason };
    const { raw, realtime } = this.kernel.sample();
    const target = ntpTimeToUnixNs(clock.read(raw));
    const offsetNs = target - realtime;
    const offset = Number(offsetNs) / 1e9;
    const bound = clock.errorBound(raw);
    const errUs = Number.isFinite(bound) ? Math.min(16_000_000, Math.round(bound * 1e6)) : 16_000_000;
    if (Math.abs(offset) > this.stept) {
      const tx = emptyTimex(ADJ_SETOFFSET | ADJ_NANO);
      const sec = offsetNs >= 0n ? offsetNs / 1_000_000_000n : -((-offsetNs + 999_999_999n) / 1_000_000_000n);
      tx.timeSec = Number(sec);
      tx.timeFrac = Number(offsetNs - sec * 1_000_000_000n);
      return this.call(tx) ?? { kind: 'step', offset };
    }
    const tx = emptyTimex(ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR | ADJ_NANO);
    tx.maxerror = errUs;
    tx.esterror = Math.round(errUs / 2);
    let ppm: number;
    let tick: number | undefined;
    if (this.mode === 'frequency') {
      const feedback = clock.frequencyPpm() + (offset / this.slewTime) * 1e6;
      ppm = Math.max(-MAX_FREQ_PPM, Math.min(MAX_FREQ_PPM, feedback)) + feedPpm;
      const split = splitRate(ppm);
      ppm = (split.tick - NOMINAL_TICK) * PPM_PER_TICK_US + split.freqPpm;
      tx.modes |= ADJ_FREQUENCY;
      tx.freq = Math.round(split.freqPpm * SCALED_PPM);
      if (split.tick !== this.tick) {
        tx.modes |= ADJ_TICK;
        tx.tick = split.tick;
      }
      tick = split.tick;
      tx.status = STA_NANO | leapStatus(leap);
    } else {
      tx.modes |= ADJ_OFFSET | ADJ_TIMECONST;
      tx.offset = Number(offsetNs);
      tx.constant = this.tc;
      tx.status = STA_PLL | STA_NANO | leapStatus(leap);
      ppm = Number.NaN;
    }
    const err = this.call(tx);
    if (err !== null) return err;
    if (tick !== undefined) this.tick = tick;
    if (Number.isNaN(ppm)) ppm = this.readStatus()?.frequencyPpm ?? Number.NaN;
    return tick === undefined
      ? { kind: 'slew', offset, frequencyPpm: ppm }
      : { kind: 'slew', offset, frequencyPpm: ppm, tick };
  }
}
