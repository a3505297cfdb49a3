/** The feed-forward clock's exchange history and the estimates made from it: minimum RTT per path segment, rate, local rate, offset. */

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

/** Fewest exchanges in the local-rate fit. */
const MIN_LOCAL = 8;

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
}

export class ExchangeHistory {
  hist: Stamp[] = [];
  private segs: Segment[] = [];
  /** Rate ρ̂: true seconds per nominal counter second, and its error bound. */
  rho: number;
  rhoError = Number.POSITIVE_INFINITY;
  /** Local rate β, offset α at counter cRef (relative s), and the spread of the offset residuals. */
  beta = 0;
  alpha = 0;
  cRef = 0;
  jitter = 0;
  wander = 0;
  /** Quality scale Eq (s). */
  qualityScale = Number.NaN;
  shifts = 0;

  constructor(
    private readonly o: HistoryOptions,
    rho: number,
  ) {
    this.rho = rho;
  }

  /** Forgets the path (a new system peer, a server that stepped): keeps the rate, which belongs to the counter. */
  reset(): void {
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
      (now - this.hist[drop]!.c > keep || this.hist.length - drop > o.maxHistory)
    )
      drop++;
    if (drop > 0) this.hist.splice(0, drop);
  }

  /** Upward level shift: the minimum RTT of the last `shiftWindow` exchanges is well above r̂. */
  private detectLevelShift(): void {
    const n = this.hist.length;
    const w = this.o.shiftWindow;
    if (n < w + 4) return;
    const cur = this.segs.length - 1;
    const seg = this.segs[cur]!;
    let recentMin = Number.POSITIVE_INFINITY;
    for (let i = n - w; i < n; i++) {
      const h = this.hist[i]!;
      if (h.seg !== cur) return;
      recentMin = Math.min(recentMin, this.rtt(h));
    }
    const threshold = Math.max(10e-6, 1.5 * this.medianError());
    if (recentMin - seg.min > threshold) {
      this.segs.push({ min: recentMin });
      const idx = this.segs.length - 1;
      for (let i = n - w; i < n; i++) this.hist[i]!.seg = idx;
      this.shifts++;
    }
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

  /** Local rate (weighted LS slope) and offset (weighted mean) at counter `now` (relative s). */
  estimateOffset(now: number): void {
    const n = this.hist.length;
    // Local rate over localRateWindow.
    let sw = 0;
    let sx = 0;
    let sy = 0;
    // The window reaches back at least MIN_LOCAL exchanges (after an outage it spans the gap).
    let lo = n - 1;
    while (lo > 0 && (now - this.hist[lo - 1]!.c <= this.o.localRateWindow || n - lo < MIN_LOCAL)) lo--;
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
      if (now - h.c > this.o.offsetWindow && ws > 0) break;
      const w = Math.max(this.weight(h), 1e-300);
      ws += w;
      acc += w * (h.s - this.rho * h.c + beta * (now - h.c));
    }
    const alpha = acc / ws;
    let jv = 0;
    for (let i = n - 1; i >= 0; i--) {
      const h = this.hist[i]!;
      if (now - h.c > this.o.offsetWindow) break;
      const r = h.s - this.rho * h.c + beta * (now - h.c) - alpha;
      jv += this.weight(h) * r * r;
    }
    this.jitter = Math.sqrt(jv / ws);
    this.alpha = alpha;
    this.cRef = now;
  }
}
