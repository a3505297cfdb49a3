/**
 * The reference clock median filter, after chrony's sample filter (samplefilt.c). Samples collected
 * during one poll interval are kept in a ring of `length` entries. At the poll the samples are sorted
 * by offset, the `keep` fraction closest to the median survive (outliers are trimmed) and their mean
 * offset, mean time and spread make one filtered sample. Times are raw counter values, so the result
 * is the offset of the local clock at the mean sample time: both averages together keep the estimate
 * unbiased when the clock drifts during the interval.
 */
import type { RawTime } from '../clock/types.js';

export interface RefSample {
  raw: RawTime;
  /** Reference minus local clock (s), positive when our clock is behind. */
  offset: number;
  /** Dispersion of this sample (s). */
  dispersion: number;
  leap: number;
}

export interface FilteredSample {
  /** Mean counter value of the kept samples. */
  raw: RawTime;
  offset: number;
  /** Mean dispersion of the kept samples plus half their offset spread. */
  dispersion: number;
  /** Standard deviation of the kept offsets (s), at least the precision. */
  jitter: number;
  /** Samples collected / kept. */
  count: number;
  kept: number;
  /** Leap of the newest sample. */
  leap: number;
}

export class MedianFilter {
  private samples: RefSample[] = [];

  constructor(
    readonly length: number,
    readonly keep = 0.6,
    readonly precision = 1e-6,
  ) {}

  get size(): number {
    return this.samples.length;
  }

  /** The collected samples, oldest first. */
  contents(): readonly RefSample[] {
    return this.samples;
  }

  /** The newest sample, if any. */
  last(): RefSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  add(s: RefSample): void {
    if (!Number.isFinite(s.offset) || !Number.isFinite(s.dispersion)) return;
    // Keep time order: a sample not newer than the last is a duplicate reading.
    const last = this.last();
    if (last !== undefined && s.raw <= last.raw) return;
    this.samples.push(s);
    if (this.samples.length > this.length) this.samples.splice(0, this.samples.length - this.length);
  }

  clear(): void {
    this.samples = [];
  }

  /** The filtered sample of what was collected (the filter keeps its contents), or null if empty. */
  compute(): FilteredSample | null {
    const n = this.samples.length;
    if (n === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a.offset - b.offset);
    const mid = (n - 1) / 2;
    const median = ((sorted[Math.floor(mid)]?.offset ?? 0) + (sorted[Math.ceil(mid)]?.offset ?? 0)) / 2;
    const k = Math.max(1, Math.min(n, Math.round(n * this.keep)));
    // The k samples closest to the median, taken as a contiguous window of the sorted list.
    let lo = 0;
    let hi = n - 1;
    while (hi - lo + 1 > k) {
      const dl = median - (sorted[lo]?.offset ?? 0);
      const dh = (sorted[hi]?.offset ?? 0) - median;
      if (dh >= dl) hi--;
      else lo++;
    }
    const kept = sorted.slice(lo, hi + 1);
    const base = kept[0]?.raw ?? 0n;
    let sumOffset = 0;
    let sumDisp = 0;
    let sumRaw = 0n;
    for (const s of kept) {
      sumOffset += s.offset;
      sumDisp += s.dispersion;
      sumRaw += s.raw - base;
    }
    const m = kept.length;
    const offset = sumOffset / m;
    let v = 0;
    for (const s of kept) v += (s.offset - offset) ** 2;
    const sd = m > 1 ? Math.sqrt(v / (m - 1)) : 0;
    const spread = (kept[m - 1]?.offset ?? 0) - (kept[0]?.offset ?? 0);
    return {
      raw: base + sumRaw / BigInt(m),
      offset,
      dispersion: Math.max(this.precision, sumDisp / m + spread / 2),
      jitter: Math.max(this.precision, sd),
      count: n,
      kept: m,
      leap: this.samples[n - 1]?.leap ?? 0,
    };
  }
}
