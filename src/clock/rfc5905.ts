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
 *   Under the hold the NSET and FREQ slews use the short time constant too.
 * - Clock history: every model change is logged, so `readAt(raw)` gives what the clock read at a past
 *   counter value and `offsetAt(raw, offset, at)` refers an offset measured at `raw` to `at` (minus
 *   the slews, steps and frequency changes made in between; the drift at the best frequency estimate
 *   added). The engine uses it to compare and combine filter outputs of different ages; the discipline
 *   uses it for samples older than "now" (the RFC has the clock-adjust process only).
 * - Provisional frequency (start-up, until the hold ends): from every exchange of every source (not only
 *   the system peer's rare filter outputs), a least-squares line of server time against our counter per
 *   source over the last stepout interval; the median over the sources is applied at the first update,
 *   at each update in FREQ (the RFC lets the clock run on the old frequency for 900 s: 90 ms at 100 ppm,
 *   passed on to our clients) and under the hold. FREQ's final measurement is still made over the whole
 *   interval (the sources' fit, else a fit of the updates' true times) and is unaffected by the
 *   corrections. Without exchanges (unit tests, replay of offsets) the RFC behaviour is unchanged.
 * - In steady state (SYNC after the hold) an update measured before the last clock change is ignored
 *   (the RFC clock filter's rule); before that it is referred to now through the clock history.
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

/** How long (s of counter time) the clock history is kept: eight polls at the longest poll, and more. */
const HISTORY_SPAN = 8 * 2 ** 17;
const HISTORY_MAX = 512;

type SlewMode = { kind: 'exp'; tau: number } | { kind: 'linear'; rate: number };

/**
 * One piece of the clock's history: from counter value `start` on (until the next segment) the clock
 * read `reading` + (raw − start)·(1 + freq) + the applied part of a slew of `pending` s in `mode`.
 */
interface Segment {
  start: RawTime;
  reading: NtpTime;
  freq: number;
  pending: number;
  mode: SlewMode | null;
}

/** Least-squares fit of true time against the counter. x: s since the anchor; y: true time elapsed minus x, s. */
interface Fit {
  raw: RawTime;
  time: NtpTime;
  n: number;
  sx: number;
  sy: number;
  sxx: number;
  sxy: number;
}

function newFit(raw: RawTime, time: NtpTime): Fit {
  const f = { raw, time, n: 0, sx: 0, sy: 0, sxx: 0, sxy: 0 };
  addPoint(f, raw, time);
  return f;
}

function addPoint(f: Fit, raw: RawTime, trueTime: NtpTime): void {
  const x = Number(raw - f.raw) / 1e9;
  const y = durationToSeconds(trueTime - f.time) - x;
  f.n++;
  f.sx += x;
  f.sy += y;
  f.sxx += x * x;
  f.sxy += x * y;
}

/** Slope of a fit (the rate correction the counter needs, s/s); null with fewer than `minN` points. */
function slope(f: Fit | null, minN: number): number | null {
  if (f === null || f.n < minN) return null;
  const d = f.n * f.sxx - f.sx * f.sx;
  if (!(d > 0)) return null;
  return (f.n * f.sxy - f.sx * f.sy) / d;
}

function slewApplied(mode: SlewMode | null, amount: number, dt: number): number {
  if (mode === null || amount === 0 || dt <= 0) return 0;
  if (mode.kind === 'exp') return amount * -Math.expm1(-dt / mode.tau);
  const done = mode.rate * dt;
  return Math.abs(amount) <= done ? amount : Math.sign(amount) * done;
}

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
  private fit: Fit | null = null;
  /**
   * The same fit over the FREQ state (from the first update on): the provisional frequency that
   * refers offsets of different ages to one instant while the clock still runs on the old frequency,
   * and, at the end of the stepout interval, the frequency measured (over all the updates, not two).
   */
  private freqFit: Fit | null = null;
  /**
   * Until the end of the startup hold: per source, the (counter, server time) midpoints of its
   * exchanges over the last stepout interval (at least 900 s). Each source polls every poll interval,
   * while the system peer's filter hands on a sample only every few; a least-squares line through each
   * source's points
   * gives its frequency, and their median is the provisional frequency (immune to a minority of
   * falsetickers). The window forgets a source's own start-up (a server still slewing its first offset).
   */
  private sourcePoints: Map<string, Array<{ raw: RawTime; time: NtpTime }>> | null = new Map();
  private sourceSlopeCache: number | null | undefined = undefined;
  private steps = 0;
  /** Clock history (oldest first): every model change the discipline made, to refer old offsets to now. */
  private history: Segment[] = [];
  /** Mode of the current slew (the software clock continues it across frequency changes). */
  private slewMode: SlewMode | null = null;

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
      this.sourcePoints = null;
    } else {
      this.freq = this.software.frequency();
      this.state = 'NSET';
    }
    this.record(opts.raw ?? 0n);
  }

  /** Notes the clock model from `at` on (after a change made at `at`). */
  private record(at: RawTime): void {
    const seg: Segment = {
      start: at,
      reading: this.software.read(at),
      freq: this.software.frequency(),
      pending: this.software.pendingSlew(at),
      mode: this.slewMode,
    };
    const last = this.history[this.history.length - 1];
    if (last !== undefined && last.start >= at) this.history[this.history.length - 1] = seg;
    else this.history.push(seg);
    // Forget what lies wholly before the span (keep the segment in effect at its beginning).
    const from = at - BigInt(HISTORY_SPAN) * 1_000_000_000n;
    let drop = 0;
    while (drop + 1 < this.history.length) {
      const next = this.history[drop + 1];
      if (next === undefined || next.start > from) break;
      drop++;
    }
    if (this.history.length - drop > HISTORY_MAX) drop = this.history.length - HISTORY_MAX;
    if (drop > 0) this.history.splice(0, drop);
  }

  /** The segment in effect at `raw` (the oldest one for earlier values), and whether it is the current one. */
  private segmentAt(raw: RawTime): { seg: Segment | undefined; current: boolean } {
    const h = this.history;
    for (let i = h.length - 1; i >= 0; i--) {
      const seg = h[i];
      if (seg !== undefined && (seg.start <= raw || i === 0)) return { seg, current: i === h.length - 1 };
    }
    return { seg: undefined, current: true };
  }

  /** What the clock read (or will read, without further changes) at counter value `raw`. */
  readAt(raw: RawTime): NtpTime {
    const { seg, current } = this.segmentAt(raw);
    if (seg === undefined || (current && raw >= seg.start)) return this.software.read(raw);
    const dt = Number(raw - seg.start) / 1e9;
    return seg.reading + secondsToDuration(dt * (1 + seg.freq) + slewApplied(seg.mode, seg.pending, dt));
  }

  /** The slew still pending at counter value `raw` (the RFC's c.offset then). */
  private pendingAt(raw: RawTime): number {
    const { seg, current } = this.segmentAt(raw);
    if (seg === undefined || (current && raw >= seg.start)) return this.software.pendingSlew(raw);
    const dt = Math.max(0, Number(raw - seg.start) / 1e9);
    return seg.pending - slewApplied(seg.mode, seg.pending, dt);
  }

  /**
   * An offset measured at `raw` referred to `at`: minus the correction the clock made in between
   * beyond running at its current frequency (slews, steps, earlier frequency corrections).
   */
  offsetAt(raw: RawTime, offset: number, at: RawTime): number {
    if (raw === at) return offset;
    const moved = durationToSeconds(this.readAt(at) - this.readAt(raw));
    const nominal = (Number(at - raw) / 1e9) * (1 + this.rateEstimate());
    return offset - (moved - nominal);
  }

  /**
   * The RFC discipline works on the mitigated offset, not on raw exchanges; it only notes the latest
   * counter value seen, so that model changes are never placed before a reading already handed out.
   */
  exchange(x: RawExchange, _fromSystemPeer: boolean): void {
    if (this.latest === null || x.tf > this.latest) this.latest = x.tf;
    const pts = this.sourcePoints;
    if (pts === null || x.tf < x.ta || x.te < x.tb) return;
    const raw = x.ta + (x.tf - x.ta) / 2n;
    const time = x.tb + (x.te - x.tb) / 2n;
    let list = pts.get(x.sourceId);
    if (list === undefined) {
      if (pts.size >= 64) return;
      list = [];
      pts.set(x.sourceId, list);
    }
    const last = list[list.length - 1];
    if (last !== undefined && raw <= last.raw) return;
    list.push({ raw, time });
    const from = raw - BigInt(Math.round(Math.max(this.watch, WATCH) * 1e9));
    let drop = 0;
    while (drop < list.length - 1 && (list[drop]?.raw ?? raw) < from) drop++;
    if (list.length - drop > 256) drop = list.length - 256;
    if (drop > 0) list.splice(0, drop);
    this.sourceSlopeCache = undefined;
  }

  /** Median of the sources' frequencies (windows spanning at least a minute), null without one. */
  private sourcesSlope(): number | null {
    if (this.sourcePoints === null) return null;
    if (this.sourceSlopeCache !== undefined) return this.sourceSlopeCache;
    const ys: number[] = [];
    for (const list of this.sourcePoints.values()) {
      const first = list[0];
      const lastP = list[list.length - 1];
      if (first === undefined || lastP === undefined || list.length < 3) continue;
      if (Number(lastP.raw - first.raw) / 1e9 < 60) continue;
      const f = newFit(first.raw, first.time);
      for (let k = 1; k < list.length; k++) {
        const p = list[k];
        if (p !== undefined) addPoint(f, p.raw, p.time);
      }
      const y = slope(f, 3);
      if (y !== null && Number.isFinite(y)) ys.push(y);
    }
    let r: number | null = null;
    if (ys.length > 0) {
      ys.sort((a, b) => a - b);
      const m = ys.length >> 1;
      const hi = ys[m] ?? 0;
      r = ys.length % 2 === 1 ? hi : ((ys[m - 1] ?? hi) + hi) / 2;
    }
    this.sourceSlopeCache = r;
    return r;
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
    if (state === 'SYNC' && !this.hold) this.sourcePoints = null;
    this.base = offset - slewed;
    this.last = offset;
    this.t = raw;
  }

  private tau(): number {
    return this.pll * Math.min(2 ** this.poll, ALLAN);
  }

  private doStep(at: RawTime, offset: number): void {
    this.software.step(at, offset);
    this.slewMode = null;
    this.record(at);
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
    // RFC 5905 clock_filter rule, in steady state: a sample measured before the last clock update did
    // not see the correction made then. (It could be referred to now through the clock history, as is
    // done during start-up, where samples are scarce; in steady state dropping it gives the smoother
    // loop: 24–46 µs instead of 29–53 µs RMS in the lan-default scenario.)
    const steady = (this.state === 'SYNC' || this.state === 'SPIK') && !this.hold;
    if (steady && this.lastChange !== null && raw < this.lastChange) {
      return { kind: 'ignored', reason: 'measured before the last clock update' };
    }
    const neverSet = this.state === 'NSET' || this.state === 'FSET';
    if (Math.abs(offset) > this.panict && !(neverSet && this.stepAtStartup)) {
      return { kind: 'panic', offset };
    }
    this.updates++;
    // True time at the measurement (the reading handed out then plus the offset measured against it).
    const trueTime = this.readAt(raw) + secondsToDuration(offset);
    const mu = this.t === null ? 0 : Number(raw - this.t) / 1e9;
    if (sample.now !== undefined && (this.latest === null || sample.now > this.latest))
      this.latest = sample.now;
    // The update is applied at `at` (now), possibly later than the measurement at `raw`: the clock was
    // corrected meanwhile (the pending slew went on, or was replaced by a later update). cOffset is the
    // RFC's c.offset at the measurement; `now` is the offset still to correct at `at`, the measured
    // one minus the corrections made since the measurement (from the clock history). A sample measured
    // before the last update is therefore not stale: what was corrected since is taken out.
    const at = this.when(raw);
    const cOffset = this.pendingAt(raw);
    // In FREQ state every update adds to the frequency measurement (which offsetAt then uses).
    if (this.state === 'FREQ' && this.freqFit !== null) addPoint(this.freqFit, raw, trueTime);
    const measured = this.state === 'FREQ' ? slope(this.freqFit, 2) : null;
    let now = this.offsetAt(raw, offset, at);
    /** The offset at `at` (the RFC's θ for a sample taken now): the PLL/FLL input. */
    const theta = now;
    // Age of the measurement: in FREQ state the measured frequency error also extrapolates the offset.
    const age = Number(at - raw) / 1e9;
    let freq = 0;
    let result: DisciplineResult = { kind: 'slew', offset: now };
    /** The startup hold applies to this update: fast phase slew, no frequency or poll updates. */
    let holding = false;

    if (Math.abs(theta) > this.stept) {
      switch (this.state) {
        case 'SYNC':
          this.state = 'SPIK';
          return { kind: 'spike' };
        case 'FREQ':
          if (mu < this.watch) return { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' };
          if (measured !== null) {
            // Least squares over every update of the stepout interval; `now` already extrapolated with it.
            freq = this.clampFreq(measured) - this.freq;
          } else {
            freq = (offset - this.base - cOffset) / mu;
            now += freq * age;
          }
          this.freqFit = null;
          this.doStep(at, now);
          break;
        case 'SPIK':
          if (mu < this.watch) return { kind: 'spike' };
          this.doStep(at, now);
          break;
        case 'NSET':
          this.doStep(at, now);
          this.provisionalFrequency(at);
          this.rstclock('FREQ', raw, 0, 0);
          this.freqFit = newFit(raw, trueTime);
          this.afterUpdate(sample, raw);
          return { kind: 'step', offset: now };
        case 'FSET':
          this.doStep(at, now);
          break;
      }
      result = { kind: 'step', offset: now };
      this.enterSync(raw, trueTime);
      this.rstclock('SYNC', raw, 0, 0);
    } else {
      switch (this.state) {
        case 'NSET':
          // Under the startup hold the first offset is slewed with the hold's short time constant too:
          // a server whose time still moves along an exponential slew for many minutes is a poor
          // reference for its own clients' frequency measurement.
          this.slew(at, now, this.hold);
          this.provisionalFrequency(at);
          this.rstclock('FREQ', raw, offset, now);
          this.freqFit = newFit(raw, trueTime);
          this.afterUpdate(sample, raw);
          return { kind: 'slew', offset: now };
        case 'FREQ': {
          if (mu < this.watch) {
            const y = this.sourcesSlope();
            if (y !== null) {
              // Provisional correction (beyond the RFC, which lets the clock run on the old frequency
              // for the whole stepout interval: 90 ms at 100 ppm, passed on to our own clients): the
              // frequency measured so far from every source's exchanges is applied and the offset
              // slewed. The final FREQ measurement (true time against the counter) is unaffected.
              const f = this.clampFreq(y);
              this.slew(at, now, this.hold, f);
              this.freq = f;
              this.software.setFrequency(at, f * 1e6);
              this.record(at);
              this.lastChange = at;
              this.afterUpdate(sample, raw);
              return { kind: 'slew', offset: now };
            }
            this.afterUpdate(sample, raw);
            return { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' };
          }
          // The frequency measured directly over the stepout interval (least squares over every
          // source's exchanges in it, else over the updates); the offset left is mostly the phase the
          // old frequency error accumulated meanwhile, removed under the startup hold.
          const fy = this.sourcesSlope() ?? measured;
          if (fy !== null) {
            freq = this.clampFreq(fy) - this.freq;
          } else {
            freq = (offset - this.base - cOffset) / mu;
            now += freq * age;
          }
          this.freqFit = null;
          this.enterSync(raw, trueTime);
          holding = this.hold;
          break;
        }
        default: {
          // FSET, SYNC, SPIK. Startup hold: until the initial transient has been slewed away the offset
          // comes from the phase, not the frequency: integrating it would overshoot by ppm.
          if (this.state === 'FSET') this.enterSync(raw, trueTime);
          if (this.hold) {
            this.addFitPoint(raw, trueTime);
            const since = this.holdSince === null ? 0 : Number(raw - this.holdSince) / 1e9;
            if (since < this.watch) {
              holding = true;
              // The frequency follows the sources' (windowed) measurement meanwhile: a frequency measured
              // in FREQ against a source still settling itself (stratum 2 in its own start-up) would
              // otherwise leave ms of phase error between the rare updates of the hold.
              const y = this.sourcesSlope();
              // (`now` was extrapolated with it already: rateEstimate.)
              if (y !== null) freq = this.clampFreq(y) - this.freq;
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
            freq += (theta - this.pendingAt(at)) / (Math.max(mu, ALLAN) * etemp);
          }
          const etemp = Math.min(mu, ALLAN);
          const dtemp = 4 * this.pll * pollS;
          freq += (theta * etemp) / (dtemp * dtemp);
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
    this.record(at);
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

  /**
   * At the first update: the frequency measured so far from the sources' exchanges (if they span a
   * minute) is applied at once, so that the clock does not run on a 100 ppm error through the FREQ
   * state (the next update may be many polls away: a step clears every clock filter).
   */
  private provisionalFrequency(at: RawTime): void {
    const y = this.sourcesSlope();
    if (y === null) return;
    this.freq = this.clampFreq(y);
    this.software.setFrequency(at, this.freq * 1e6);
    this.record(at);
    this.lastChange = at;
  }

  /** First entry into SYNC state: the startup hold starts counting its stepout interval. */
  private enterSync(raw: RawTime, trueTime: NtpTime): void {
    if (this.holdSince !== null || !this.hold) return;
    this.holdSince = raw;
    this.fit = newFit(raw, trueTime);
  }

  private addFitPoint(raw: RawTime, trueTime: NtpTime): void {
    if (this.fit !== null) addPoint(this.fit, raw, trueTime);
  }

  /** Slope of the hold's fit (the counter's frequency error, s/s); null with too few points. */
  private fitSlope(): number | null {
    return slope(this.fit, 3);
  }

  /**
   * The rate correction the clock should have, best estimate: in FREQ state the provisional one
   * measured so far (the clock itself still runs on the old frequency), else the clock's.
   */
  private rateEstimate(): number {
    if (this.state === 'FREQ' || this.state === 'NSET') {
      const y = this.sourcesSlope() ?? slope(this.freqFit, 2);
      if (y !== null) return this.clampFreq(y);
    }
    if (this.state === 'SYNC' && this.holdSince !== null && this.hold) {
      const y = this.sourcesSlope();
      if (y !== null) return this.clampFreq(y);
    }
    return this.software.frequency();
  }

  /**
   * Replaces the pending slew by `offset`. Normally amortised with the PLL time constant; under the
   * startup hold with ntpd's startup time constant PLL·2 s, the slew plus the frequency correction
   * `freq` bounded by the frequency tolerance (beyond that bound the slew is linear at the bound).
   */
  private slew(at: RawTime, offset: number, fast: boolean, freq = this.freq): void {
    if (!fast) {
      this.slewMode = { kind: 'exp', tau: this.tau() };
      this.software.slewExponential(at, offset, this.tau());
    } else {
      const tau = this.pll * 2;
      const rate = Math.max(this.maxfreq - Math.sign(offset) * freq, this.maxfreq / 10);
      if (Math.abs(offset) > rate * tau) {
        this.slewMode = { kind: 'linear', rate };
        this.software.slewLinear(at, offset, rate);
      } else {
        this.slewMode = { kind: 'exp', tau };
        this.software.slewExponential(at, offset, tau);
      }
    }
    this.record(at);
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
