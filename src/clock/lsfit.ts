/** Least-squares lines of true time against the counter: the frequency fits of the RFC 5905 discipline. */
import { durationToSeconds, type NtpTime } from '../time/ntp-time.js';
import type { RawExchange, RawTime } from './types.js';

/** Running sums of a fit. x: s since the anchor; y: true time elapsed minus x, s. */
export interface Fit {
  raw: RawTime;
  time: NtpTime;
  n: number;
  sx: number;
  sy: number;
  sxx: number;
  sxy: number;
}

/** A fit anchored at (raw, time), which is its first point. */
export function newFit(raw: RawTime, time: NtpTime): Fit {
  const f = { raw, time, n: 0, sx: 0, sy: 0, sxx: 0, sxy: 0 };
  addPoint(f, raw, time);
  return f;
}

export function addPoint(f: Fit, raw: RawTime, trueTime: NtpTime): void {
  const x = Number(raw - f.raw) / 1e9;
  const y = durationToSeconds(trueTime - f.time) - x;
  f.n++;
  f.sx += x;
  f.sy += y;
  f.sxx += x * x;
  f.sxy += x * y;
}

/** Slope of a fit (the rate correction the counter needs, s/s); null with fewer than `minN` points. */
export function slope(f: Fit | null, minN: number): number | null {
  if (f === null || f.n < minN) return null;
  const d = f.n * f.sxx - f.sx * f.sx;
  if (!(d > 0)) return null;
  return (f.n * f.sxy - f.sx * f.sy) / d;
}

/** Most sources followed, and points kept per source. */
const MAX_SOURCES = 64;
const MAX_POINTS = 256;

/**
 * Per source, the (counter, server time) midpoints of its exchanges over the last `window` seconds;
 * the median of the sources' least-squares slopes is a frequency immune to a minority of
 * falsetickers (a constant false offset does not change a slope).
 */
export class SourceFrequency {
  private readonly points = new Map<string, Array<{ raw: RawTime; time: NtpTime }>>();
  private cache: number | null | undefined = undefined;
  private readonly windowNs: bigint;

  constructor(window: number) {
    this.windowNs = BigInt(Math.round(window * 1e9));
  }

  add(x: RawExchange): void {
    if (x.tf < x.ta || x.te < x.tb) return;
    const raw = x.ta + (x.tf - x.ta) / 2n;
    const time = x.tb + (x.te - x.tb) / 2n;
    let list = this.points.get(x.sourceId);
    if (list === undefined) {
      if (this.points.size >= MAX_SOURCES) return;
      list = [];
      this.points.set(x.sourceId, list);
    }
    const last = list[list.length - 1];
    if (last !== undefined && raw <= last.raw) return;
    list.push({ raw, time });
    const from = raw - this.windowNs;
    let drop = 0;
    while (drop < list.length - 1 && (list[drop]?.raw ?? raw) < from) drop++;
    if (list.length - drop > MAX_POINTS) drop = list.length - MAX_POINTS;
    if (drop > 0) list.splice(0, drop);
    this.cache = undefined;
  }

  /** Median of the sources' frequencies (windows spanning at least a minute), null without one. */
  slope(): number | null {
    if (this.cache !== undefined) return this.cache;
    const ys: number[] = [];
    for (const list of this.points.values()) {
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
    this.cache = r;
    return r;
  }
}
