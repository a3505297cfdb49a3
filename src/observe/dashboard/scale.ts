/**
 * The dashboard's axis arithmetic: a symmetric-log scale for offsets, delays and jitter (so that
 * µs-level lines stay readable next to a 2.5 s step), its ticks, and tick labels in ns/µs/ms/s.
 *
 * These functions run in the browser: page-js.ts inserts their source text (`SCALE_JS`) into the
 * page's script, so the functions unit-tested here are the ones the page runs. Each must therefore
 * be self-contained: plain function declarations that call only each other and the JS built-ins.
 */

/**
 * Symmetric log: sign(v)·log10(1 + |v|/c). Linear within ±c (the threshold), logarithmic beyond,
 * one unit per decade; odd, monotonic and 0 at 0.
 */
export function symlogFwd(v: number, c: number): number {
  return Math.sign(v) * Math.log10(1 + Math.abs(v) / c);
}

/** The inverse of symlogFwd. */
export function symlogBwd(y: number, c: number): number {
  return Math.sign(y) * c * (10 ** Math.abs(y) - 1);
}

/** 10^e exactly as written ("1e-4"), not 10 ** -4 (0.00009999999999999999). */
export function pow10(e: number): number {
  return Number(`1e${Math.round(e)}`);
}

/** The power of ten at or above |v| (at least c): a symlog axis ends on a decade. */
export function decadeAbove(v: number, c: number): number {
  const a = Math.abs(v);
  if (!(a > c)) return c;
  const e = Math.ceil(Math.log10(a) - 1e-9);
  return pow10(pow10(e) < a ? e + 1 : e);
}

/**
 * The symlog axis range for data in [min, max] (null: no data): out to whole decades on each side
 * that has data, 0 as the other end when all data have one sign, ±c when there is nothing.
 */
export function symlogRange(min: number | null, max: number | null, c: number): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [-c, c];
  const lo = min < 0 ? -decadeAbove(min, c) : 0;
  const hi = max > 0 ? decadeAbove(max, c) : 0;
  if (lo === 0 && hi === 0) return [-c, c];
  return [lo, hi];
}

/**
 * Ticks of a symlog axis over [min, max]: 0 and ±c·10^k inside the range, every n-th decade when
 * more than `maxTicks` would be drawn (the decades kept are those with k divisible by n, so the
 * labels stay round numbers as the range moves). `c` is a power of ten; ±c itself is left out when
 * 0 is a tick (a third of a decade from it, the labels would collide).
 */
export function symlogSplits(min: number, max: number, c: number, maxTicks: number): number[] {
  const e0 = Math.round(Math.log10(c));
  const zero = min <= 0 && max >= 0;
  const lo = min - Math.abs(min) * 1e-9;
  const hi = max + Math.abs(max) * 1e-9;
  let out: number[] = [];
  for (let n = 1; n <= 30; n++) {
    out = [];
    for (let k = 29; k >= 0; k--) {
      const v = -pow10(e0 + k);
      if (k % n === 0 && !(zero && k === 0) && v >= lo && v <= hi) out.push(v);
    }
    if (zero) out.push(0);
    for (let k = 0; k < 30; k++) {
      const v = pow10(e0 + k);
      if (k % n === 0 && !(zero && k === 0) && v >= lo && v <= hi) out.push(v);
    }
    if (out.length <= Math.max(3, maxTicks)) break;
  }
  return out;
}

/**
 * The symlog threshold for a set of values (seconds): the power of ten at or below the 10th
 * percentile of the non-zero magnitudes, within [1 ns, 1 µs]: nanosecond data keep their detail,
 * anything coarser gets the 1 µs threshold.
 */
export function symlogThreshold(values: readonly (number | null)[]): number {
  const mags: number[] = [];
  for (const v of values) if (v !== null && Number.isFinite(v) && v !== 0) mags.push(Math.abs(v));
  if (mags.length === 0) return 1e-6;
  mags.sort((a, b) => a - b);
  const p10 = mags[Math.floor((mags.length - 1) / 10)] ?? 1e-6;
  const e = Math.floor(Math.log10(p10) + 1e-9);
  return pow10(Math.min(-6, Math.max(-9, e)));
}

/** The unit to show a magnitude (seconds) in: [seconds per unit, unit name]. */
export function timeUnit(mag: number): [number, string] {
  if (mag >= 1) return [1, 's'];
  if (mag >= 1e-3) return [1e-3, 'ms'];
  if (mag >= 1e-6) return [1e-6, 'µs'];
  return [1e-9, 'ns'];
}

/**
 * Labels of evenly spaced ticks (seconds) `step` apart: one unit for the axis (that of its largest
 * tick), as many decimals as the step needs (at most 6), "0" for zero.
 */
export function linearTickLabels(ticks: readonly number[], step: number): string[] {
  let mag = 0;
  for (const t of ticks) mag = Math.max(mag, Math.abs(t));
  const [u, name] = timeUnit(mag);
  let d = 0;
  if (step > 0 && Number.isFinite(step))
    d = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step / u) - 1e-9)));
  return ticks.map((t) => (Math.abs(t) < step * 1e-6 || t === 0 ? '0' : `${(t / u).toFixed(d)} ${name}`));
}

/** Labels of symlog ticks: each in its own unit ("100 µs", "1 ms", "-10 s"), "0" for zero. */
export function symlogTickLabels(ticks: readonly number[]): string[] {
  return ticks.map((t) => {
    if (t === 0) return '0';
    const [u, name] = timeUnit(Math.abs(t) * (1 + 1e-9));
    const x = t / u;
    return `${Math.abs(x - Math.round(x)) < 1e-6 ? Math.round(x).toFixed(0) : x.toPrecision(3)} ${name}`;
  });
}

/** A time value (seconds) for a legend or a tooltip: 4 significant digits in its unit. */
export function formatSeconds(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  const [u, name] = timeUnit(Math.abs(v));
  return `${(v / u).toPrecision(4)} ${name}`;
}

/**
 * The x window of the charts: the `range` seconds up to the newest point (however little data there
 * is), all of [first, last] when `range` is null; a zoom (drag selection) wins over both.
 */
export function timeWindow(
  first: number | null,
  last: number | null,
  range: number | null,
  zoom: readonly [number, number] | null,
): [number, number] | null {
  if (zoom !== null) return [zoom[0], zoom[1]];
  if (first === null || last === null) return null;
  if (range === null) return last > first ? [first, last] : [first - 1, last + 1];
  return [last - range, last];
}

/** The source text of the functions above, for the page's script. */
export const SCALE_JS = [
  pow10,
  symlogFwd,
  symlogBwd,
  decadeAbove,
  symlogRange,
  symlogSplits,
  symlogThreshold,
  timeUnit,
  linearTickLabels,
  symlogTickLabels,
  formatSeconds,
  timeWindow,
]
  .map((f) => f.toString())
  .join('\n');
