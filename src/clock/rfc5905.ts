/**
 * The RFC 5905 clock discipline (sections 11.3 and 12, Appendix A.5.5.6 local_clock, A.5.6
 * clock_adjust): a hybrid phase/frequency-locked loop driving a `SoftwareClock`.
 *
 * Differences from the Appendix code, all deliberate:
 * - The clock-adjust process that runs once per second in the RFC (c.offset -= c.offset / (PLL·τ))
 *   is modelled continuously: the software clock slews the pending offset exponentially with time
 *   constant PLL·2^poll seconds. The pending remainder (the RFC's c.offset) is read back from the clock.
 * - The PLL gain constant is ntpd's CLOCK_PLL = 16 (the Appendix's listing value does not give a
 *   usable loop); it is configurable.
 * - In SYNC state an outlier moves the machine to SPIK (the Appendix sets a local variable only).
 * - Wander is the RMS of frequency *changes* (the Appendix squares the frequency itself).
 * - Jitter is not accumulated in NSET/FREQ (offsets there carry the uncorrected frequency error) and is
 *   reset by a step; otherwise it stays inflated for hours and drives the poll interval up.
 * - Startup hold (as some RFC 5905 implementations have): after FREQ measured the frequency, offsets above
 *   `startupHoldOffset` are slewed without PLL/FLL frequency updates (no ppm-sized overshoot).
 * - An update measured before the last clock change is ignored (the RFC clock filter's rule); one
 *   measured earlier than "now" (the latest exchange seen) is referred to now through the pending slew.
 * - Step threshold, panic threshold, stepout and frequency tolerance are options; `stepAtStartup`
 *   permits one step of any size before the first synchronisation (ntpd -g).
 */

import type { NtpTime } from '../time/ntp-time.js';
import { clampPoll } from '../time/short.js';
import { SoftwareClock } from './software-clock.js';
import type {
  ClockSample,
  Discipline,
  DisciplineResult,
  DisciplineSnapshot,
  LocalClock,
  RawExchange,
  RawTime,
} from './types.js';

/** RFC 5905 constants (Appendix A.1.1 and A.5.5.6). */
export const STEPT = 0.128;
export const WATCH = 900;
export const PANICT = 1000;
export const PLL = 16;
export const FLL = 18; // MAXPOLL + 1
export const AVG = 4;
export const ALLAN = 1500;
export const LIMIT = 30;
export const MAXFREQ = 500e-6;
export const PGATE = 4;

export type Rfc5905State = 'NSET' | 'FSET' | 'SPIK' | 'FREQ' | 'SYNC';

export interface Rfc5905Options {
  /** Initial model of the software clock: counter value `raw` reads as `time` (default 0 ↔ 0). */
  raw?: RawTime;
  time?: NtpTime;
  /** An existing software clock to drive instead of a new one. */
  clock?: SoftwareClock;
  /** Initial frequency correction (ppm), e.g. from the drift file; enables FSET state. */
  initialFrequencyPpm?: number;
  /** Poll exponent limits (log2 s), defaults 6 and 10. */
  minpoll?: number;
  maxpoll?: number;
  /** Step threshold (s), default 0.128; 0 or Infinity: never step (always slew). */
  stepThreshold?: number;
  /** Panic threshold (s), default 1000; 0 or Infinity: no panic check. */
  panicThreshold?: number;
  /** Allow one step of any size (beyond panic) before the first synchronisation (ntpd -g). */
  stepAtStartup?: boolean;
  /** Stepout interval (s) before a persistent large offset is stepped, default 900. */
  stepout?: number;
  /** Frequency tolerance (ppm), default 500. */
  maxFrequencyPpm?: number;
  /** Precision of clock readings, log2 s (default -20). */
  precision?: number;
  /** PLL gain constant (ntpd CLOCK_PLL), default 16. */
  pllGain?: number;
  /**
   * After the frequency is measured in FREQ state, the remaining offset is slewed without feeding the
   * PLL/FLL until |offset| falls to this (s, default 0.001; 0 disables the hold).
   */
  startupHoldOffset?: number;
}

export class Rfc5905Discipline implements Discipline {
  readonly kind = 'rfc5905' as const;
  readonly software: SoftwareClock;
  readonly clock: LocalClock;

  private state: Rfc5905State;
  private readonly minpoll: number;
  private readonly maxpoll: number;
  private readonly stept: number;
  private readonly panict: number;
  private readonly watch: number;
  private readonly maxfreq: number;
  private readonly precision: number;
  private readonly pll: number;
  private stepAtStartup: boolean;

  /** s.poll: the system poll exponent. */
  private poll: number;
  /** c.count: the jiggle counter. */
  private count = 0;
  /** c.freq (s/s). */
  private freq: number;
  /** c.base, c.last (s); s.t as a counter value (null before the first update). */
  private base = 0;
  private last = 0;
  private lastOffset = 0;
  private t: RawTime | null = null;
  private jitter: number;
  private wander = 0;
  /** Latest counter value at which the model was changed (changes never go back in time). */
  private lastChange: RawTime | null = null;
  /** Latest counter value seen in an exchange. */
  private latest: RawTime | null = null;
  private updates = 0;
  /** Startup hold (after FREQ): no PLL/FLL frequency updates until |offset| ≤ holdOffset. */
  private hold = false;
  private readonly holdOffset: number;
  private steps = 0;

  constructor(opts: Rfc5905Options = {}) {
    this.software =
      opts.clock ??
      new SoftwareClock({
        raw: opts.raw ?? 0n,
        time: opts.time ?? 0n,
        frequencyPpm: opts.initialFrequencyPpm ?? 0,
      });
    this.clock = this.software;
    this.minpoll = opts.minpoll ?? 6;
    this.maxpoll = Math.max(this.minpoll, opts.maxpoll ?? 10);
    this.poll = this.minpoll;
    const st = opts.stepThreshold ?? STEPT;
    this.stept = st > 0 ? st : Number.POSITIVE_INFINITY;
    const pt = opts.panicThreshold ?? PANICT;
    this.panict = pt > 0 ? pt : Number.POSITIVE_INFINITY;
    this.watch = opts.stepout ?? WATCH;
    this.maxfreq = (opts.maxFrequencyPpm ?? 500) * 1e-6;
    this.precision = 2 ** (opts.precision ?? -20);
    this.pll = opts.pllGain ?? PLL;
    this.stepAtStartup = opts.stepAtStartup ?? false;
    const ho = opts.startupHoldOffset ?? 0.001;
    this.holdOffset = ho > 0 ? ho : Number.POSITIVE_INFINITY;
    this.jitter = this.precision;
    if (opts.initialFrequencyPpm !== undefined) {
      this.freq = Math.max(-this.maxfreq, Math.min(this.maxfreq, opts.initialFrequencyPpm * 1e-6));
      this.state = 'FSET';
    } else {
      this.freq = this.software.frequency();
      this.state = 'NSET';
    }
  }

  /**
   * The RFC discipline works on the mitigated offset, not on raw exchanges; it only notes the latest
   * counter value seen, so that model changes are never placed before a reading already handed out.
   */
  exchange(x: RawExchange, _fromSystemPeer: boolean): void {
    if (this.latest === null || x.tf > this.latest) this.latest = x.tf;
  }

  pollExponent(): number {
    return this.poll;
  }

  /** Discipline state (NSET, FSET, SPIK, FREQ, SYNC). */
  currentState(): Rfc5905State {
    return this.state;
  }

  /** Frequency correction in ppm (for the drift file). */
  frequencyPpm(): number {
    return this.freq * 1e6;
  }

  /** Where a model change for a sample taken at `raw` is applied: never before a later counter value seen. */
  private when(raw: RawTime): RawTime {
    let at = raw;
    if (this.lastChange !== null && at < this.lastChange) at = this.lastChange;
    if (this.latest !== null && at < this.latest) at = this.latest;
    return at;
  }

  /**
   * RFC rstclock: enter `state` at measurement time `raw` with measured `offset`, `slewed` being the
   * offset handed to the clock for amortisation (c.base = offset − c.offset, as the Appendix does).
   */
  private rstclock(state: Rfc5905State, raw: RawTime, offset: number, slewed: number): void {
    this.state = state;
    this.base = offset - slewed;
    this.last = offset;
    this.t = raw;
  }

  private tau(): number {
    return this.pll * Math.min(2 ** this.poll, ALLAN);
  }

  private doStep(at: RawTime, offset: number): void {
    this.software.step(at, offset);
    this.jitter = this.precision;
    this.lastChange = at;
    this.count = 0;
    this.steps++;
    this.stepAtStartup = false;
  }

  update(sample: ClockSample): DisciplineResult {
    const raw = sample.raw;
    const offset = sample.offset;
    if (!Number.isFinite(offset)) return { kind: 'ignored', reason: 'non-finite offset' };
    if (this.t !== null && raw <= this.t)
      return { kind: 'ignored', reason: 'not newer than the last update' };
    // RFC 5905 clock_filter: a sample measured before the last clock update is stale (it does not see
    // the correction made since) and would be counted twice.
    if (this.lastChange !== null && raw < this.lastChange) {
      return { kind: 'ignored', reason: 'measured before the last clock update' };
    }
    const neverSet = this.state === 'NSET' || this.state === 'FSET';
    if (Math.abs(offset) > this.panict && !(neverSet && this.stepAtStartup)) {
      return { kind: 'panic', offset };
    }
    this.updates++;
    const mu = this.t === null ? 0 : Number(raw - this.t) / 1e9;
    if (sample.now !== undefined && (this.latest === null || sample.now > this.latest))
      this.latest = sample.now;
    // The update is applied at `at` (now), possibly later than the measurement at `raw`: the pending
    // slew went on meanwhile. cOffset is the RFC's c.offset at the measurement; `now` is the offset
    // still to correct at `at`.
    const at = this.when(raw);
    const cOffset = this.software.pendingSlew(raw);
    let now = offset - cOffset + this.software.pendingSlew(at);
    // Age of the measurement: in FREQ state the measured frequency error also extrapolates the offset.
    const age = Number(at - raw) / 1e9;
    let freq = 0;
    let result: DisciplineResult = { kind: 'slew', offset: now };

    if (Math.abs(offset) > this.stept) {
      switch (this.state) {
        case 'SYNC':
          this.state = 'SPIK';
          return { kind: 'spike' };
        case 'FREQ':
          if (mu < this.watch) return { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' };
          freq = (offset - this.base - cOffset) / mu;
          this.doStep(at, now + freq * age);
          this.hold = true;
          break;
        case 'SPIK':
          if (mu < this.watch) return { kind: 'spike' };
          this.doStep(at, now);
          break;
        case 'NSET':
          this.doStep(at, now);
          this.rstclock('FREQ', raw, 0, 0);
          this.afterUpdate(sample, raw);
          return { kind: 'step', offset: now };
        case 'FSET':
          this.doStep(at, now);
          break;
      }
      result = { kind: 'step', offset: now + freq * age };
      this.rstclock('SYNC', raw, 0, 0);
    } else {
      // Before SYNC the offsets are dominated by the unknown frequency error: they would inflate the
      // jitter for many updates (and with it the poll interval), so they are not counted.
      if (this.state !== 'NSET' && this.state !== 'FREQ') {
        const d = Math.max(Math.abs(offset - this.last), this.precision);
        this.jitter = Math.sqrt(this.jitter ** 2 + (d ** 2 - this.jitter ** 2) / AVG);
      }
      switch (this.state) {
        case 'NSET':
          this.slew(at, now);
          this.rstclock('FREQ', raw, offset, now);
          this.afterUpdate(sample, raw);
          return { kind: 'slew', offset: now };
        case 'FSET':
          break;
        case 'FREQ':
          if (mu < this.watch) {
            this.afterUpdate(sample, raw);
            return { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' };
          }
          freq = (offset - this.base - cOffset) / mu;
          now += freq * age;
          this.hold = true;
          break;
        default: {
          // Startup hold: right after the frequency was measured directly, the remaining offset is only
          // slewed; integrating it into the frequency would overshoot by ppm (the offset is known
          // to come from the phase, not the frequency).
          if (this.hold && Math.abs(offset) > this.holdOffset) break;
          this.hold = false;
          const pollS = 2 ** this.poll;
          if (pollS > ALLAN / 2) {
            const etemp = Math.max(FLL - this.poll, AVG);
            freq += (offset - cOffset) / (Math.max(mu, ALLAN) * etemp);
          }
          const etemp = Math.min(mu, pollS);
          const dtemp = 4 * this.pll * pollS;
          freq += (offset * etemp) / (dtemp * dtemp);
          break;
        }
      }
      this.slew(at, now);
      this.rstclock('SYNC', raw, offset, now);
    }

    const old = this.freq;
    this.freq = Math.max(-this.maxfreq, Math.min(this.maxfreq, old + freq));
    const df = this.freq - old;
    this.wander = Math.sqrt(this.wander ** 2 + (df ** 2 - this.wander ** 2) / AVG);
    this.software.setFrequency(at, this.freq * 1e6);
    this.lastChange = at;

    // Poll-interval adjustment (the jiggle counter).
    if (Math.abs(offset) < PGATE * this.jitter) {
      this.count += this.poll;
      if (this.count > LIMIT) {
        this.count = LIMIT;
        if (this.poll < this.maxpoll) {
          this.count = 0;
          this.poll++;
        }
      }
    } else {
      this.count -= this.poll << 1;
      if (this.count < -LIMIT) {
        this.count = -LIMIT;
        if (this.poll > this.minpoll) {
          this.count = 0;
          this.poll--;
        }
      }
    }
    this.poll = clampPoll(this.poll, this.minpoll, this.maxpoll);
    this.afterUpdate(sample, raw);
    this.lastOffset = offset;
    return result;
  }

  private slew(at: RawTime, offset: number): void {
    this.software.slewExponential(at, offset, this.tau());
    this.lastChange = at;
  }

  private afterUpdate(sample: ClockSample, raw: RawTime): void {
    this.lastOffset = sample.offset;
    this.software.setErrorBound(this.when(raw), sample.rootDelay / 2 + sample.rootDispersion + sample.jitter);
  }

  snapshot(raw: RawTime): DisciplineSnapshot {
    return {
      kind: 'rfc5905',
      state: this.state,
      offset: this.lastOffset,
      frequencyPpm: this.freq * 1e6,
      jitter: this.jitter,
      wander: this.wander * 1e6,
      poll: this.poll,
      extra: {
        pendingOffset: this.software.pendingSlew(this.when(raw)),
        jiggleCount: this.count,
        updates: this.updates,
        steps: this.steps,
        timeConstant: this.tau(),
      },
    };
  }
}
