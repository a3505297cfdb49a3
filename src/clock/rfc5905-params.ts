/** The RFC 5905 discipline's constants, options and the types of its update path. */
import type { NtpTime } from '../time/ntp-time.js';
import type { SoftwareClock } from './software-clock.js';
import type { ClockSample, DisciplineResult, RawTime } from './types.js';

/** RFC 5905 constants (Appendix A.1.1 and A.5.5.6). */
export const STEPT = 0.128;
export const WATCH = 900;
export const PANICT = 1000;
/** ntpd's daemon-loop gain CLOCK_PLL (the default here is KERNEL_PLL, the kernel loop's 4). */
export const PLL = 16;
export const KERNEL_PLL = 4;
export const FLL = 18; // MAXPOLL + 1
export const AVG = 4;
export const ALLAN = 1500;
export const LIMIT = 30;
export const MAXFREQ = 500e-6;
export const PGATE = 4;
/**
 * Updates in the least-squares FLL (at least; more while they span less than ALLAN/2 s, up to
 * FLL_MAX_POINTS), and the weight of its measurement (1/FLL_AVG per update).
 */
export const FLL_POINTS = 8;
export const FLL_MAX_POINTS = 4096;
export const FLL_AVG = 2;
/**
 * The startup hold's slew bound, in frequency tolerances (2,000 ppm at 500): ntpd's clamp at 500 ppm
 * left 6.5 ms after a lost burst for 15 s (chrony slews at up to 83,333 ppm; the system clock driver
 * goes beyond 500 ppm through ADJ_TICK).
 */
export const HOLD_SLEW = 4;
/** After an iburst split the hold slews a large start-up offset within about a second, at most this (s/s). */
export const SPLIT_SLEW = 0.1;
/** Default target of the poll adaptation. */
export const POLL_TARGET = 1.1;

export interface Rfc5905Options {
  /** Initial model of the software clock: counter value `raw` reads as `time` (default 0 ↔ 0). */
  raw?: RawTime;
  time?: NtpTime;
  /** An existing software clock to drive instead of a new one. */
  clock?: SoftwareClock;
  /** Initial frequency correction (ppm), e.g. from the drift file; enables FSET state. */
  initialFrequencyPpm?: number;
  /** Poll exponent limits (log2 s), defaults 6 and 10; the poll adapts within them (`PollAdapter`). */
  minpoll?: number;
  maxpoll?: number;
  /** Samples' worth of information at the poll chosen (default 1.1). */
  pollTarget?: number;
  /** Step threshold (s), default 0.128; 0 or Infinity: never step (always slew). */
  stepThreshold?: number;
  /** Panic threshold (s), default 1000; 0 or Infinity: no panic check. */
  panicThreshold?: number;
  /** Allow one step of any size (beyond panic) before the first synchronisation (ntpd -g). */
  stepAtStartup?: boolean;
  /**
   * The first update steps the clock whatever the offset (default true: the initial offset is removed
   * at once); false: only beyond the step threshold, as RFC 5905 does. No effect with stepThreshold 0.
   */
  stepInitialOffset?: boolean;
  /** Stepout interval (s) before a persistent large offset is stepped, default 900. */
  stepout?: number;
  /** Frequency tolerance (ppm), default 500. */
  maxFrequencyPpm?: number;
  /** Precision of clock readings, log2 s (default -20). */
  precision?: number;
  /** PLL gain constant (ntpd's daemon CLOCK_PLL is 16), default 4 (ntpd with the kernel loop). */
  pllGain?: number;
  /**
   * Startup hold (default true; ntpd's initial frequency clamp): for the stepout interval after the
   * first entry into SYNC state the offsets are slewed with the short time constant PLL/2 s, without
   * PLL/FLL frequency updates, at a fixed poll; at its end the frequency is measured again over it.
   */
  startupHold?: boolean;
  /** Deprecated: 0 disables the startup hold (as `startupHold: false`); other values are ignored. */
  startupHoldOffset?: number;
}

export type Rfc5905State = 'NSET' | 'FSET' | 'SPIK' | 'FREQ' | 'SYNC';

/** One update in progress: the sample and what follows from it before the state handler runs. */
export interface Update {
  sample: ClockSample;
  /** Counter value of the measurement, and where the change is applied (now, ≥ raw). */
  raw: RawTime;
  at: RawTime;
  /** Measured offset, and the offset at `at` (the RFC's θ for a sample taken now: the PLL/FLL input). */
  offset: number;
  theta: number;
  /** True time at the measurement (the reading handed out then plus the offset measured against it). */
  trueTime: NtpTime;
  /** Seconds since the last update (RFC mu); age of the measurement at `at`; RFC c.offset at the measurement. */
  mu: number;
  age: number;
  cOffset: number;
  /** FREQ state: the frequency measured over the updates so far. */
  measured: number | null;
}

/** A state handler's correction: frequency change (s/s), the offset to slew or step at `at`, whether under the startup hold. */
export interface Correction {
  freq: number;
  now: number;
  step: boolean;
  holding: boolean;
}

/** What a state handler decided: return at once, or correct the clock. */
export type Handled = { done: DisciplineResult } | Correction;
