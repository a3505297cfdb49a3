/**
 * The RFC 5905 clock discipline (sections 11.3 and 12, Appendix A.5.5.6 local_clock, A.5.6
 * clock_adjust): a hybrid phase/frequency-locked loop driving a `SoftwareClock`.
 *
 * Differences from the Appendix code, all deliberate:
 * - The clock-adjust process that runs once per second in the RFC (c.offset -= c.offset / (PLL·τ))
 *   is modelled continuously: the software clock slews the pending offset exponentially with time
 *   constant PLL·2^poll seconds. The pending remainder (the RFC's c.offset) is read back from the clock.
 * - The PLL gain constant defaults to 4: the loop ntpd actually runs with the kernel discipline
 *   (phase time constant 2^(SHIFT_PLL+poll) = 4·2^poll s, frequency gain 1/(16·2^poll)²). ntpd's
 *   daemon-loop CLOCK_PLL = 16 is 4× slower and cannot follow a 1e-9/√s random-walk wander at the
 *   polls the poll-adjust picks (the Appendix's listing value gives no usable loop). Configurable.
 * - The PLL frequency gain integrates over min(mu, ALLAN) (ntpd), not min(mu, 2^poll) (Appendix): the
 *   clock filter often hands over a new sample only every few polls, and the Appendix's rule then
 *   cuts the loop gain by that factor.
 * - Poll adjust: the poll is not raised while updates come more than two polls apart (undersampling:
 *   a longer poll would make the few updates rarer still).
 * - In SYNC state an outlier moves the machine to SPIK (the Appendix sets a local variable only).
 * - Wander is the RMS of frequency *changes* (the Appendix squares the frequency itself).
 * - Jitter is not accumulated in NSET/FREQ (offsets there carry the uncorrected frequency error) and is
 *   reset by a step; otherwise it stays inflated for hours and drives the poll interval up.
 * - Startup hold (ntpd's initial frequency clamp, freq_cnt): for the stepout interval after the first
 *   entry into SYNC, offsets are slewed with the short time constant PLL·2 s (bounded, with the frequency
 *   correction, by the frequency tolerance: linear at that bound beyond it), without PLL/FLL frequency
 *   updates (no ppm-sized overshoot), jitter accumulation or poll changes. At its end the frequency is
 *   measured again, by a least-squares fit of true time (reading + offset) against the counter over
 *   the hold: FREQ's measurement is wrong when the source itself was still settling (stratum 2 during
 *   its own start-up) or the combined offset mixed samples of different ages while the clock moved.
 * - An update measured before the last clock change is ignored (the RFC clock filter's rule); one
 *   measured earlier than "now" (the latest exchange seen) is referred to now through the pending slew.
 * - Step threshold, panic threshold, stepout and frequency tolerance are options; `stepAtStartup`
 *   permits one step of any size before the first synchronisation (ntpd -g).
 */

import { durationToSeconds, type NtpTime, secondsToDuration } from '../time/ntp-time.js';
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
/** ntpd's daemon-loop gain CLOCK_PLL (the default here is KERNEL_PLL, the kernel loop's 4). */
export const PLL = 16;
export const KERNEL_PLL = 4;
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
  /** PLL gain constant (ntpd's daemon CLOCK_PLL is 16), default 4 (ntpd with the kernel loop). */
  pllGain?: number;
  /**
   * Startup hold (default true; ntpd's initial frequency clamp): for the stepout interval after the
   * first entry into SYNC state the offsets are slewed with the short time constant PLL·2 s, without
   * PLL/FLL frequency updates, at a fixed poll; at its end the frequency is measured again over it.
   */
  startupHold?: boolean;
  /** Deprecated: 0 disables the startup hold (as `startupHold: false`); other values are ignored. */
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
  /**
   * Startup hold (ntpd's initial frequency clamp): from the start until the stepout interval has
   * passed in SYNC state, no PLL/FLL frequency updates and phase time constant PLL·2 s.
   */
  private hold: boolean;
  /** Counter value at which the hold began counting (the first entry into SYNC), null before. */
  private holdSince: RawTime | null = null;
  /**
   * Least-squares fit, over the hold, of the true time (clock reading + measured offset) against the
   * counter: its slope is the counter's frequency error, whatever the clock did meanwhile.
   * x: s since the anchor; y: true time elapsed minus x, s.
   */
  private fit: {
    raw: RawTime;
    time: NtpTime;
    n: number;
    sx: number;
    sy: number;
    sxx: number;
    sxy: number;
  } | null = null;
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
    this.pll = opts.pllGain ?? KERNEL_PLL;
    this.stepAtStartup = opts.stepAtStartup ?? false;
    this.hold = (opts.startupHold ?? true) && opts.startupHoldOffset !== 0;
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
    // True time at the measurement (the reading handed out then plus the offset measured against it).
    const trueTime = this.software.read(raw) + secondsToDuration(offset);
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
    /** The startup hold applies to this update: fast phase slew, no frequency or poll updates. */
    let holding = false;

    if (Math.abs(offset) > this.stept) {
      switch (this.state) {
        case 'SYNC':
          this.state = 'SPIK';
          return { kind: 'spike' };
        case 'FREQ':
          if (mu < this.watch) return { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' };
          freq = (offset - this.base - cOffset) / mu;
          this.doStep(at, now + freq * age);
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
      this.enterSync(raw, trueTime);
      this.rstclock('SYNC', raw, 0, 0);
    } else {
      switch (this.state) {
        case 'NSET':
          this.slew(at, now, false);
          this.rstclock('FREQ', raw, offset, now);
          this.afterUpdate(sample, raw);
          return { kind: 'slew', offset: now };
        case 'FREQ':
          if (mu < this.watch) {
            this.afterUpdate(sample, raw);
            return { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' };
          }
          // The frequency measured directly over the stepout interval; the offset left is mostly the
          // phase the old frequency error accumulated meanwhile, removed under the startup hold.
          freq = (offset - this.base - cOffset) / mu;
          now += freq * age;
          this.enterSync(raw, trueTime);
          holding = this.hold;
          break;
        default: {
          // FSET, SYNC, SPIK. Startup hold: until the initial transient has been slewed away the offset
          // comes from the phase, not the frequency: integrating it would overshoot by ppm.
          if (this.state === 'FSET') this.enterSync(raw, trueTime);
          if (this.hold) {
            this.addFitPoint(raw, trueTime);
            const since = this.holdSince === null ? 0 : Number(raw - this.holdSince) / 1e9;
            if (since < this.watch) {
              holding = true;
              break;
            }
            // End of the hold: the frequency measured over it (against a source that had time to settle
            // as well) replaces the FREQ state's; the PLL takes over from there.
            this.hold = false;
            const y = this.fitSlope();
            this.fit = null;
            if (y !== null) {
              freq = this.clampFreq(y) - this.freq;
              now += freq * age;
              break;
            }
          }
          const pollS = 2 ** this.poll;
          if (pollS > ALLAN / 2) {
            const etemp = Math.max(FLL - this.poll, AVG);
            freq += (offset - cOffset) / (Math.max(mu, ALLAN) * etemp);
          }
          const etemp = Math.min(mu, ALLAN);
          const dtemp = 4 * this.pll * pollS;
          freq += (offset * etemp) / (dtemp * dtemp);
          break;
        }
      }
      // The jitter is not accumulated before SYNC and under the hold: those offsets are dominated by
      // the start-up transient; they would inflate it for many updates (and with it the poll interval).
      if (!holding && this.state !== 'FREQ') {
        const d = Math.max(Math.abs(offset - this.last), this.precision);
        this.jitter = Math.sqrt(this.jitter ** 2 + (d ** 2 - this.jitter ** 2) / AVG);
      }
      this.slew(at, now, holding, this.clampFreq(this.freq + freq));
      this.rstclock('SYNC', raw, offset, now);
    }

    const old = this.freq;
    this.freq = this.clampFreq(old + freq);
    const df = this.freq - old;
    this.wander = Math.sqrt(this.wander ** 2 + (df ** 2 - this.wander ** 2) / AVG);
    this.software.setFrequency(at, this.freq * 1e6);
    this.lastChange = at;

    // Poll-interval adjustment (the jiggle counter); frozen under the startup hold (as ntpd does).
    if (holding) {
      this.count = 0;
    } else if (Math.abs(offset) < PGATE * this.jitter) {
      // Undersampling: when updates come further apart than two poll intervals (the clock filter
      // discards most samples), a longer poll would only thin them further; the poll is not raised.
      if (mu <= 2 * 2 ** this.poll) this.count += this.poll;
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

  private clampFreq(f: number): number {
    return Math.max(-this.maxfreq, Math.min(this.maxfreq, f));
  }

  /** First entry into SYNC state: the startup hold starts counting its stepout interval. */
  private enterSync(raw: RawTime, trueTime: NtpTime): void {
    if (this.holdSince !== null || !this.hold) return;
    this.holdSince = raw;
    this.fit = { raw, time: trueTime, n: 0, sx: 0, sy: 0, sxx: 0, sxy: 0 };
    this.addFitPoint(raw, trueTime);
  }

  private addFitPoint(raw: RawTime, trueTime: NtpTime): void {
    const f = this.fit;
    if (f === null) return;
    const x = Number(raw - f.raw) / 1e9;
    const y = durationToSeconds(trueTime - f.time) - x;
    f.n++;
    f.sx += x;
    f.sy += y;
    f.sxx += x * x;
    f.sxy += x * y;
  }

  /** Slope of the hold's fit (the counter's frequency error, s/s); null with too few points. */
  private fitSlope(): number | null {
    const f = this.fit;
    if (f === null || f.n < 3) return null;
    const d = f.n * f.sxx - f.sx * f.sx;
    if (!(d > 0)) return null;
    return (f.n * f.sxy - f.sx * f.sy) / d;
  }

  /**
   * Replaces the pending slew by `offset`. Normally amortised with the PLL time constant; under the
   * startup hold with ntpd's startup time constant PLL·2 s, the slew plus the frequency correction
   * `freq` bounded by the frequency tolerance (beyond that bound the slew is linear at the bound).
   */
  private slew(at: RawTime, offset: number, fast: boolean, freq = this.freq): void {
    if (!fast) {
      this.software.slewExponential(at, offset, this.tau());
    } else {
      const tau = this.pll * 2;
      const rate = Math.max(this.maxfreq - Math.sign(offset) * freq, this.maxfreq / 10);
      if (Math.abs(offset) > rate * tau) this.software.slewLinear(at, offset, rate);
      else this.software.slewExponential(at, offset, tau);
    }
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
