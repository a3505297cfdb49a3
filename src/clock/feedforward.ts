/** The feed-forward clock (after RADclock): estimates from the raw exchanges of the system peer drive a `SoftwareClock`; see docs/clocks.md. */
import { durationToSeconds, type NtpTime, secondsToDuration } from '../time/ntp-time.js';
import { ExchangeHistory, type HistoryOptions, type Stamp } from './ff-history.js';
import { iburstHeld } from './iburst-split.js';
import { PollAdapter } from './poll.js';
import { MAX_SLEW_RATE, PHI, SoftwareClock } from './software-clock.js';
import type {
  ClockSample,
  Discipline,
  DisciplineResult,
  DisciplineSnapshot,
  LocalClock,
  RawExchange,
  RawTime,
} from './types.js';

export interface FeedForwardOptions {
  /** Initial model of the software clock: counter value `raw` reads as `time` (default 0 ↔ 0). */
  raw?: RawTime;
  time?: NtpTime;
  /** Initial rate correction (ppm), e.g. from the drift file. */
  initialFrequencyPpm?: number;
  /** Poll exponent limits (log2 s), defaults 6 and 10; the poll adapts within them (`PollAdapter`). */
  minpoll?: number;
  maxpoll?: number;
  /** Samples' worth of information the estimate should hold at the poll chosen (default 2). */
  pollTarget?: number;
  /** Corrections larger than this (s) are stepped (default 0.128); the first estimate always sets the clock. */
  stepThreshold?: number;
  /** Seconds of history for the rate estimate (default 4096). */
  rateWindow?: number;
  /** Random-walk frequency noise of the counter assumed by the offset filter, s/s per √s (default 1e-9). */
  wander?: number;
  /** Queueing assumed for the minimum-delay exchange, as a fraction of the median point error (default 0.1). */
  floorFactor?: number;
  /** Noise floor of every offset (timestamping), s (default 1 µs). */
  minNoise?: number;
  /** Exchanges in the upward level-shift window (default 16). */
  shiftWindow?: number;
  /** Most exchanges kept (default 4096). */
  maxHistory?: number;
  /** Quality scale Eq = this × median point error (default 0.5), floored at `minQualityScale` (default 1 µs). */
  qualityFactor?: number;
  minQualityScale?: number;
  /** An exchange is poor (freewheel on it) when E > poorFactor × median point error (default 3). */
  poorFactor?: number;
  /** Seconds without a good exchange before the state is reported as FREEWHEEL (default 4 polls). */
  freewheelAfter?: number;
  /**
   * Small corrections are slewed linearly over this many seconds (default: one poll interval, 2^minpoll),
   * at no more than 500 ppm: the clock's rate stays smooth (a 5 µs correction over 64 s is 0.08 ppm).
   */
  slewTime?: number;
  /** Smallest offset (s) from the clock's reading that makes an exchange an outlier (default 1 ms). */
  sanityThreshold?: number;
  /** Seconds of persistent outliers after which their time is accepted (default 900, as RFC 5905). */
  stepout?: number;
}

/** Measures intervals with the estimated counter rate only: immune to offset corrections. */
export interface DifferenceClock {
  /** Seconds from counter value `rawA` to `rawB` (positive when B is later). */
  interval(rawA: RawTime, rawB: RawTime): number;
  /** The counter rate used: true seconds per nominal counter second. */
  rate(): number;
}

/** Under one-sided queueing an exchange is worth this fraction of one (for the poll). */
const ASYM_SAMPLES = 16;

/** Poll score taken off at a level shift (one step down): fresh exchanges for the new path's minimum. */
const SHIFT_ADJ = -1;

/** Fastest slew in warm-up (s/s): the clock is its own, the kernel's 500 ppm does not bind it. */
const WARMUP_SLEW_RATE = 0.01;

/** Fewer exchanges than this: none is poor (the median point error is not known yet). */
const MIN_POOR = 8;

/** Exchanges of each source kept to follow it when it becomes the system peer. */
const RECENT = 16;

/** Most sources whose histories are kept besides the followed one. */
const MAX_SHADOWS = 16;

/** A source's path history while it is not followed: its exchanges relative to its first one. */
interface Shadow {
  h: ExchangeHistory;
  r0: RawTime;
  s0: NtpTime;
}

export type FeedForwardState = 'UNSYNC' | 'WARMUP' | 'TRACKING' | 'FREEWHEEL';

function mid(a: bigint, b: bigint): bigint {
  return a + (b - a) / 2n;
}

/** An exchange relative to a path's first one (counter r0, server time s0); null when invalid. */
function stampOf(x: RawExchange, r0: RawTime, s0: NtpTime): Stamp | null {
  const a = Number(x.ta - r0) / 1e9;
  const f = Number(x.tf - r0) / 1e9;
  const b = durationToSeconds(x.tb - s0);
  const e = durationToSeconds(x.te - s0);
  const srv = e - b;
  if (!(srv >= 0) || f - a < 0) return null;
  return {
    c: (a + f) / 2,
    s: (b + e) / 2,
    crtt: f - a,
    srv,
    seg: 0,
    tf: x.tf,
    rootDelay: x.rootDelay,
    rootDispersion: x.rootDispersion,
  };
}

export class FeedForwardClock implements Discipline {
  readonly kind = 'feedforward' as const;
  readonly followsExchanges = true;
  readonly software: SoftwareClock;
  readonly clock: LocalClock;
  readonly difference: DifferenceClock;

  private readonly poll: number;
  private readonly stept: number;
  private readonly qualityFactor: number;
  private readonly minQualityScale: number;
  private readonly poorFactor: number;
  private readonly freewheelAfterOpt: number | undefined;
  private readonly polls: PollAdapter;
  /** Average interval between the followed source's exchanges (s). */
  private interval: number;
  private readonly slewTime: number;
  private readonly sanityThreshold: number;
  private readonly stepout: number;

  private sourceId: string | null = null;
  private r0: RawTime = 0n;
  private s0: NtpTime = 0n;
  private h: ExchangeHistory;
  private readonly historyOptions: HistoryOptions;
  /**
   * The histories of the other sources, kept up to date from their exchanges: a source that becomes
   * the system peer is followed from its own history instead of starting afresh.
   */
  private readonly shadows = new Map<string, Shadow>();
  private state: FeedForwardState = 'UNSYNC';
  private lastGood: number | null = null;
  /** Raw receive time of the last good exchange (survives path resets). */
  private lastGoodRaw: RawTime | null = null;
  private outlierSince: RawTime | null = null;
  private outliers = 0;
  /** Why the next step would be made, when not the default reason. */
  private stepReason: string | null = null;
  /**
   * The last exchanges of each source: a source that becomes the system peer is followed from them
   * (at start-up, its first replies), and its updates are recognised by them.
   */
  private readonly recent = new Map<string, RawExchange[]>();
  /** Consecutive updates of a source not (positive) or (negative) matching a raw exchange. */
  private readonly foreignRun = new Map<string, number>();
  /** Sources followed through their offsets (pseudo-exchanges) instead of raw exchanges. */
  private readonly pseudo = new Set<string>();
  private lastChange: RawTime | null = null;
  /** Latest counter value seen (exchanges, updates): "now" for model changes. */
  private latest: RawTime | null = null;
  private lastCorrection = 0;
  private poorCount = 0;
  private steps = 0;
  private started = false;

  constructor(opts: FeedForwardOptions = {}) {
    this.software = new SoftwareClock({
      raw: opts.raw ?? 0n,
      time: opts.time ?? 0n,
      frequencyPpm: opts.initialFrequencyPpm ?? 0,
    });
    this.clock = this.software;
    this.poll = opts.minpoll ?? 6;
    this.polls = new PollAdapter(this.poll, Math.max(this.poll, opts.maxpoll ?? 10), opts.pollTarget ?? 2);
    const st = opts.stepThreshold ?? 0.128;
    this.stept = st > 0 ? st : Number.POSITIVE_INFINITY;
    this.qualityFactor = opts.qualityFactor ?? 0.5;
    this.minQualityScale = opts.minQualityScale ?? 1e-6;
    this.historyOptions = {
      rateWindow: opts.rateWindow ?? 4096,
      localRateWindow: 2048,
      offsetWindow: 1024,
      wander: opts.wander ?? 1e-9,
      floorFactor: opts.floorFactor ?? 0.1,
      minNoise: opts.minNoise ?? 1e-6,
      shiftWindow: Math.max(2, opts.shiftWindow ?? 16),
      maxHistory: Math.max(16, opts.maxHistory ?? 4096),
      qualityFactor: this.qualityFactor,
      minQualityScale: this.minQualityScale,
    };
    this.h = new ExchangeHistory(this.historyOptions, 1 + (opts.initialFrequencyPpm ?? 0) * 1e-6);
    this.poorFactor = opts.poorFactor ?? 3;
    this.freewheelAfterOpt = opts.freewheelAfter;
    this.interval = 2 ** this.poll;
    this.slewTime = opts.slewTime ?? Math.min(64, 2 ** this.poll);
    this.sanityThreshold = opts.sanityThreshold ?? 1e-3;
    this.stepout = opts.stepout ?? 900;
    this.difference = {
      interval: (a: RawTime, b: RawTime) => (this.h.rho * Number(b - a)) / 1e9,
      rate: () => this.h.rho,
    };
  }

  pollExponent(): number {
    return this.polls.exponent;
  }

  /** The iburst split at long polls on a queueing path (src/clock/iburst-split.ts). */
  iburstHeld(pollSeconds: number, delays: readonly number[]): number {
    return iburstHeld(pollSeconds, delays);
  }

  /** Four exchange intervals (the poll adapts; the exchanges show the interval actually used). */
  private get freewheelAfter(): number {
    return this.freewheelAfterOpt ?? 4 * Math.min(2 ** this.polls.exponent, this.interval);
  }

  /**
   * The mitigation chain's result. Normally ignored: the feed-forward clock follows the raw exchanges
   * of the system peer (the first update of a new system peer makes the clock follow it from its
   * recent exchanges: at start-up the clock is set from the first replies). When a source's updates do not come from two-way exchanges (a broadcast
   * client, after calibration), the clock switches to *offset input* for that source: each update
   * becomes a pseudo-exchange (server time = our clock + offset at the measurement, RTT 0), so the
   * same estimators run on it. Three consecutive updates decide the switch either way.
   */
  update(sample: ClockSample): DisciplineResult {
    const id = sample.sourceId;
    for (const r of [sample.raw, sample.now])
      if (r !== undefined && (this.latest === null || r > this.latest)) this.latest = r;
    const recent = this.recent.get(id) ?? [];
    const foreign = !recent.some((x) => x.tf === sample.raw);
    const prev = this.foreignRun.get(id) ?? 0;
    const run = foreign ? Math.max(1, prev + 1) : Math.min(-1, prev - 1);
    this.foreignRun.set(id, run);
    if (run >= 3) this.pseudo.add(id);
    if (run <= -3) this.pseudo.delete(id);
    if (!this.pseudo.has(id)) {
      // Exchanges of the system peer not followed yet: all of them when it is new (at start-up, its
      // first replies), else those that came while it was not the system peer.
      const r = this.follow(recent);
      return r.kind === 'ignored' ? { kind: 'ignored', reason: `follows the raw exchanges of ${id}` } : r;
    }
    if (!Number.isFinite(sample.offset)) return { kind: 'ignored', reason: 'non-finite offset' };
    if (this.lastChange !== null && sample.raw < this.lastChange) {
      return { kind: 'ignored', reason: 'measured before the last clock change' };
    }
    const server = this.software.read(sample.raw) + secondsToDuration(sample.offset);
    return this.process({
      sourceId: `${id}#offsets`,
      ta: sample.raw,
      tb: server,
      te: server,
      tf: sample.raw,
      rootDelay: sample.rootDelay,
      rootDispersion: sample.rootDispersion,
      stratum: 0,
    });
  }

  /** Current estimates, for tests and the replay tool (`raw`: now, for the freewheel state). */
  estimates(raw?: RawTime): {
    state: FeedForwardState;
    rate: number;
    rateError: number;
    localRate: number;
    minRtt: number;
    qualityScale: number;
    levelShifts: number;
    samples: number;
  } {
    const h = this.h;
    return {
      state: raw === undefined ? this.state : this.stateAt(raw),
      rate: h.rho,
      rateError: h.rhoError,
      localRate: 1 + h.freq - h.rho,
      minRtt: h.minRtt(),
      qualityScale: h.qualityScale,
      levelShifts: h.shifts,
      samples: h.hist.length,
    };
  }

  /** Where a model change for data at `raw` is applied: never before a counter value already seen. */
  private when(raw: RawTime): RawTime {
    let at = raw;
    if (this.lastChange !== null && at < this.lastChange) at = this.lastChange;
    if (this.latest !== null && at < this.latest) at = this.latest;
    return at;
  }

  /** Forgets the path (a new system peer): keeps the rate, which belongs to the counter. */
  private resetPath(x: RawExchange): void {
    this.sourceId = x.sourceId;
    this.h.reset();
    this.polls.reset();
    this.r0 = x.ta;
    this.s0 = x.tb;
    this.lastGood = null;
  }

  exchange(x: RawExchange, fromSystemPeer: boolean): void {
    let recent = this.recent.get(x.sourceId);
    if (recent === undefined) {
      recent = [];
      this.recent.set(x.sourceId, recent);
    }
    recent.push(x);
    if (recent.length > RECENT) recent.shift();
    if (this.latest === null || x.tf > this.latest) this.latest = x.tf;
    if (this.pseudo.has(x.sourceId)) return;
    if (!fromSystemPeer) {
      if (x.sourceId !== this.sourceId) this.shadow(x);
      return;
    }
    if (this.sourceId !== x.sourceId) this.follow(recent);
    else this.process(x);
  }

  /** Adds an exchange of a source not followed to its own history. */
  private shadow(x: RawExchange): void {
    let sh = this.shadows.get(x.sourceId);
    if (sh === undefined) {
      if (this.shadows.size >= MAX_SHADOWS) return;
      sh = { h: new ExchangeHistory(this.historyOptions, this.h.rho), r0: x.ta, s0: x.tb };
      this.shadows.set(x.sourceId, sh);
    }
    const last = sh.h.hist[sh.h.hist.length - 1];
    const st = stampOf(x, sh.r0, sh.s0);
    if (st !== null && (last === undefined || x.tf > last.tf)) sh.h.add(st);
  }

  /**
   * Follows source `id` from its own history when there is one (enough exchanges, the rate known, its
   * time consistent with the clock's): the estimates carry on instead of starting afresh, the poll is
   * kept. The followed source's history is kept in its place.
   */
  private adopt(id: string): boolean {
    const sh = this.shadows.get(id);
    const last = sh?.h.hist[sh.h.hist.length - 1];
    if (sh === undefined || last === undefined || !this.started) return false;
    if (sh.h.hist.length < MIN_POOR || !(sh.h.rhoError < 1e-6)) return false;
    const server = sh.s0 + secondsToDuration(last.s);
    const ours = this.software.read(sh.r0 + BigInt(Math.round(last.c * 1e9)));
    if (Math.abs(durationToSeconds(server - ours)) > this.sanityThreshold) return false;
    this.shadows.delete(id);
    if (this.sourceId !== null && !this.sourceId.endsWith('#offsets') && this.h.hist.length > 0) {
      if (this.shadows.size < MAX_SHADOWS)
        this.shadows.set(this.sourceId, { h: this.h, r0: this.r0, s0: this.s0 });
    }
    this.sourceId = id;
    this.h = sh.h;
    this.r0 = sh.r0;
    this.s0 = sh.s0;
    this.lastGood = null;
    return true;
  }

  /** Uses a source's recent exchanges not used yet (a new source: the path history restarts, the rate is kept). */
  private follow(exchanges: RawExchange[]): DisciplineResult {
    let result: DisciplineResult = { kind: 'ignored', reason: 'no usable exchange' };
    const id = exchanges[0]?.sourceId;
    if (id !== undefined && id !== this.sourceId && this.adopt(id)) {
      const st = this.h.hist[this.h.hist.length - 1];
      if (st !== undefined) result = this.reestimate(st);
    }
    const last = this.sourceId === id ? this.h.hist[this.h.hist.length - 1] : undefined;
    for (const x of exchanges) {
      if (last !== undefined && x.tf <= last.tf) continue;
      const r = this.process(x);
      if (result.kind !== 'step' && r.kind !== 'ignored') result = r;
    }
    return result;
  }

  /** Uses one exchange of the followed path. */
  private process(x: RawExchange): DisciplineResult {
    if (x.tf < x.ta) return { kind: 'ignored', reason: 'Tf before Ta' };
    if (this.sourceId !== x.sourceId) this.resetPath(x);
    const last = this.h.hist[this.h.hist.length - 1];
    if (last !== undefined && x.tf <= last.tf) return { kind: 'ignored', reason: 'not newer' };
    if (!this.sane(x)) return { kind: 'ignored', reason: 'outlier (offset sanity check)' };

    const st = stampOf(x, this.r0, this.s0);
    if (st === null) return { kind: 'ignored', reason: 'invalid timestamps' };
    const h = this.h;
    const prev = h.hist[h.hist.length - 1];
    if (prev !== undefined) this.interval += (st.c - prev.c - this.interval) / 4;
    const shifts = h.shifts;
    h.add(st);
    // A level shift of the path: the estimates need fresh exchanges (this one does not raise the poll).
    const shifted = h.shifts !== shifts;
    if (shifted) this.polls.adjust(SHIFT_ADJ);
    const E = h.pointError(st);
    const poorLimit = this.poorFactor * (h.qualityScale / this.qualityFactor);
    const limit = Math.max(poorLimit, this.minQualityScale * this.poorFactor);
    // In warm-up the clock's own uncertainty exceeds any exchange's: none is poor.
    const warm = h.hist.length < MIN_POOR || (this.state !== 'TRACKING' && this.state !== 'FREEWHEEL');
    const good = warm || !(E > limit);
    if (!good) {
      this.poorCount++;
      if (this.lastGood !== null && st.c - this.lastGood > this.freewheelAfter) this.state = 'FREEWHEEL';
      this.updateErrorBound(x.tf, st);
      return { kind: 'ignored', reason: 'poor exchange: freewheeling' };
    }
    this.lastGood = st.c;
    this.lastGoodRaw = x.tf;
    h.estimateOffset((s) => warm || !(h.pointError(s) > limit));
    if (!shifted) this.adaptPoll(st, prev === undefined ? 0 : st.c - prev.c);
    return this.applyModel(x.tf, st);
  }

  /** The estimates of a history just adopted, from its exchanges up to `st` (its newest). */
  private reestimate(st: Stamp): DisciplineResult {
    const h = this.h;
    const limit = Math.max(
      this.poorFactor * (h.qualityScale / this.qualityFactor),
      this.minQualityScale * this.poorFactor,
    );
    h.estimateOffset((s) => !(h.pointError(s) > limit));
    this.lastGood = st.c;
    this.lastGoodRaw = st.tf;
    return this.applyModel(st.tf, st);
  }

  /**
   * The poll follows how many median exchanges' worth the prediction one poll ahead holds (chrony's
   * rule, see `PollAdapter`); an exchange further from the prediction than half its delay (which bounds
   * any path asymmetry) is trouble.
   */
  private adaptPoll(st: Stamp, gap: number): void {
    const h = this.h;
    // Polls without a response lower the poll's ceiling on a lossy path (`PollAdapter.answered`).
    // chrony also adds 0.1 to the score per missed poll; with the ceiling that counts the same losses
    // twice: after trouble had lowered the poll it pushed it back up to the ceiling within a few
    // samples, before the estimate had recovered (loss30 at the defaults, seeds 1–40: median RMS
    // 61.4 µs with it, 57.4 µs without, for half a request more).
    const missed = Math.round(gap / 2 ** this.polls.exponent) - 1;
    this.polls.answered(missed);
    // Under one-sided queueing only the few least-queued exchanges count: a quarter of the information.
    const noise = h.asymmetric ? h.noise / ASYM_SAMPLES : h.noise;
    const samples = 1 + noise / h.predictionVariance(2 ** this.polls.exponent);
    this.polls.hold(st.c, 1 + noise / h.predictionVariance(2 ** this.polls.maxpoll));
    // Trouble: beyond what the path explains, and beyond three standard deviations of the innovation
    // (otherwise a long poll's ordinary prediction error would pull the poll down every few exchanges).
    const distance = Math.max(
      Math.max(0, h.rtt(st)) / 2 + h.noise ** 0.5,
      3 * Math.sqrt(h.innovationVar || 0),
    );
    this.polls.sample(Math.abs(h.innovation), distance, samples);
  }

  /**
   * Offset sanity check (RADclock's): an exchange whose server time is far from what the clock reads
   * (beyond the expected noise, its own queueing and PHI × time since the last good exchange) is an
   * outlier, e.g. a server that stepped. It is dropped; if outliers persist for `stepout` seconds the
   * new time is accepted (the path history restarts, and the clock steps or slews to it).
   */
  private sane(x: RawExchange): boolean {
    // Only once the rate is known (TRACKING): in WARMUP the clock may still be off by the counter's
    // whole frequency error.
    if (!this.started || this.lastGoodRaw === null) return true;
    if (this.state !== 'TRACKING' && this.state !== 'FREEWHEEL') return true;
    const resid = durationToSeconds(mid(x.tb, x.te) - this.software.read(mid(x.ta, x.tf)));
    const age = Math.max(0, Number(x.tf - this.lastGoodRaw) / 1e9);
    const minRtt = this.h.minRtt();
    const rtt = (this.h.rho * Number(x.tf - x.ta)) / 1e9 - durationToSeconds(x.te - x.tb);
    const E = Math.max(0, Number.isNaN(minRtt) ? rtt : rtt - minRtt);
    const med = this.h.medianError();
    const threshold = Math.max(this.sanityThreshold, 10 * med) + E / 2 + PHI * age;
    if (Math.abs(resid) <= threshold) {
      this.outlierSince = null;
      return true;
    }
    this.outliers++;
    if (this.outlierSince === null) this.outlierSince = x.tf;
    if (Number(x.tf - this.outlierSince) / 1e9 < this.stepout) return false;
    // Persistent: the new time is real. Restart the path history (the rate is kept).
    this.outlierSince = null;
    this.stepReason = 'the server time changed (outliers for the stepout interval)';
    this.resetPath(x);
    return true;
  }

  makestep(raw: RawTime, reason: string): number {
    const at = this.when(raw);
    const pending = this.software.pendingSlew(at);
    if (pending === 0) return 0;
    this.software.step(at, pending, reason);
    this.steps++;
    this.lastChange = at;
    return pending;
  }

  /** Sets the absolute clock to the estimates at `raw` (step the first time, slew afterwards). */
  private applyModel(raw: RawTime, st: Stamp): DisciplineResult {
    const at = this.when(raw);
    const c = Number(at - this.r0) / 1e9;
    const h = this.h;
    const target = this.s0 + secondsToDuration(c + h.offsetAt(c));
    const freqPpm = h.freq * 1e6;
    const delta = Number(target - this.software.read(at)) / 2 ** 32;
    this.lastCorrection = delta;
    let result: DisciplineResult = { kind: 'slew', offset: delta };
    if (!this.started || Math.abs(delta) > this.stept) {
      this.software.setFrequency(at, freqPpm);
      const reason = this.started
        ? (this.stepReason ?? 'correction beyond the step threshold')
        : 'initial offset';
      this.software.setTime(at, target, reason);
      this.started = true;
      this.steps++;
      result = { kind: 'step', offset: delta };
    } else {
      this.software.setFrequency(at, freqPpm);
      // In warm-up the corrections come from a frequency still being measured (ms after a long first
      // poll): they are slewed within a second; afterwards over `slewTime` at no more than 500 ppm.
      const rate =
        this.state === 'WARMUP' || this.state === 'UNSYNC'
          ? Math.min(WARMUP_SLEW_RATE, Math.max(MAX_SLEW_RATE, Math.abs(delta)))
          : Math.min(MAX_SLEW_RATE, Math.max(Math.abs(delta) / this.slewTime, 1e-12));
      this.software.slewLinear(at, delta, rate);
    }
    this.stepReason = null;
    this.lastChange = at;
    this.state = h.hist.length < 8 || !(h.rhoError < 1e-6) ? 'WARMUP' : 'TRACKING';
    this.updateErrorBound(raw, st);
    return result;
  }

  private updateErrorBound(raw: RawTime, st: Stamp): void {
    if (!this.started) return;
    const minRtt = this.h.minRtt();
    // The unknown asymmetry is at most half the minimum RTT; plus the estimate's scale and the server's distance.
    const bound =
      st.rootDelay / 2 +
      st.rootDispersion +
      Math.max(0, Number.isNaN(minRtt) ? 0 : minRtt) / 2 +
      this.h.qualityScale / 2;
    if (this.lastGood !== null && st.c === this.lastGood) this.software.setErrorBound(this.when(raw), bound);
  }

  /** The state at `raw`: FREEWHEEL when no good exchange came for `freewheelAfter` seconds. */
  stateAt(raw: RawTime): FeedForwardState {
    if (this.state !== 'TRACKING' && this.state !== 'FREEWHEEL') return this.state;
    if (this.lastGood === null) return this.state;
    const age = Number(raw - this.r0) / 1e9 - this.lastGood;
    return age > this.freewheelAfter ? 'FREEWHEEL' : 'TRACKING';
  }

  snapshot(raw: RawTime): DisciplineSnapshot {
    const h = this.h;
    const minRtt = h.minRtt();
    const lastGoodAge =
      this.lastGood === null ? -1 : Math.max(0, Number(raw - this.r0) / 1e9 - this.lastGood);
    return {
      kind: 'feedforward',
      state: this.stateAt(raw),
      offset: this.lastCorrection,
      frequencyPpm: h.freq * 1e6,
      jitter: h.jitter,
      wander: h.wander * 1e6,
      poll: this.polls.exponent,
      extra: {
        periodPpm: (h.rho - 1) * 1e6,
        rateErrorPpm: Number.isFinite(h.rhoError) ? h.rhoError * 1e6 : -1,
        localRatePpm: (1 + h.freq - h.rho) * 1e6,
        minRtt: Number.isNaN(minRtt) ? -1 : minRtt,
        qualityScale: Number.isFinite(h.qualityScale) ? h.qualityScale : -1,
        levelShifts: h.shifts,
        poorExchanges: this.poorCount,
        outliers: this.outliers,
        samples: h.hist.length,
        steps: this.steps,
        lastGoodAge,
        sourceId: this.sourceId ?? '',
        input: this.sourceId?.endsWith('#offsets') ? 'offsets' : 'exchanges',
      },
    };
  }
}
