/** The feed-forward clock's exchange history and the estimates made from it: minimum RTT per path segment, rate, local rate, offset. */
import { boundedUpdate } from './ff-bounded.js';

/** One exchange, relative to the first one of the path. */
export interface Stamp {
  /** Counter mid-point and server mid-point, seconds relative to the first exchange. */
  c: number;
  s: number;
  /** Counter RTT (nominal seconds) and server processing time (s). */
  crtt: number;
  srv: number;
  /** Segment index (level shifts). */
  seg: number;
  /** Raw receive counter value. */
  tf: bigint;
  rootDelay: number;
  rootDispersion: number;
}

interface Segment {
  min: number;
}

/** Longest span (s) of the level-shift window, and the fewest exchanges in it. */
const SHIFT_SPAN = 4096;
const MIN_SHIFT_WINDOW = 6;

/**
 * One-sided queueing: the least (averaged) slope acted on, the extra down-weighting of queued
 * exchanges, the pairs the slope needs, and the fraction of it taken out of each offset (the offset
 * error of one-sided exponential queueing is near zero for small E and −E/2 + the other side's mean
 * for large E, so the full slope would over-correct the low-delay exchanges that dominate; 0.55
 * rather than 0.5 keeps both one-sided scenarios' mean error within 50 µs, see docs/clocks.md), and
 * how many standard errors from zero a slope must be to count.
 */
const ASYM = { min: 0.4, weight: 100, points: 8, bias: 0.55, z: 3 } as const;

/**
 * The quick level-shift test: exchanges of history it needs, the most exchanges it looks back over,
 * and the chance of so much queueing in a row it takes for a shift.
 */
const QUICK_SHIFT = { history: 8, max: 8, alpha: 1e-4 } as const;

/** Exchanges of a path segment before its offsets are taken as bounded (`boundedUpdate`). */
const BOUNDED_AFTER = 16;
/** e0 of an exchange whose segment has m exchanges: at least this/√m of the median point error. */
const YOUNG_FLOOR = 1;
/** Good exchanges in the Kalman filter. */
const KF_SPAN = 64;
/** Prior sd of the frequency correction before the first exchanges (s/s). */
const PRIOR_FREQ = 1e-3;
/** Least prior sd of the frequency carried over to a new path (s/s). */
const PRIOR_FREQ_FLOOR = 1e-7;

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const a = [...xs].sort((x, y) => x - y);
  const mid = a.length >> 1;
  return a.length % 2 === 1 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
}

export interface HistoryOptions {
  rateWindow: number;
  localRateWindow: number;
  offsetWindow: number;
  shiftWindow: number;
  maxHistory: number;
  qualityFactor: number;
  minQualityScale: number;
  /** Random-walk frequency noise of the counter assumed by the filter, s/s per √s. */
  wander: number;
  /** Queueing of the minimum-delay exchange, as a fraction of the median point error. */
  floorFactor: number;
  /** Noise floor of every offset (timestamping), s. */
  minNoise: number;
}

export class ExchangeHistory {
  hist: Stamp[] = [];
  private segs: Segment[] = [];
  /** Rate ρ̂: true seconds per nominal counter second, and its error bound. */
  rho: number;
  rhoError = Number.POSITIVE_INFINITY;
  /**
   * Offset y = S − C at counter cRef (relative s), its rate (the clock's frequency correction, s/s),
   * their variances, the spread of the offset innovations and the wander of the frequency estimate.
   */
  phase = 0;
  freq = 0;
  phaseVar = Number.POSITIVE_INFINITY;
  freqVar = Number.POSITIVE_INFINITY;
  private p01 = 0;
  /** The newest exchange's offset minus its prediction (s), and the offset variance of a median exchange. */
  innovation = Number.NaN;
  /** Its expected variance (prediction plus the exchange's own noise), s². */
  innovationVar = Number.NaN;
  noise = Number.NaN;
  /** Slope of the offset errors against the queueing, averaged (one-sided queueing: towards ±0.5). */
  asymmetry = 0;
  cRef = 0;
  jitter = 0;
  wander = 0;
  /** Quality scale Eq (s). */
  qualityScale = Number.NaN;
  shifts = 0;
  /**
   * The filter's prior for the frequency correction (s/s) and its variance: the counter's frequency
   * belongs to the counter, so a new path starts from the last path's estimate.
   */
  private priorFreq: number;
  private priorFreqVar = PRIOR_FREQ * PRIOR_FREQ;

  constructor(
    private readonly o: HistoryOptions,
    rho: number,
  ) {
    this.rho = rho;
    this.freq = rho - 1;
    this.priorFreq = this.freq;
  }

  /** Forgets the path (a new system peer, a server that stepped): keeps the rate, which belongs to the counter. */
  reset(): void {
    if (Number.isFinite(this.freqVar) && this.hist.length >= 2) {
      // Without it the first exchange of the new path would be extrapolated to now at zero frequency
      // (0.1 s per 1,000 s at 100 ppm): a step there and back at every change of system peer.
      this.priorFreq = this.freq;
      this.priorFreqVar = Math.min(PRIOR_FREQ * PRIOR_FREQ, 4 * this.freqVar + PRIOR_FREQ_FLOOR ** 2);
    }
    this.hist = [];
    this.segs = [];
    this.qualityScale = Number.NaN;
    this.rhoError = Number.POSITIVE_INFINITY;
  }

  /** The current segment's minimum RTT (s), NaN before the first exchange. */
  minRtt(): number {
    return this.segs[this.segs.length - 1]?.min ?? Number.NaN;
  }

  /** Adds an exchange and updates the minimum RTT, level shifts, quality scale and rate. */
  add(st: Stamp): void {
    st.seg = Math.max(0, this.segs.length - 1);
    this.hist.push(st);
    this.trim(st.c);
    // Minimum RTT: lower is accepted at once.
    const rtt = this.rtt(st);
    if (this.segs.length === 0) this.segs.push({ min: rtt });
    const seg = this.segs[st.seg]!;
    if (rtt < seg.min) seg.min = rtt;
    this.detectLevelShift();
    this.updateQualityScale();
    this.estimateRate();
  }

  rtt(st: Stamp): number {
    return this.rho * st.crtt - st.srv;
  }

  pointError(st: Stamp): number {
    const seg = this.segs[st.seg];
    return seg === undefined ? 0 : Math.max(0, this.rtt(st) - seg.min);
  }

  private trim(now: number): void {
    const o = this.o;
    const keep = Math.max(o.rateWindow, o.localRateWindow, o.offsetWindow) * 1.25;
    let drop = 0;
    while (
      drop < this.hist.length - 2 &&
      ((now - this.hist[drop]!.c > keep && this.hist.length - drop > KF_SPAN) ||
        this.hist.length - drop > o.maxHistory)
    )
      drop++;
    if (drop > 0) this.hist.splice(0, drop);
  }

  /**
   * Upward level shift: the minimum RTT of the last `shiftWindow` exchanges is well above r̂ — or of
   * the last few, when so far above it that queueing would hardly explain it (`quickShift`).
   */
  private detectLevelShift(): void {
    const n = this.hist.length;
    // The window spans at most SHIFT_SPAN seconds (at long polls 16 exchanges are hours), but holds at
    // least MIN_SHIFT_WINDOW exchanges (fewer would see shifts in plain noise).
    const newest = this.hist[n - 1]?.c ?? 0;
    let w = 0;
    while (w < this.o.shiftWindow && w < n && newest - this.hist[n - 1 - w]!.c <= SHIFT_SPAN) w++;
    w = Math.max(Math.min(MIN_SHIFT_WINDOW, this.o.shiftWindow), w);
    const cur = this.segs.length - 1;
    const seg = this.segs[cur]!;
    let k = this.quickShift(cur);
    const quick = k > 0;
    if (k === 0 && n >= w + 4) {
      let recentMin = Number.POSITIVE_INFINITY;
      for (let i = n - w; i < n; i++) {
        const h = this.hist[i]!;
        if (h.seg !== cur) return;
        recentMin = Math.min(recentMin, this.rtt(h));
      }
      if (recentMin - seg.min > this.shiftThreshold()) k = w;
    }
    if (k === 0) return;
    // The shift happened somewhere in the window, and its older exchanges may still be from before
    // it, queued above the threshold (one of them as the window's minimum would put the new level too
    // low, and a second shift would be seen a poll later). The new level is the minimum of the newer
    // half, where a pre-shift exchange needs as many queued exchanges in a row before it; an older
    // exchange below that level stays with the old path. (The quick test's k exchanges are all after it.)
    const half = quick ? k : Math.ceil(k / 2);
    let level = Number.POSITIVE_INFINITY;
    for (let i = n - half; i < n; i++) level = Math.min(level, this.rtt(this.hist[i]!));
    this.segs.push({ min: level });
    const idx = this.segs.length - 1;
    for (let i = n - k; i < n; i++)
      if (i >= n - half || this.rtt(this.hist[i]!) >= level) this.hist[i]!.seg = idx;
    this.shifts++;
  }

  /**
   * A shift seen in the last k ≥ 2 exchanges of segment `cur` (k, or 0): each queued by more than x
   * over r̂, where k such exchanges in a row would have a chance below QUICK_SHIFT.alpha even with
   * queueing exponential on one side (P(E > x) = 2^(−x/median)); and their offsets where the clock
   * predicts them (a symmetric shift; within x/4, the prediction known to x/12), not moved by up to
   * x/2 as when the extra delay sits on one side (congestion: ridden out as poor input).
   */
  private quickShift(cur: number): number {
    const n = this.hist.length;
    const med = this.medianError();
    if (n < QUICK_SHIFT.history || !(med > 0) || !Number.isFinite(this.phaseVar)) return 0;
    const seg = this.segs[cur]!;
    let recentMin = Number.POSITIVE_INFINITY;
    let worst = 0;
    let spread = 0;
    for (let k = 1; k <= Math.min(QUICK_SHIFT.max, n - QUICK_SHIFT.history); k++) {
      const st = this.hist[n - k]!;
      if (st.seg !== cur) return 0;
      recentMin = Math.min(recentMin, this.rtt(st));
      worst = Math.max(worst, Math.abs(st.s - st.c - this.offsetAt(st.c)));
      spread = Math.max(spread, this.predictionVariance(st.c - this.cRef));
      const x = recentMin - seg.min;
      if (k < 2 || !(x > this.shiftThreshold())) continue;
      if (k * Math.LN2 * (x / med) < Math.log(1 / QUICK_SHIFT.alpha)) continue;
      return worst <= x / 4 && spread <= (x / 12) ** 2 ? k : 0;
    }
    return 0;
  }

  /** How far the minimum RTT must move to be a level shift (s). */
  private shiftThreshold(): number {
    return Math.max(10e-6, 1.5 * this.medianError());
  }

  /** The median point error behind the quality scale (0 before there is one). */
  medianError(): number {
    return Number.isFinite(this.qualityScale) ? this.qualityScale / this.o.qualityFactor : 0;
  }

  /** Eq from the median point error of recent exchanges (excluding the shift window). */
  private updateQualityScale(): void {
    const n = this.hist.length;
    const w = this.o.shiftWindow;
    const end = n > 2 * w ? n - w : n;
    const start = Math.max(0, end - 64);
    const es: number[] = [];
    for (let i = start; i < end; i++) es.push(this.pointError(this.hist[i]!));
    const med = median(es);
    this.qualityScale = Math.max(
      this.o.minQualityScale,
      this.o.qualityFactor * (Number.isFinite(med) ? med : 0),
    );
  }

  /** Rate from the best exchange of the oldest and of the newest quarter of the rate window. */
  private estimateRate(): void {
    const n = this.hist.length;
    if (n < 2) return;
    const newest = this.hist[n - 1]!.c;
    let first = 0;
    while (first < n - 1 && newest - this.hist[first]!.c > this.o.rateWindow) first++;
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

  /**
   * The offset y = S − C (server time minus counter, s) and its rate at the newest good exchange: a
   * Kalman filter over the last `KF_SPAN` good exchanges, run afresh each time with the current point
   * errors. The state is phase and frequency with a random-walk frequency (`wander`, s/s per √s); an
   * exchange whose queueing is E has an offset error within ±E/2 (variance (E + e0)²/12, e0 the
   * queueing of the minimum-delay exchange itself), so the lowest-delay exchanges dominate.
   */
  estimateOffset(good: (st: Stamp) => boolean): void {
    const o = this.o;
    const idx: number[] = [];
    for (let i = this.hist.length - 1; i >= 0 && idx.length < KF_SPAN; i--) {
      if (good(this.hist[i]!)) idx.push(i);
    }
    if (idx.length === 0) return;
    idx.reverse();
    // The minimum RTT seen is itself above the true one: by about 0.7/√n of the median point error
    // over n exchanges (exponential queueing), and never less than `floorFactor` of it.
    const n = this.hist.length;
    const med0 = this.medianError();
    const e0 = Math.max(o.floorFactor, 0.7 / Math.sqrt(n)) * med0;
    const segN = new Map<number, number>();
    for (const st of this.hist) segN.set(st.seg, (segN.get(st.seg) ?? 0) + 1);
    const stamps = idx.map((i) => this.hist[i]!);
    const es = stamps.map((st) => this.pointError(st));
    // Each exchange's own e0: its segment's minimum rests on that segment's m exchanges only, and
    // it sits above the true one by 0.75/√m of the median point error on average (queueing each way
    // exponential, the minimum of m sums); the bound must hold, so 1/√m (a young segment after a
    // level shift, the first exchanges after start-up: its exchanges' bounds are not taken as tight).
    const e0s = stamps.map((st) => Math.max(e0, (YOUNG_FLOOR / Math.sqrt(segN.get(st.seg) ?? 1)) * med0));
    const noise2 = o.minNoise * o.minNoise;
    const plain = (k: number) => (es[k]! + e0s[k]!) ** 2 / 12 + noise2;
    // Each offset's error lies within ±(E + e0)/2: the filter takes it as that bound (plus the noise
    // floor), not as a Gaussian of the same variance (`boundedUpdate`).
    // Only once the segment's minimum RTT rests on `BOUNDED_AFTER` exchanges: before, the bound itself
    // is uncertain (the minimum of six WAN exchanges can sit 1 ms above the true one).
    const first = this.kalman(
      stamps,
      (k) =>
        (segN.get(stamps[k]!.seg) ?? 0) >= BOUNDED_AFTER
          ? { h: (es[k]! + e0s[k]!) / 2, s2: noise2 }
          : { h: 0, s2: plain(k) },
      () => 0,
    );
    // Queueing on one side: the offset errors then follow the queueing E (by up to ±E/2). Their slope
    // against E (chrony estimates the same asymmetry of the jitter) is taken out of each offset, and
    // the queued exchanges are weighted down further.
    const k = this.asymmetrySlope(stamps, es, first.b);
    this.asymmetry += (k - this.asymmetry) / 4;
    const shift = Math.abs(this.asymmetry) >= ASYM.min ? this.asymmetry : 0;
    const med = this.medianError() + e0;
    const r =
      shift === 0
        ? first
        : this.kalman(
            stamps,
            (i) => ({
              h: 0,
              s2: plain(i) * (1 + ASYM.weight * (shift / 0.5) ** 2 * ((es[i]! + e0) / med) ** 2),
            }),
            (i) => ASYM.bias * shift * es[i]!,
          );
    this.innovation = r.innovations[r.innovations.length - 1] ?? Number.NaN;
    this.innovationVar = r.lastS;
    this.noise = med ** 2 / 12 + o.minNoise * o.minNoise;
    if (!Number.isFinite(r.a) || !Number.isFinite(r.b)) return;
    this.wander = Math.sqrt(this.wander ** 2 + ((r.b - this.freq) ** 2 - this.wander ** 2) / 4);
    this.phase = r.a;
    this.freq = r.b;
    this.phaseVar = r.p00;
    this.freqVar = r.p11;
    this.p01 = r.p01;
    this.cRef = r.c;
    this.jitter = r.jitter;
  }

  /** One-sided queueing was detected: the offsets are corrected for it. */
  get asymmetric(): boolean {
    return Math.abs(this.asymmetry) >= ASYM.min;
  }

  /**
   * Slope of the offset changes against the queueing changes between consecutive exchanges (the
   * clock's drift in between taken out at the frequency estimate), within ±0.5; 0 with few pairs, or
   * when it is within ASYM.z standard errors of zero (sparse exchanges on a symmetric path: with 30 %
   * loss each way at 512–1,024 s polls the slope reached −0.44 for 6,000 s in one seed of loss30, and
   * the correction and the quartered poll samples it brings cost 20 requests there).
   */
  private asymmetrySlope(stamps: Stamp[], es: number[], freq: number): number {
    let sxx = 0;
    let sxy = 0;
    let syy = 0;
    let n = 0;
    for (let i = 1; i < stamps.length; i++) {
      const p = stamps[i - 1]!;
      const q = stamps[i]!;
      const dy = q.s - q.c - (p.s - p.c) - freq * (q.c - p.c);
      const de = es[i]! - es[i - 1]!;
      sxx += de * de;
      sxy += de * dy;
      syy += dy * dy;
      n++;
    }
    if (n < ASYM.points || !(sxx > 0)) return 0;
    const k = sxy / sxx;
    const se = Math.sqrt(Math.max(0, syy - k * sxy) / (n - 1) / sxx);
    if (Math.abs(k) < ASYM.z * se) return 0;
    return Math.max(-0.5, Math.min(0.5, k));
  }

  /**
   * The Kalman filter over `stamps` (oldest first): each offset's error is within ±h plus a normal
   * one of variance s2 (`error`; h = 0: a plain Kalman update), less `bias` (by index). Returns the
   * state at the newest and the innovations (index 0: NaN).
   */
  private kalman(
    stamps: Stamp[],
    error: (i: number) => { h: number; s2: number },
    bias: (i: number) => number,
  ): {
    a: number;
    b: number;
    p00: number;
    p01: number;
    p11: number;
    c: number;
    jitter: number;
    innovations: number[];
    lastS: number;
  } {
    const q2 = this.o.wander * this.o.wander;
    const first = stamps[0]!;
    let a = first.s - first.c - bias(0);
    let b = this.priorFreq;
    const e0 = error(0);
    let p00 = (e0.h * e0.h) / 3 + e0.s2;
    let p01 = 0;
    let p11 = this.priorFreqVar;
    let c = first.c;
    let sw = 0;
    let sr = 0;
    const innovations = [Number.NaN];
    let lastS = Number.NaN;
    for (let k = 1; k < stamps.length; k++) {
      const st = stamps[k]!;
      const dt = st.c - c;
      c = st.c;
      // Predict.
      a += b * dt;
      p00 += 2 * p01 * dt + p11 * dt * dt + (q2 * dt * dt * dt) / 3;
      p01 += p11 * dt + (q2 * dt * dt) / 2;
      p11 += q2 * dt;
      // Update with the measured offset: the posterior of the phase (exact moments), carried to the
      // frequency through their covariance.
      const { h, s2 } = error(k);
      const r = (h * h) / 3 + s2;
      const y = st.s - st.c - bias(k);
      const nu = y - a;
      innovations.push(nu);
      lastS = p00 + r;
      const post = boundedUpdate(a, p00, y, h, s2);
      const k1 = p01 / p00;
      const shrink = (1 - post.variance / p00) / p00;
      b += k1 * (post.mean - a);
      a = post.mean;
      p11 -= p01 * p01 * shrink;
      p01 = (p01 * post.variance) / p00;
      p00 = post.variance;
      sw += 1 / r;
      sr += (nu * nu) / r;
    }
    return { a, b, p00, p01, p11, c, jitter: sw > 0 ? Math.sqrt(sr / sw) : 0, innovations, lastS };
  }

  /** Variance of the offset predicted `dt` s after the last estimate (s²). */
  predictionVariance(dt: number): number {
    const q2 = this.o.wander * this.o.wander;
    return this.phaseVar + 2 * this.p01 * dt + this.freqVar * dt * dt + (q2 * dt * dt * dt) / 3;
  }

  /** Offset y = S − C at counter `c` (relative s), extrapolated from the last estimate. */
  offsetAt(c: number): number {
    return this.phase + this.freq * (c - this.cRef);
  }
}
