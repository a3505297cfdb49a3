/**
 * The feed-forward clock, after RADclock (Veitch, Ridoux, Korada: "Robust synchronization of
 * absolute and difference clocks over networks", IEEE/ACM ToN 2009).
 *
 * Instead of feeding offsets back into a loop, every exchange is kept as raw material: the counter
 * values Ta, Tf (our send/receive) and the server's Tb, Te. Estimates are recomputed from that history:
 *
 * - **Minimum RTT** r̂ of the path, per *segment*. A lower RTT is accepted at once. A sustained
 *   upward level shift (the minimum of the last `shiftWindow` exchanges above r̂ by more than the
 *   shift threshold) opens a new segment whose minimum is the recent one. The point error of an
 *   exchange is E = RTT − r̂ (of its segment): how much queueing it suffered.
 * - **Rate** ρ̂ (true seconds per nominal counter second; the counter period is ρ̂ ns): from two
 *   well-separated low-E exchanges, the best of the oldest quarter of the rate window and the best of
 *   the newest quarter. Path asymmetry and the offset cancel; the error is ≈ (E_i + E_j) / Δ.
 * - **Local rate** β (a correction to ρ̂ on a shorter timescale): a quality-weighted least-squares slope
 *   of the residuals y = S − ρ̂·C over `localRateWindow` seconds.
 * - **Offset**: the quality-weighted mean of y + β·(now − C) over `offsetWindow` seconds, with weights
 *   exp(−(E/Eq)²), Eq an adaptive quality scale (a fraction of the median point error).
 * - **Freewheel**: an exchange whose point error is large (poor input) changes no estimate; the clock
 *   keeps running on the last good ones, and the error bound grows.
 *
 * The absolute clock is a `SoftwareClock` set to S0 + ρ̂·C + α + β·(C − Cnow); small corrections are
 * slewed linearly over one poll interval (at most 500 ppm), so it stays monotonic and smooth. The **difference clock** measures intervals with
 * ρ̂ alone, so offset corrections never disturb it.
 *
 * C and S above are seconds relative to the first exchange (counter and server time respectively), kept
 * as doubles after bigint subtraction.
 */
import { durationToSeconds, type NtpTime, secondsToDuration } from '../time/ntp-time.js';
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
  /** Poll exponents (log2 s). The feed-forward clock asks for `minpoll` (default 6). */
  minpoll?: number;
  maxpoll?: number;
  /** Corrections larger than this (s) are stepped (default 0.128); the first estimate always sets the clock. */
  stepThreshold?: number;
  /** Seconds of history for the rate estimate (default 4096). */
  rateWindow?: number;
  /** Seconds of history for the local rate (default 2048). */
  localRateWindow?: number;
  /** Seconds of history for the offset estimate (default 1024). */
  offsetWindow?: number;
  /** Exchanges in the upward level-shift window (default 16). */
  shiftWindow?: number;
  /** Most exchanges kept (default 4096). */
  maxHistory?: number;
  /** Quality scale Eq = this × median point error (default 0.5), floored at `minQualityScale` (default 1 µs). */
  qualityFactor?: number;
  minQualityScale?: number;
  /** An exchange is poor (freewheel on it) when E > poorFactor × median point error (default 3). */
  poorFactor?: number;
  /** Seconds without a good exchange before the state is reported as FREEWHEEL (default 4 × 2^minpoll). */
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

interface Stamp {
  /** Counter mid-point and server mid-point, seconds relative to the first exchange. */
  c: number;
  s: number;
  /** Counter RTT (nominal seconds) and server processing time (s). */
  crtt: number;
  srv: number;
  /** Segment index (level shifts). */
  seg: number;
  /** Raw receive counter value. */
  tf: RawTime;
  rootDelay: number;
  rootDispersion: number;
}

interface Segment {
  min: number;
}

/** Fewest exchanges in the local-rate fit. */
const MIN_LOCAL = 8;

export type FeedForwardState = 'UNSYNC' | 'WARMUP' | 'TRACKING' | 'FREEWHEEL';

function mid(a: bigint, b: bigint): bigint {
  return a + (b - a) / 2n;
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const a = [...xs].sort((x, y) => x - y);
  const mid = a.length >> 1;
  return a.length % 2 === 1 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
}

export class FeedForwardClock implements Discipline {
  readonly kind = 'feedforward' as const;
  readonly software: SoftwareClock;
  readonly clock: LocalClock;
  readonly difference: DifferenceClock;

  private readonly poll: number;
  private readonly stept: number;
  private readonly rateWindow: number;
  private readonly localRateWindow: number;
  private readonly offsetWindow: number;
  private readonly shiftWindow: number;
  private readonly maxHistory: number;
  private readonly qualityFactor: number;
  private readonly minQualityScale: number;
  private readonly poorFactor: number;
  private readonly freewheelAfter: number;
  private readonly slewTime: number;
  private readonly sanityThreshold: number;
  private readonly stepout: number;

  private sourceId: string | null = null;
  private r0: RawTime = 0n;
  private s0: NtpTime = 0n;
  private hist: Stamp[] = [];
  private segs: Segment[] = [];
  private rho: number;
  private rhoError = Number.POSITIVE_INFINITY;
  private beta = 0;
  private alpha = 0;
  /** Counter (relative s) at which alpha applies. */
  private cRef = 0;
  private state: FeedForwardState = 'UNSYNC';
  private lastGood: number | null = null;
  /** Raw receive time of the last good exchange (survives path resets). */
  private lastGoodRaw: RawTime | null = null;
  private outlierSince: RawTime | null = null;
  private outliers = 0;
  /** Recent receive counter values of each source's raw exchanges (to recognise their updates). */
  private readonly recentTf = new Map<string, RawTime[]>();
  /** Consecutive updates of a source not (positive) or (negative) matching a raw exchange. */
  private readonly foreignRun = new Map<string, number>();
  /** Sources followed through their offsets (pseudo-exchanges) instead of raw exchanges. */
  private readonly pseudo = new Set<string>();
  private lastChange: RawTime | null = null;
  /** Latest counter value seen (exchanges, updates): "now" for model changes. */
  private latest: RawTime | null = null;
  private lastCorrection = 0;
  private jitter = 0;
  private wander = 0;
  private qualityScale = Number.NaN;
  private shifts = 0;
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
    this.rho = 1 + (opts.initialFrequencyPpm ?? 0) * 1e-6;
    this.poll = opts.minpoll ?? 6;
    const st = opts.stepThreshold ?? 0.128;
    this.stept = st > 0 ? st : Number.POSITIVE_INFINITY;
    this.rateWindow = opts.rateWindow ?? 4096;
    this.localRateWindow = opts.localRateWindow ?? 2048;
    this.offsetWindow = opts.offsetWindow ?? 1024;
    this.shiftWindow = Math.max(2, opts.shiftWindow ?? 16);
    this.maxHistory = Math.max(16, opts.maxHistory ?? 4096);
    this.qualityFactor = opts.qualityFactor ?? 0.5;
    this.minQualityScale = opts.minQualityScale ?? 1e-6;
    this.poorFactor = opts.poorFactor ?? 3;
    this.freewheelAfter = opts.freewheelAfter ?? 4 * 2 ** this.poll;
    this.slewTime = opts.slewTime ?? 2 ** this.poll;
    this.sanityThreshold = opts.sanityThreshold ?? 1e-3;
    this.stepout = opts.stepout ?? 900;
    this.difference = {
      interval: (a: RawTime, b: RawTime) => (this.rho * Number(b - a)) / 1e9,
      rate: () => this.rho,
    };
  }

  pollExponent(): number {
    return this.poll;
  }

  /** The RFC 5905 mitigation result is not used: the feed-forward clock works on raw exchanges. */
  /**
   * The mitigation chain's result. Normally ignored: the feed-forward clock follows the raw exchanges
   * of the system peer. When a source's updates do not come from two-way exchanges (a broadcast
   * client, after calibration), the clock switches to *offset input* for that source: each update
   * becomes a pseudo-exchange (server time = our clock + offset at the measurement, RTT 0), so the
   * same estimators run on it. Three consecutive updates decide the switch either way.
   */
  update(sample: ClockSample): DisciplineResult {
    const id = sample.sourceId;
    for (const r of [sample.raw, sample.now])
      if (r !== undefined && (this.latest === null || r > this.latest)) this.latest = r;
    const foreign = !(this.recentTf.get(id) ?? []).includes(sample.raw);
    const prev = this.foreignRun.get(id) ?? 0;
    const run = foreign ? Math.max(1, prev + 1) : Math.min(-1, prev - 1);
    this.foreignRun.set(id, run);
    if (run >= 3) this.pseudo.add(id);
    if (run <= -3) this.pseudo.delete(id);
    if (!this.pseudo.has(id)) return { kind: 'ignored', reason: `follows the raw exchanges of ${id}` };
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
    const seg = this.segs[this.segs.length - 1];
    return {
      state: raw === undefined ? this.state : this.stateAt(raw),
      rate: this.rho,
      rateError: this.rhoError,
      localRate: this.beta,
      minRtt: seg?.min ?? Number.NaN,
      qualityScale: this.qualityScale,
      levelShifts: this.shifts,
      samples: this.hist.length,
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
    this.hist = [];
    this.segs = [];
    this.r0 = x.ta;
    this.s0 = x.tb;
    this.lastGood = null;
    this.qualityScale = Number.NaN;
    this.rhoError = Number.POSITIVE_INFINITY;
  }

  exchange(x: RawExchange, fromSystemPeer: boolean): void {
    let tfs = this.recentTf.get(x.sourceId);
    if (tfs === undefined) {
      tfs = [];
      this.recentTf.set(x.sourceId, tfs);
    }
    tfs.push(x.tf);
    if (tfs.length > 16) tfs.shift();
    if (this.latest === null || x.tf > this.latest) this.latest = x.tf;
    if (!fromSystemPeer || this.pseudo.has(x.sourceId)) return;
    this.process(x);
  }

  /** Uses one exchange of the followed path. */
  private process(x: RawExchange): DisciplineResult {
    if (x.tf < x.ta) return { kind: 'ignored', reason: 'Tf before Ta' };
    if (this.sourceId !== x.sourceId) this.resetPath(x);
    const last = this.hist[this.hist.length - 1];
    if (last !== undefined && x.tf <= last.tf) return { kind: 'ignored', reason: 'not newer' };
    if (!this.sane(x)) return { kind: 'ignored', reason: 'outlier (offset sanity check)' };

    const a = Number(x.ta - this.r0) / 1e9;
    const f = Number(x.tf - this.r0) / 1e9;
    const b = durationToSeconds(x.tb - this.s0);
    const e = durationToSeconds(x.te - this.s0);
    const srv = e - b;
    if (!(srv >= 0) || f - a < 0) return { kind: 'ignored', reason: 'invalid timestamps' };
    const st: Stamp = {
      c: (a + f) / 2,
      s: (b + e) / 2,
      crtt: f - a,
      srv,
      seg: Math.max(0, this.segs.length - 1),
      tf: x.tf,
      rootDelay: x.rootDelay,
      rootDispersion: x.rootDispersion,
    };
    this.hist.push(st);
    this.trimHistory(st.c);

    // Minimum RTT: lower is accepted at once.
    const rtt = this.rtt(st);
    if (this.segs.length === 0) this.segs.push({ min: rtt });
    const seg = this.segs[st.seg]!;
    if (rtt < seg.min) seg.min = rtt;
    this.detectLevelShift();
    this.updateQualityScale();

    this.estimateRate();
    const E = this.pointError(st);
    const poorLimit = this.poorFactor * (this.qualityScale / this.qualityFactor);
    const good = this.hist.length < 4 || !(E > Math.max(poorLimit, this.minQualityScale * this.poorFactor));
    if (!good) {
      this.poorCount++;
      if (this.lastGood !== null && st.c - this.lastGood > this.freewheelAfter) this.state = 'FREEWHEEL';
      this.updateErrorBound(x.tf, st);
      return { kind: 'ignored', reason: 'poor exchange: freewheeling' };
    }
    this.lastGood = st.c;
    this.lastGoodRaw = x.tf;
    this.estimateOffset(st.c);
    return this.applyModel(x.tf, st);
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
    const seg = this.segs[this.segs.length - 1];
    const rtt = (this.rho * Number(x.tf - x.ta)) / 1e9 - durationToSeconds(x.te - x.tb);
    const E = Math.max(0, seg === undefined ? rtt : rtt - seg.min);
    const med = Number.isFinite(this.qualityScale) ? this.qualityScale / this.qualityFactor : 0;
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
    this.resetPath(x);
    return true;
  }

  private rtt(st: Stamp): number {
    return this.rho * st.crtt - st.srv;
  }

  private pointError(st: Stamp): number {
    const seg = this.segs[st.seg];
    return seg === undefined ? 0 : Math.max(0, this.rtt(st) - seg.min);
  }

  private trimHistory(now: number): void {
    const keep = Math.max(this.rateWindow, this.localRateWindow, this.offsetWindow) * 1.25;
    let drop = 0;
    while (
      drop < this.hist.length - 2 &&
      (now - this.hist[drop]!.c > keep || this.hist.length - drop > this.maxHistory)
    )
      drop++;
    if (drop > 0) this.hist.splice(0, drop);
  }

  /** Upward level shift: the minimum RTT of the last `shiftWindow` exchanges is well above r̂. */
  private detectLevelShift(): void {
    const n = this.hist.length;
    const w = this.shiftWindow;
    if (n < w + 4) return;
    const cur = this.segs.length - 1;
    const seg = this.segs[cur]!;
    let recentMin = Number.POSITIVE_INFINITY;
    for (let i = n - w; i < n; i++) {
      const h = this.hist[i]!;
      if (h.seg !== cur) return;
      recentMin = Math.min(recentMin, this.rtt(h));
    }
    const med = Number.isFinite(this.qualityScale) ? this.qualityScale / this.qualityFactor : 0;
    const threshold = Math.max(10e-6, 1.5 * med);
    if (recentMin - seg.min > threshold) {
      this.segs.push({ min: recentMin });
      const idx = this.segs.length - 1;
      for (let i = n - w; i < n; i++) this.hist[i]!.seg = idx;
      this.shifts++;
    }
  }

  /** Eq from the median point error of recent exchanges (excluding the shift window). */
  private updateQualityScale(): void {
    const n = this.hist.length;
    const end = n > 2 * this.shiftWindow ? n - this.shiftWindow : n;
    const start = Math.max(0, end - 64);
    const es: number[] = [];
    for (let i = start; i < end; i++) es.push(this.pointError(this.hist[i]!));
    const med = median(es);
    this.qualityScale = Math.max(this.minQualityScale, this.qualityFactor * (Number.isFinite(med) ? med : 0));
  }

  private weight(st: Stamp): number {
    const q = this.pointError(st) / this.qualityScale;
    return Math.exp(-q * q);
  }

  /** Rate from the best exchange of the oldest and of the newest quarter of the rate window. */
  private estimateRate(): void {
    const n = this.hist.length;
    if (n < 2) return;
    const newest = this.hist[n - 1]!.c;
    let first = 0;
    while (first < n - 1 && newest - this.hist[first]!.c > this.rateWindow) first++;
    const oldest = this.hist[first]!.c;
    const span = newest - oldest;
    if (span <= 0) return;
    const chunk = span / 4;
    let bi = -1;
    let be = Number.POSITIVE_INFINITY;
    for (let i = first; i < n && this.hist[i]!.c <= oldest + chunk; i++) {
      const e = this.pointError(this.hist[i]!);
      if (e < be) {
        be = e;
        bi = i;
      }
    }
    let bj = -1;
    let bje = Number.POSITIVE_INFINITY;
    for (let j = n - 1; j > bi && this.hist[j]!.c >= newest - chunk; j--) {
      const e = this.pointError(this.hist[j]!);
      if (e < bje) {
        bje = e;
        bj = j;
      }
    }
    if (bi < 0 || bj <= bi) return;
    const hi = this.hist[bi]!;
    const hj = this.hist[bj]!;
    const dc = hj.c - hi.c;
    if (dc <= 0) return;
    const rate = (hj.s - hi.s) / dc;
    const err = (be + bje) / 2 / dc;
    if (!Number.isFinite(rate) || Math.abs(rate - 1) > 1e-3) return;
    this.rho = rate;
    this.rhoError = err;
  }

  /** Local rate (weighted LS slope) and offset (weighted mean) at counter `now` (relative s). */
  private estimateOffset(now: number): void {
    const n = this.hist.length;
    // Local rate over localRateWindow.
    let sw = 0;
    let sx = 0;
    let sy = 0;
    // The window reaches back at least MIN_LOCAL exchanges (after an outage it spans the gap).
    let lo = n - 1;
    while (lo > 0 && (now - this.hist[lo - 1]!.c <= this.localRateWindow || n - lo < MIN_LOCAL)) lo--;
    for (let i = n - 1; i >= lo; i--) {
      const h = this.hist[i]!;
      const w = this.weight(h);
      sw += w;
      sx += w * (h.c - now);
      sy += w * (h.s - this.rho * h.c);
    }
    let beta = this.beta;
    if (sw > 0) {
      const mx = sx / sw;
      const my = sy / sw;
      let sxx = 0;
      let sxy = 0;
      for (let i = n - 1; i >= lo; i--) {
        const h = this.hist[i]!;
        const w = this.weight(h);
        const dx = h.c - now - mx;
        sxx += w * dx * dx;
        sxy += w * dx * (h.s - this.rho * h.c - my);
      }
      if (sxx > 0 && n - lo >= MIN_LOCAL && sw > 1) beta = sxy / sxx;
    }
    if (!Number.isFinite(beta) || Math.abs(beta) > 1e-4) beta = 0;
    this.wander = Math.sqrt(this.wander ** 2 + ((beta - this.beta) ** 2 - this.wander ** 2) / 4);
    this.beta = beta;

    let ws = 0;
    let acc = 0;
    for (let i = n - 1; i >= 0; i--) {
      const h = this.hist[i]!;
      if (now - h.c > this.offsetWindow && ws > 0) break;
      const w = Math.max(this.weight(h), 1e-300);
      ws += w;
      acc += w * (h.s - this.rho * h.c + beta * (now - h.c));
    }
    const alpha = acc / ws;
    let jv = 0;
    for (let i = n - 1; i >= 0; i--) {
      const h = this.hist[i]!;
      if (now - h.c > this.offsetWindow) break;
      const r = h.s - this.rho * h.c + beta * (now - h.c) - alpha;
      jv += this.weight(h) * r * r;
    }
    this.jitter = Math.sqrt(jv / ws);
    this.alpha = alpha;
    this.cRef = now;
  }

  /** Sets the absolute clock to the estimates at `raw` (step the first time, slew afterwards). */
  private applyModel(raw: RawTime, st: Stamp): DisciplineResult {
    const at = this.when(raw);
    const c = Number(at - this.r0) / 1e9;
    const target = this.s0 + secondsToDuration(this.rho * c + this.alpha + this.beta * (c - this.cRef));
    const freqPpm = (this.rho + this.beta - 1) * 1e6;
    const delta = Number(target - this.software.read(at)) / 2 ** 32;
    this.lastCorrection = delta;
    let result: DisciplineResult = { kind: 'slew', offset: delta };
    if (!this.started || Math.abs(delta) > this.stept) {
      this.software.setFrequency(at, freqPpm);
      this.software.setTime(at, target);
      this.started = true;
      this.steps++;
      result = { kind: 'step', offset: delta };
    } else {
      this.software.setFrequency(at, freqPpm);
      const rate = Math.min(MAX_SLEW_RATE, Math.max(Math.abs(delta) / this.slewTime, 1e-12));
      this.software.slewLinear(at, delta, rate);
    }
    this.lastChange = at;
    this.state = this.hist.length < 8 || !(this.rhoError < 1e-6) ? 'WARMUP' : 'TRACKING';
    this.updateErrorBound(raw, st);
    return result;
  }

  private updateErrorBound(raw: RawTime, st: Stamp): void {
    if (!this.started) return;
    const seg = this.segs[this.segs.length - 1];
    const minRtt = seg?.min ?? 0;
    // The unknown asymmetry is at most half the minimum RTT; plus the estimate's scale and the server's distance.
    const bound = st.rootDelay / 2 + st.rootDispersion + Math.max(0, minRtt) / 2 + this.qualityScale / 2;
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
    const seg = this.segs[this.segs.length - 1];
    const lastGoodAge =
      this.lastGood === null ? -1 : Math.max(0, Number(raw - this.r0) / 1e9 - this.lastGood);
    return {
      kind: 'feedforward',
      state: this.stateAt(raw),
      offset: this.lastCorrection,
      frequencyPpm: (this.rho + this.beta - 1) * 1e6,
      jitter: this.jitter,
      wander: this.wander * 1e6,
      poll: this.poll,
      extra: {
        periodPpm: (this.rho - 1) * 1e6,
        rateErrorPpm: Number.isFinite(this.rhoError) ? this.rhoError * 1e6 : -1,
        localRatePpm: this.beta * 1e6,
        minRtt: seg?.min ?? -1,
        qualityScale: Number.isFinite(this.qualityScale) ? this.qualityScale : -1,
        levelShifts: this.shifts,
        poorExchanges: this.poorCount,
        outliers: this.outliers,
        samples: this.hist.length,
        steps: this.steps,
        lastGoodAge,
        sourceId: this.sourceId ?? '',
        input: this.sourceId?.endsWith('#offsets') ? 'offsets' : 'exchanges',
      },
    };
  }
}
