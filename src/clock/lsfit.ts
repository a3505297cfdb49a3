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
/** Points kept whatever their age (at long polls the window holds only one or two). */
const MIN_POINTS = 8;
/** Largest standard deviation (s/s) of a source's frequency that is used. */
const MAX_SLOPE_SD = 100e-6;
/** Shortest span of exchanges (s) that gives a frequency: a start-up burst. */
const MIN_SPAN = 4;
/**
 * A source whose time moved by more than this (s) beyond what its frequency explains stepped (RFC
 * 5905's step threshold): its older points are on another timescale and are dropped. The frequency
 * explains the source's known slope within 50 ppm, an unknown one within 500 ppm.
 */
const JUMP = 0.128;
const KNOWN_SLOPE_ERROR = 50e-6;
const UNKNOWN_SLOPE = 500e-6;

interface Point {
  raw: RawTime;
  time: NtpTime;
  /** Round-trip delay (s). */
  rtt: number;
}

/**
 * Per source, the (counter, server time) midpoints of its exchanges over the last `window` seconds
 * (at least the last eight);
 * the median of the sources' weighted least-squares slopes is a frequency immune to a minority of
 * falsetickers (a constant false offset does not change a slope). An exchange queued by E above the
 * source's minimum delay has an offset error within ±E/2: it is weighted by 12/(E + e0)².
 */
export class SourceFrequency {
  private readonly points = new Map<string, Point[]>();
  private cache: number | null | undefined = undefined;
  private readonly windowNs: bigint;

  constructor(window: number) {
    this.windowNs = BigInt(Math.round(window * 1e9));
  }

  add(x: RawExchange): void {
    if (x.tf < x.ta || x.te < x.tb) return;
    const raw = x.ta + (x.tf - x.ta) / 2n;
    const time = x.tb + (x.te - x.tb) / 2n;
    const rtt = Number(x.tf - x.ta) / 1e9 - durationToSeconds(x.te - x.tb);
    let list = this.points.get(x.sourceId);
    if (list === undefined) {
      if (this.points.size >= MAX_SOURCES) return;
      list = [];
      this.points.set(x.sourceId, list);
    }
    const last = list[list.length - 1];
    if (last !== undefined && raw <= last.raw) return;
    if (last !== undefined && stepped(list, last, raw, time, rtt)) list.length = 0;
    list.push({ raw, time, rtt });
    const from = raw - this.windowNs;
    let drop = 0;
    while (list.length - drop > MIN_POINTS && (list[drop]?.raw ?? raw) < from) drop++;
    if (list.length - drop > MAX_POINTS) drop = list.length - MAX_POINTS;
    if (drop > 0) list.splice(0, drop);
    this.cache = undefined;
  }

  /** Median of the sources' frequencies (three exchanges over 4 s, or two over 8 s), null without one. */
  slope(): number | null {
    if (this.cache !== undefined) return this.cache;
    const ys: number[] = [];
    for (const list of this.points.values()) {
      const y = weightedSlope(list);
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

/** A point of a weighted fit of true time against the counter. */
export interface WeightedPoint {
  raw: RawTime;
  time: NtpTime;
  w: number;
}

/**
 * Weighted least-squares slope of true time against the counter (the rate correction, s/s), and the
 * sum Σ w·dx² that sets its precision; null without a spread.
 */
export function weightedLine(pts: readonly WeightedPoint[]): { slope: number; sxx: number } | null {
  const first = pts[0];
  if (first === undefined) return null;
  const xy = (p: WeightedPoint) => {
    const x = Number(p.raw - first.raw) / 1e9;
    return { x, y: durationToSeconds(p.time - first.time) - x };
  };
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (const p of pts) {
    const { x, y } = xy(p);
    sw += p.w;
    sx += p.w * x;
    sy += p.w * y;
  }
  if (!(sw > 0)) return null;
  let sxx = 0;
  let sxy = 0;
  for (const p of pts) {
    const { x, y } = xy(p);
    sxx += p.w * (x - sx / sw) ** 2;
    sxy += p.w * (x - sx / sw) * (y - sy / sw);
  }
  return sxx > 0 ? { slope: sxy / sxx, sxx } : null;
}

/**
 * Seconds by which true time `time` at `raw` is off the line from (`fromRaw`, `fromTime`) at rate
 * correction `rate` (s/s), and the seconds between the two: how both step checks (a source's points
 * here, the RFC 5905 FREQ fit) tell a step from a rate.
 */
export function offLine(
  fromRaw: RawTime,
  fromTime: NtpTime,
  raw: RawTime,
  time: NtpTime,
  rate: number,
): { off: number; dx: number } {
  const dx = Number(raw - fromRaw) / 1e9;
  return { off: durationToSeconds(time - fromTime) - dx * (1 + rate), dx };
}

/** The source's time at `raw` is off the line of its points by more than a step (`JUMP`). */
function stepped(list: Point[], last: Point, raw: RawTime, time: NtpTime, rtt: number): boolean {
  const s = weightedSlope(list);
  const { off, dx } = offLine(last.raw, last.time, raw, time, s ?? 0);
  const slack = JUMP + (s === null ? UNKNOWN_SLOPE : KNOWN_SLOPE_ERROR) * dx + (rtt + last.rtt) / 2;
  return Math.abs(off) > slack;
}

function weightedSlope(list: Point[]): number | null {
  const first = list[0];
  const lastP = list[list.length - 1];
  if (first === undefined || lastP === undefined || list.length < 2) return null;
  const span = Number(lastP.raw - first.raw) / 1e9;
  if (span < MIN_SPAN || (list.length < 3 && span < 2 * MIN_SPAN)) return null;
  let min = Number.POSITIVE_INFINITY;
  for (const p of list) min = Math.min(min, p.rtt);
  const es = list.map((p) => p.rtt - min).sort((a, b) => a - b);
  const med = es[es.length >> 1] ?? 0;
  const e0 = Math.max(0.1, 0.7 / Math.sqrt(list.length)) * med + 1e-6;
  const fit = weightedLine(list.map((p) => ({ raw: p.raw, time: p.time, w: 1 / (p.rtt - min + e0) ** 2 })));
  // Each offset's variance is (E + e0)²/12 = 1/(12 w): the slope's is 1/(12 Σ w dx²). A slope known
  // no better than MAX_SLOPE_SD (a WAN burst of a few seconds) is no frequency yet.
  if (fit === null || 1 / (12 * fit.sxx) > MAX_SLOPE_SD ** 2) return null;
  return fit.slope;
}
