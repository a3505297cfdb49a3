/**
 * The software clock: a model that turns raw counter readings (nanoseconds, nominal) into UTC.
 *
 *   read(raw) = base + (raw − rawBase) · (1 + freq) + slewApplied(raw)
 *
 * `freq` is the rate correction (a fraction; 1e-6 = 1 ppm). A step moves `base`; a slew is a pending
 * correction that is folded into the reading gradually (exponentially with a time constant, like the
 * RFC 5905 clock-adjust process, or linearly at a bounded rate). Neither touches the counter. Every
 * change is announced to the `onChange` listeners so that modules storing NTP times can fix them.
 *
 * The error bound is the root distance given at the last update, plus PHI (15 ppm) times the time
 * elapsed since then, plus the part of a pending slew not yet applied.
 *
 * Sans-IO: no clock is read here; everything is a function of the `raw` argument.
 */
import { type NtpTime, secondsToDuration } from '../time/ntp-time.js';
import type { ClockChange, ClockListener, LocalClock, RawTime } from './types.js';

/** RFC 5905 frequency tolerance PHI: the maximum rate error assumed for a free-running clock (15 ppm). */
export const PHI = 15e-6;
/** Largest rate a slew may add to the clock (the Linux kernel's 500 ppm). */
export const MAX_SLEW_RATE = 500e-6;

const SHIFT = 64n;
const HALF = 1n << 63n;
const TWO_POW_52 = 2 ** 52;

export interface SoftwareClockOptions {
  /** Counter value and NTP time that define the initial model (default: raw 0 = NtpTime 0). */
  raw?: RawTime;
  time?: NtpTime;
  /** Initial rate correction, ppm (e.g. from a drift file). */
  frequencyPpm?: number;
  /** Frequency tolerance used for the error bound growth, s/s (default PHI = 15e-6). */
  tolerance?: number;
  /** Error bound before the first `setErrorBound` (default Infinity: never synchronised). */
  initialErrorBound?: number;
}

type Slew =
  | { kind: 'none' }
  /** remaining(t) = amount · exp(−(t − start)/tau). */
  | { kind: 'exp'; start: RawTime; amount: number; tau: number }
  /** remaining(t) = amount − sign · rate · (t − start), until it reaches 0. */
  | { kind: 'linear'; start: RawTime; amount: number; rate: number };

/** Multiplier turning counter ns into NTP units × 2^64, for a rate correction `freq` (fraction). */
function multiplierFor(freq: number): bigint {
  // (1 + freq) · 2^96 / 1e9, computed with freq quantised to 2^-52 (2e-16): exact enough for any use.
  const q = BigInt(Math.round(freq * TWO_POW_52));
  return ((1n << 96n) + (q << 44n) + 500_000_000n) / 1_000_000_000n;
}

export class SoftwareClock implements LocalClock {
  private rawBase: RawTime;
  private base: NtpTime;
  private freq: number;
  private ppm: number;
  private mult: bigint;
  private slew: Slew = { kind: 'none' };
  private errorBase: number;
  private errorRaw: RawTime;
  private readonly tolerance: number;
  private readonly listeners = new Set<ClockListener>();
  private synced = false;

  constructor(opts: SoftwareClockOptions = {}) {
    this.rawBase = opts.raw ?? 0n;
    this.base = opts.time ?? 0n;
    this.ppm = opts.frequencyPpm ?? 0;
    this.freq = this.ppm * 1e-6;
    this.mult = multiplierFor(this.freq);
    this.tolerance = opts.tolerance ?? PHI;
    this.errorBase = opts.initialErrorBound ?? Number.POSITIVE_INFINITY;
    this.errorRaw = this.rawBase;
  }

  /** Era-extended NTP time at counter value `raw`. */
  read(raw: RawTime): NtpTime {
    const d = raw - this.rawBase;
    const linear = d >= 0n ? (d * this.mult + HALF) >> SHIFT : -((-d * this.mult + HALF) >> SHIFT);
    const s = this.slew;
    if (s.kind === 'none') return this.base + linear;
    return this.base + linear + secondsToDuration(this.slewApplied(s, raw));
  }

  /** Seconds of the pending slew that have been applied by `raw`. */
  private slewApplied(s: Slew, raw: RawTime): number {
    switch (s.kind) {
      case 'none':
        return 0;
      case 'exp': {
        const t = Number(raw - s.start) / 1e9;
        if (t <= 0) return 0;
        return s.amount * -Math.expm1(-t / s.tau);
      }
      case 'linear': {
        const t = Number(raw - s.start) / 1e9;
        if (t <= 0) return 0;
        const done = s.rate * t;
        return Math.abs(s.amount) <= done ? s.amount : Math.sign(s.amount) * done;
      }
    }
  }

  /** The part of the pending slew not yet applied at `raw`, seconds. */
  pendingSlew(raw: RawTime): number {
    return this.slew.kind === 'none' ? 0 : this.slew.amount - this.slewApplied(this.slew, raw);
  }

  errorBound(raw: RawTime): number {
    if (!this.synced) return this.errorBase;
    const dt = Math.max(0, Number(raw - this.errorRaw) / 1e9);
    return this.errorBase + this.tolerance * dt + Math.abs(this.pendingSlew(raw));
  }

  frequencyPpm(): number {
    return this.ppm;
  }

  /** Rate correction as a fraction (1e-6 = 1 ppm). */
  frequency(): number {
    return this.freq;
  }

  /** True once `setErrorBound` has been called (the clock has been synchronised at least once). */
  synchronised(): boolean {
    return this.synced;
  }

  onChange(listener: ClockListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit(change: ClockChange): void {
    for (const l of [...this.listeners]) l(change);
  }

  /**
   * Re-anchors the model at `raw` (folding any applied part of the slew into the base) so that
   * parameters can change without a discontinuity. Returns the slew still pending.
   */
  private rebase(raw: RawTime): number {
    const now = this.read(raw);
    const pending = this.pendingSlew(raw);
    this.base = now;
    this.rawBase = raw;
    this.slew = { kind: 'none' };
    return pending;
  }

  /**
   * Steps the clock by `offset` seconds at `raw` (new reading = old + offset). Cancels a pending slew.
   * `reason` is passed on to the listeners (the system logs every step with it).
   */
  step(raw: RawTime, offset: number, reason?: string): void {
    this.rebase(raw);
    this.base += secondsToDuration(offset);
    this.emit(reason === undefined ? { kind: 'step', raw, offset } : { kind: 'step', raw, offset, reason });
  }

  /**
   * Sets the clock so that it reads `time` at `raw` (a step by the difference, announced as such).
   * Returns the step in seconds.
   */
  setTime(raw: RawTime, time: NtpTime, reason?: string): number {
    this.rebase(raw);
    const diff = time - this.base;
    this.base = time;
    const offset = Number(diff) / 2 ** 32;
    this.emit(reason === undefined ? { kind: 'step', raw, offset } : { kind: 'step', raw, offset, reason });
    return offset;
  }

  /** Sets the rate correction to `ppm` from `raw` on (continuous reading). */
  setFrequency(raw: RawTime, ppm: number): void {
    const pending = this.rebase(raw);
    this.ppm = ppm;
    this.freq = ppm * 1e-6;
    this.mult = multiplierFor(this.freq);
    this.restartSlew(raw, pending);
    this.emit({ kind: 'frequency', raw, ppm });
  }

  /** Continues a pending slew (after a rebase) in the mode of the last slew. */
  private restartSlew(raw: RawTime, pending: number): void {
    const m = this.lastSlewMode;
    if (pending === 0 || m === null) return;
    this.slew =
      m.kind === 'exp'
        ? { kind: 'exp', start: raw, amount: pending, tau: m.tau }
        : { kind: 'linear', start: raw, amount: pending, rate: m.rate };
  }

  private lastSlewMode: { kind: 'exp'; tau: number } | { kind: 'linear'; rate: number } | null = null;

  /**
   * Starts an exponential slew: `offset` seconds (replacing any pending slew) amortised with time
   * constant `tau` seconds, as the RFC 5905 clock-adjust process does once per second.
   */
  slewExponential(raw: RawTime, offset: number, tau: number): void {
    this.rebase(raw);
    this.lastSlewMode = { kind: 'exp', tau };
    this.slew = offset === 0 ? { kind: 'none' } : { kind: 'exp', start: raw, amount: offset, tau };
    this.emit({ kind: 'frequency', raw, ppm: this.ppm });
  }

  /** Starts a linear slew of `offset` seconds (replacing any pending slew) at `rate` s/s (default 500 ppm). */
  slewLinear(raw: RawTime, offset: number, rate = MAX_SLEW_RATE): void {
    this.rebase(raw);
    this.lastSlewMode = { kind: 'linear', rate };
    this.slew = offset === 0 ? { kind: 'none' } : { kind: 'linear', start: raw, amount: offset, rate };
    this.emit({ kind: 'frequency', raw, ppm: this.ppm });
  }

  /** Records the error bound (root distance) at `raw`; it grows from there at the frequency tolerance. */
  setErrorBound(raw: RawTime, bound: number): void {
    this.errorBase = bound;
    this.errorRaw = raw;
    this.synced = true;
  }
}
