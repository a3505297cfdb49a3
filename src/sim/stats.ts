/** Running statistics: mean, RMS, maximum absolute value, standard deviation. */
export class ErrorStats {
  n = 0;
  sum = 0;
  sumSq = 0;
  maxAbs = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  add(x: number): void {
    this.n++;
    this.sum += x;
    this.sumSq += x * x;
    const a = Math.abs(x);
    if (a > this.maxAbs) this.maxAbs = a;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  mean(): number {
    return this.n > 0 ? this.sum / this.n : Number.NaN;
  }

  rms(): number {
    return this.n > 0 ? Math.sqrt(this.sumSq / this.n) : Number.NaN;
  }

  sd(): number {
    if (this.n < 2) return Number.NaN;
    const m = this.sum / this.n;
    return Math.sqrt(Math.max(0, (this.sumSq - this.n * m * m) / (this.n - 1)));
  }
}

/** Sample quantile (linear interpolation) of a sorted array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}
