/** The RFC 5905 clock discipline: a hybrid PLL/FLL driving a `SoftwareClock` (section 11.3, Appendix A.5.5.6); differences from the RFC in docs/clocks.md. */
import { durationToSeconds, type NtpTime, secondsToDuration } from '../time/ntp-time.js';
import { ClockHistory, type SlewMode } from './history.js';
import { iburstHeld } from './iburst-split.js';
import { SourceFrequency } from './lsfit.js';
import { BurstPhase, exchangeOffset, PeerExchanges } from './peer-exchanges.js';
import { PollAdapter } from './poll.js';
import { FllPoints, FreqMeasurement, holdSlew, notBefore, pollSample, timeConstant } from './rfc5905-loop.js';
import {
  ALLAN,
  AVG,
  type Correction,
  FLL,
  FLL_AVG,
  type Handled,
  KERNEL_PLL,
  PANICT,
  POLL_TARGET,
  type Rfc5905Options,
  type Rfc5905State,
  STEPT,
  type Update,
  WATCH,
} from './rfc5905-params.js';
import { PHI, SoftwareClock } from './software-clock.js';
import type {
  ClockSample,
  Discipline,
  DisciplineResult,
  DisciplineSnapshot,
  LocalClock,
  RawExchange,
  RawTime,
} from './types.js';

export * from './rfc5905-params.js';

export class Rfc5905Discipline implements Discipline {
  readonly kind = 'rfc5905' as const;
  readonly software: SoftwareClock;
  readonly clock: LocalClock;

  private state: Rfc5905State;
  private readonly stept: number;
  private readonly panict: number;
  private readonly watch: number;
  private readonly maxfreq: number;
  private readonly precision: number;
  private readonly pll: number;
  private stepAtStartup: boolean;
  private readonly stepInitial: boolean;

  /** The poll exponent asked for (RFC s.poll), and the mean square offset it is adapted by. */
  private readonly polls: PollAdapter;
  private theta2 = 0;
  /** The system peer's exchanges, and the last one's offset (unweighted). */
  private readonly peer = new PeerExchanges();
  private split = false; // the iburst was split (`iburstHeld`)
  private readonly burst = new BurstPhase();
  private measured = 0;
  private weight = 1;
  /** Its weight by its queueing alone (in FREQ `weight` is 1: the FREQ fit takes it whole). */
  private queueWeight = 1;
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
  /** True time at the last updates in SYNC and in the start-up (the least-squares FLL). */
  private readonly recent = new FllPoints();
  /** Counter value of the last exchange used directly as an update (start-up). */
  private fromExchange: RawTime | null = null;
  /** The last sample the system handed over, and whether an update comes from an exchange. */
  private lastSystem: ClockSample | null = null;
  private inExchange = false;
  private exchanges = false;
  /** The last update was made under the startup hold or in FREQ. */
  private wasHolding = true;
  /** Startup hold (ntpd's initial frequency clamp) until the stepout interval has passed in SYNC; whether this update ended it. */
  private hold: boolean;
  private holdEnded = false;
  /** Counter value at which the hold began counting (the first entry into SYNC), null before. */
  private holdSince: RawTime | null = null;
  /** Fit of true time (reading + offset) over the FREQ state: the provisional frequency, and the one measured at its end. */
  private readonly freqFit: FreqMeasurement;
  /** Until the hold ends: the sources' frequencies from all their exchanges (median: the provisional one). */
  private sources: SourceFrequency | null;
  private steps = 0;
  /** Every model change the discipline made, to refer old offsets to now. */
  private readonly history: ClockHistory;
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
    this.history = new ClockHistory(this.software);
    const minpoll = opts.minpoll ?? 6;
    this.polls = new PollAdapter(
      minpoll,
      Math.max(minpoll, opts.maxpoll ?? 10),
      opts.pollTarget ?? POLL_TARGET,
    );
    const st = opts.stepThreshold ?? STEPT;
    this.stept = st > 0 ? st : Number.POSITIVE_INFINITY;
    const pt = opts.panicThreshold ?? PANICT;
    this.panict = pt > 0 ? pt : Number.POSITIVE_INFINITY;
    this.watch = opts.stepout ?? WATCH;
    this.maxfreq = (opts.maxFrequencyPpm ?? 500) * 1e-6;
    this.precision = 2 ** (opts.precision ?? -20);
    this.pll = opts.pllGain ?? KERNEL_PLL;
    this.stepAtStartup = opts.stepAtStartup ?? false;
    this.stepInitial = (opts.stepInitialOffset ?? true) && Number.isFinite(this.stept);
    this.freqFit = new FreqMeasurement(this.stept, this.maxfreq);
    this.hold = (opts.startupHold ?? true) && opts.startupHoldOffset !== 0;
    this.jitter = this.precision;
    if (opts.initialFrequencyPpm !== undefined) {
      this.freq = Math.max(-this.maxfreq, Math.min(this.maxfreq, opts.initialFrequencyPpm * 1e-6));
      this.state = 'FSET';
      this.sources = null;
    } else {
      this.freq = this.software.frequency();
      this.state = 'NSET';
      this.sources = new SourceFrequency(Math.max(this.watch, WATCH));
    }
    this.history.record(opts.raw ?? 0n, null);
  }

  /** What the clock read (or will read, without further changes) at counter value `raw`. */
  readAt(raw: RawTime): NtpTime {
    return this.history.readAt(raw);
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

  /** Notes the latest counter value seen (no model change goes before it) and, at start-up, the sources' frequencies. */
  exchange(x: RawExchange, fromSystemPeer: boolean): void {
    this.exchanges = true;
    if (this.latest === null || x.tf > this.latest) this.latest = x.tf;
    this.sources?.add(x);
    if (!fromSystemPeer || x.tf < x.ta) return;
    // Every exchange of the system peer is an update, weighted by its queueing (`PeerExchanges`): the
    // clock filter's minimum of eight hands on a new sample only every few polls, old by then (at long
    // polls the first would come thousands of s late).
    const sinceUpdate = this.t === null ? 0 : Number(x.tf - this.t) / 1e9;
    const ex = Number.isFinite(this.peer.noise) && !(this.split && this.hold);
    const excess = ex ? this.theta2 - this.peer.noise : 0;
    const theta = exchangeOffset(x, (r) => this.readAt(r));
    const inSync = this.state === 'SYNC' ? theta : Number.NaN; // (for `OneSided`)
    const e = this.peer.add(x, sinceUpdate, 2 ** this.polls.exponent, this.state === 'FREQ', excess, inSync);
    // Polls left without a response raise the poll slowly (chrony: 0.1 each, for the system peer).
    if (e.missed > 0) this.polls.adjust(0.1 * e.missed);
    if (this.t === null || x.tf <= this.t) return;
    const measured = theta - e.asymmetry; // (0 unless the path queues on one side: `OneSided`)
    // Once synchronised a large offset goes through the system's sample alone (SPIK, the stepout, one
    // step): weighted down as an exchange it would pass below the step threshold and be slewed.
    const synced = this.state === 'SYNC' || this.state === 'SPIK';
    if (synced && Math.abs(measured) > this.stept) return;
    // Only an exchange consistent with the system's last sample of this source (both bound the true
    // offset within half their delays): a server that jumps must first pass the system's selection.
    const sys = this.lastSystem;
    if (sys === null || sys.sourceId !== x.sourceId) return;
    const age = Math.max(0, Number(x.tf - sys.raw) / 1e9);
    const moved = durationToSeconds(this.readAt(x.tf) - this.readAt(sys.raw));
    const ref = sys.offset - (moved - age * (1 + this.software.frequency()));
    // The clock's frequency error: within PHI in SYNC, anything up to the tolerance before.
    const drift = (this.state === 'SYNC' || this.state === 'SPIK' ? PHI : this.maxfreq) * age;
    if (Math.abs(measured - ref) > (e.delay + sys.rootDelay) / 2 + 3 * this.jitter + drift) return;
    this.measured = measured;
    const inBurst =
      this.split && this.hold && this.state === 'SYNC' && sinceUpdate < 2 ** this.polls.exponent / 4;
    const pending = () => this.software.pendingSlew(this.when(x.tf));
    const combined = this.burst.offset(inBurst, e.queueVar, measured, pending);
    this.weight = e.weight;
    this.queueWeight = e.queueWeight;
    this.inExchange = true;
    const r = this.update({
      raw: x.tf,
      now: x.tf,
      offset: combined ?? e.weight * measured,
      jitter: this.jitter,
      rootDelay: x.rootDelay + e.delay,
      rootDispersion: x.rootDispersion + this.precision,
      poll: this.polls.exponent,
      sourceId: x.sourceId,
    });
    this.inExchange = false;
    if (r.kind !== 'ignored') this.fromExchange = x.tf;
  }

  pollExponent(): number {
    return this.polls.exponent;
  }

  iburstHeld(pollSeconds: number, delays: readonly number[]): number {
    const n = iburstHeld(pollSeconds, delays);
    if (n > 0) this.split = true;
    return n;
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
    return notBefore(raw, this.lastChange, this.latest);
  }

  /** RFC rstclock: enter `state` at `raw` with measured `offset`, of which `slewed` goes to the clock. */
  private rstclock(state: Rfc5905State, raw: RawTime, offset: number, slewed: number): void {
    this.state = state;
    if (state === 'SYNC' && !this.hold) this.sources = null;
    this.base = offset - slewed;
    this.last = offset;
    this.t = raw;
  }

  /** Phase time constant (`timeConstant`). */
  private tau(): number {
    return timeConstant(this.polls.exponent, this.peer.noise, this.theta2, this.pll);
  }

  private doStep(at: RawTime, offset: number, reason: string): void {
    this.software.step(at, offset, reason);
    this.slewMode = null;
    this.history.record(at, this.slewMode);
    this.jitter = this.precision;
    this.lastChange = at;
    // The FLL's true times before the step are on the old timescale (a server that stepped).
    this.recent.clear();
    this.polls.reset();
    this.steps++;
    this.stepAtStartup = false;
  }

  makestep(raw: RawTime, reason: string): number {
    const pending = this.software.pendingSlew(raw);
    if (pending !== 0) this.doStep(raw, pending, reason);
    return pending;
  }
  /** RFC 5905 local_clock(): checks the sample, runs the handler of the current state, corrects the clock. */
  update(sample: ClockSample): DisciplineResult {
    if (!this.inExchange && Number.isFinite(sample.offset)) this.lastSystem = sample;
    const u = this.prepare(sample);
    if ('kind' in u) return u;
    const h = this.handle(u, Math.abs(u.theta) > this.stept);
    if ('done' in h) return h.done;
    return this.apply(u, h);
  }

  /** The checks before any state change, and the quantities every state handler uses. */
  private prepare(sample: ClockSample): Update | DisciplineResult {
    const raw = sample.raw;
    const offset = sample.offset;
    if (!Number.isFinite(offset)) return { kind: 'ignored', reason: 'non-finite offset' };
    // The system peer's sample already used as an exchange at start-up: applied (the system may announce it).
    if (raw === this.fromExchange) return { kind: 'slew', offset };
    if (this.t !== null && raw <= this.t)
      return { kind: 'ignored', reason: 'not newer than the last update' };
    // RFC 5905 clock_filter rule, in steady state: a sample measured before the last clock update did
    // not see the correction made then (during start-up it is referred to now instead).
    const steady = (this.state === 'SYNC' || this.state === 'SPIK') && !this.hold;
    if (steady && this.lastChange !== null && raw < this.lastChange) {
      return { kind: 'ignored', reason: 'measured before the last clock update' };
    }
    const neverSet = this.state === 'NSET' || this.state === 'FSET';
    if (Math.abs(offset) > this.panict && !(neverSet && this.stepAtStartup)) {
      return { kind: 'panic', offset };
    }
    this.updates++;
    // (An exchange's weighted offset: the fits over true time are weighted too.)
    const trueTime = this.readAt(raw) + secondsToDuration(offset);
    const mu = this.t === null ? 0 : Number(raw - this.t) / 1e9;
    if (sample.now !== undefined && (this.latest === null || sample.now > this.latest))
      this.latest = sample.now;
    // Applied at `at` (now, ≥ raw): the offset then is the measured one minus the corrections since.
    const at = this.when(raw);
    const cOffset = this.history.pendingAt(raw);
    // In FREQ state every update adds to the frequency measurement (which offsetAt then uses).
    if (this.state === 'FREQ')
      this.freqFit.add(raw, trueTime, this.sources?.slope() ?? null, this.rateEstimate(), sample.rootDelay);
    const measured = this.state === 'FREQ' ? this.freqFit.slope() : null;
    const theta = this.offsetAt(raw, offset, at);
    const age = Number(at - raw) / 1e9;
    return { sample, raw, at, offset, theta, trueTime, mu, age, cOffset, measured };
  }

  private handle(u: Update, large: boolean): Handled {
    switch (this.state) {
      case 'NSET':
        return this.onNset(u, large || this.stepInitial);
      case 'FSET':
        return this.onFset(u, large || this.stepInitial);
      case 'FREQ':
        return this.onFreq(u, large);
      case 'SPIK':
        return this.onSpik(u, large);
      case 'SYNC':
        return this.onSync(u, large);
    }
  }

  /** NSET (no frequency file): the first update is stepped (large) or slewed, then FREQ. */
  private onNset(u: Update, large: boolean): Handled {
    const result: DisciplineResult = { kind: large ? 'step' : 'slew', offset: u.theta };
    // (Under the startup hold a first offset is slewed with the hold's short time constant.)
    if (large) this.doStep(u.at, u.theta, 'initial offset');
    else this.slew(u.at, u.theta, this.hold);
    this.provisionalFrequency(u.at);
    if (large) this.rstclock('FREQ', u.raw, 0, 0);
    else this.rstclock('FREQ', u.raw, u.offset, u.theta);
    this.freqFit.start(u.raw, u.trueTime, u.sample.rootDelay);
    this.afterUpdate(u.sample, u.raw);
    return { done: result };
  }

  /** The start-up's updates (FREQ, the hold) are FLL points too: at long polls it has four only four polls after the hold. */
  private fllPoint(u: Update): number | null {
    const w = this.inExchange ? this.queueWeight : 1;
    return this.recent.push(u.raw, u.trueTime, w, this.tau(), this.freqFit.since);
  }

  /** FREQ: the offset at `at` of the updates' weighted line (`FreqMeasurement.lineAt`), else the update's own. */
  private freqOffset(u: Update): number {
    const line = this.freqFit.lineAt(u.raw);
    return line === null ? u.theta : this.offsetAt(u.raw, durationToSeconds(line - this.readAt(u.raw)), u.at);
  }

  /** FSET (frequency from the drift file): straight to SYNC. */
  private onFset(u: Update, large: boolean): Handled {
    if (large) {
      this.doStep(u.at, u.theta, 'initial offset (frequency from the drift file)');
      return { freq: 0, now: u.theta, step: true, holding: false };
    }
    this.enterSync(u.raw);
    return this.syncCorrection(u);
  }

  /**
   * FREQ: the frequency is measured over the stepout interval; meanwhile the provisional frequency
   * from the sources' exchanges is applied at every update (beyond the RFC, which lets the clock run
   * on the old frequency for the whole interval: 90 ms at 100 ppm, passed on to our own clients).
   */
  private onFreq(u: Update, large: boolean): Handled {
    if (!large) this.fllPoint(u);
    if (u.mu < this.watch) {
      // No frequency yet: with exchanges the phase is corrected all the same (the RFC waits).
      const y = large ? null : (this.sources?.slope() ?? (this.exchanges ? this.freq : null));
      if (y === null) {
        if (!large) this.afterUpdate(u.sample, u.raw);
        return { done: { kind: 'ignored', reason: 'FREQ: waiting for the stepout interval' } };
      }
      const f = this.clampFreq(y);
      // The phase from the updates' weighted line, not the last one: slewed whole with the hold's short
      // time constant, an exchange queued by milliseconds would move the clock by as much.
      this.slew(u.at, this.freqOffset(u), this.hold, f);
      this.freq = f;
      this.software.setFrequency(u.at, f * 1e6);
      this.history.record(u.at, this.slewMode);
      this.lastChange = u.at;
      this.afterUpdate(u.sample, u.raw);
      return { done: { kind: 'slew', offset: u.theta } };
    }
    // The frequency measured directly over the stepout interval (the sources' exchanges, else least
    // squares over every update); the offset left is mostly the phase the old frequency error
    // accumulated meanwhile, removed under the startup hold. After a step of the source neither the
    // Appendix's two-point formula nor a fit across the step is a frequency: it is kept.
    const fy = this.sources?.slope() ?? u.measured;
    let freq = 0;
    let now = this.freqOffset(u);
    if (fy !== null) {
      freq = this.clampFreq(fy) - this.freq;
    } else if (!this.freqFit.jumped) {
      freq = (u.offset - this.base - u.cOffset) / u.mu;
      now += freq * u.age;
    }
    this.freqFit.stop();
    if (large) {
      this.doStep(u.at, now, 'offset beyond the step threshold at the end of the frequency measurement');
      return { freq, now, step: true, holding: false };
    }
    this.enterSync(u.raw);
    return { freq, now, step: false, holding: this.hold };
  }

  /** SPIK: a large offset is stepped once it has persisted for the stepout interval. */
  private onSpik(u: Update, large: boolean): Handled {
    if (!large) return this.syncCorrection(u);
    if (u.mu < this.watch) return { done: { kind: 'spike' } };
    this.doStep(u.at, u.theta, 'offset beyond the step threshold for the stepout interval');
    return { freq: 0, now: u.theta, step: true, holding: false };
  }

  /** SYNC: a large offset is a spike (SPIK); otherwise the startup hold or the PLL/FLL. */
  private onSync(u: Update, large: boolean): Handled {
    if (large) {
      this.state = 'SPIK';
      return { done: { kind: 'spike' } };
    }
    return this.syncCorrection(u);
  }

  /**
   * The correction in FSET, SYNC and SPIK. Startup hold: until the initial transient has been slewed
   * away the offset comes from the phase, not the frequency: integrating it would overshoot by ppm.
   */
  private syncCorrection(u: Update): Handled {
    let freq = 0;
    let now = u.theta;
    if (this.hold) {
      const fll = this.fllPoint(u);
      const since = this.holdSince === null ? 0 : Number(u.raw - this.holdSince) / 1e9;
      if (since < this.watch) {
        // The frequency follows the sources' (windowed) measurement meanwhile: a frequency measured
        // in FREQ against a source still settling itself (stratum 2 in its own start-up) would
        // otherwise leave ms of phase error between the rare updates of the hold. (`theta` was
        // extrapolated with it already: rateEstimate.)
        const y = this.sources?.slope() ?? null;
        if (y !== null) freq = this.clampFreq(y) - this.freq;
        return { freq, now, step: false, holding: true };
      }
      // End of the hold: the FLL's weighted slope over the start-up (FREQ, the hold) replaces the FREQ
      // state's frequency (a fit over the hold alone had two updates at long polls: 0.7 ppm on wan).
      this.hold = false;
      const y = this.split ? (this.sources?.slope() ?? fll) : (fll ?? this.sources?.slope() ?? null);
      this.holdEnded = true;
      if (y !== null) {
        freq = this.clampFreq(y) - this.freq;
        now += freq * u.age;
        return { freq, now, step: false, holding: false };
      }
    }
    const pollS = 2 ** this.polls.exponent;
    // FLL: the frequency measured by least squares over the recent updates' true times (the RFC's
    // FLL measures it from the last two offsets, and only above half the Allan intercept).
    const y = this.recent.push(u.raw, u.trueTime, this.inExchange ? this.weight : 1, this.tau());
    if (y !== null) {
      freq += (this.clampFreq(y) - this.freq) / FLL_AVG;
    } else if (pollS > ALLAN / 2) {
      const etemp = Math.max(FLL - this.polls.exponent, AVG);
      freq += (u.theta - this.history.pendingAt(u.at)) / (Math.max(u.mu, ALLAN) * etemp);
    }
    const etemp = Math.min(u.mu, ALLAN);
    const dtemp = 4 * this.tau();
    freq += (u.theta * etemp) / (dtemp * dtemp);
    return { freq, now, step: false, holding: false };
  }

  /** Applies a handler's correction: the step or slew, the frequency, jitter, wander and the poll. */
  private apply(u: Update, c: Correction): DisciplineResult {
    const raw = u.raw;
    const at = u.at;
    let result: DisciplineResult;
    if (c.step) {
      result = { kind: 'step', offset: c.now };
      this.enterSync(raw);
      this.rstclock('SYNC', raw, 0, 0);
    } else {
      result = { kind: 'slew', offset: u.theta };
      // The jitter is not accumulated before SYNC and under the hold: those offsets are dominated by
      // the start-up transient; they would inflate it for many updates (and with it the poll interval).
      // (Nor against the last offset of the start-up, which is the transient itself.)
      if (!c.holding && this.state !== 'FREQ' && !this.wasHolding) {
        const d = Math.max(Math.abs(u.offset - this.last), this.precision);
        this.jitter = Math.sqrt(this.jitter ** 2 + (d ** 2 - this.jitter ** 2) / AVG);
      }
      this.wasHolding = c.holding || this.state === 'FREQ';
      this.slew(at, c.now, c.holding, this.clampFreq(this.freq + c.freq));
      this.rstclock('SYNC', raw, u.offset, c.now);
    }

    const old = this.freq;
    this.freq = this.clampFreq(old + c.freq);
    const df = this.freq - old;
    this.wander = Math.sqrt(this.wander ** 2 + (df ** 2 - this.wander ** 2) / AVG);
    this.software.setFrequency(at, this.freq * 1e6);
    this.history.record(at, this.slewMode);
    this.lastChange = at;
    this.adjustPoll(u, c.holding);
    this.afterUpdate(u.sample, raw);
    return result;
  }

  /**
   * Poll adjustment (chrony's rule, `PollAdapter`, `pollSample`): only up under the startup hold, no rise
   * while updates are sparse; updates > 4 polls apart (loss, filter kept an older one) lower its ceiling.
   */
  private adjustPoll(u: Update, holding: boolean): void {
    const theta = this.inExchange ? this.measured : u.offset;
    // θ² restarts after the hold: its offsets (and FREQ's) were slewed away with its short time constant.
    if (this.holdEnded) this.theta2 = theta * theta;
    else this.theta2 += (theta * theta - this.theta2) / AVG;
    this.holdEnded = false;
    const p = pollSample(theta, this.theta2, this.peer.noise, u.sample.rootDelay, this.precision);
    if (u.mu > 0) this.polls.answered(Math.max(0, Math.round(u.mu / 2 ** this.polls.exponent) - 4));
    if (p.rising && (u.mu === 0 || u.mu > 2 * 2 ** this.polls.exponent)) return;
    if (holding && !(p.rising && p.samples > this.polls.target)) return;
    this.polls.sample(Math.abs(theta), p.distance, p.samples);
  }

  private clampFreq(f: number): number {
    return Math.max(-this.maxfreq, Math.min(this.maxfreq, f));
  }

  /** At the first update: the sources' frequency so far, not a 100 ppm error through the FREQ state. */
  private provisionalFrequency(at: RawTime): void {
    const y = this.sources?.slope() ?? null;
    if (y === null) return;
    this.freq = this.clampFreq(y);
    this.software.setFrequency(at, this.freq * 1e6);
    this.history.record(at, this.slewMode);
    this.lastChange = at;
  }

  /** First entry into SYNC state: the startup hold starts counting its stepout interval. */
  private enterSync(raw: RawTime): void {
    if (this.holdSince !== null || !this.hold) return;
    this.holdSince = raw;
  }

  /** Best estimate of the rate correction: in FREQ and the hold the sources' so far, else the clock's. */
  private rateEstimate(): number {
    if (this.state === 'FREQ' || this.state === 'NSET') {
      const y = this.sources?.slope() ?? this.freqFit.slope();
      if (y !== null) return this.clampFreq(y);
    }
    if (this.state === 'SYNC' && this.holdSince !== null && this.hold) {
      const y = this.sources?.slope() ?? null;
      if (y !== null) return this.clampFreq(y);
    }
    return this.software.frequency();
  }

  /** Replaces the pending slew by `offset` (`slewMode`: the PLL time constant, or the hold's). */
  private slew(at: RawTime, offset: number, fast: boolean, freq = this.freq): void {
    const m: SlewMode = fast
      ? holdSlew(offset, freq, this.maxfreq, this.pll, this.split)
      : { kind: 'exp', tau: this.tau() };
    this.slewMode = m;
    if (m.kind === 'linear') this.software.slewLinear(at, offset, m.rate);
    else this.software.slewExponential(at, offset, m.tau);
    this.history.record(at, m);
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
      poll: this.polls.exponent,
      extra: {
        pendingOffset: this.software.pendingSlew(this.when(raw)),
        pollScore: this.theta2 > 0 ? Math.sqrt(this.theta2) : 0,
        updates: this.updates,
        steps: this.steps,
        timeConstant: this.tau(),
      },
    };
  }
}
