/**
 * NTP time values (RFC 5905 section 6).
 *
 * Three representations, all fixed point with 32 fractional bits (units of 2^-32 s ≈ 233 ps):
 *
 * - `NtpTimestamp`: the 64-bit on-wire value, 0 ≤ t < 2^64. The era is implicit.
 * - `NtpTime`: an era-extended absolute time, seconds since 1900-01-01T00:00:00Z of era 0, times 2^32.
 *   It may exceed 2^64 (after 2036-02-07T06:28:16Z) and may be negative (before 1900).
 *   `NtpTime = era * 2^64 + NtpTimestamp`.
 * - `NtpDuration`: a signed difference, normally obtained by wrapping 64-bit subtraction of two
 *   timestamps, which stays correct across an era rollover as long as |difference| < 68 years.
 *
 * Absolute values stay `bigint`; a duration becomes `number` seconds only through `durationToSeconds`.
 */

export type NtpTimestamp = bigint;
export type NtpTime = bigint;
export type NtpDuration = bigint;

export const FRAC_BITS = 32n;
export const ONE_SECOND: NtpDuration = 1n << 32n;
export const TWO_POW_32 = 4294967296;
export const MASK32 = (1n << 32n) - 1n;
export const MASK64 = (1n << 64n) - 1n;
export const ERA_SPAN = 1n << 64n;
const HALF64 = 1n << 63n;
const NS_PER_S = 1_000_000_000n;

/** Seconds from the NTP prime epoch (1900) to the Unix epoch (1970). */
export const UNIX_EPOCH_NTP_SECONDS = 2_208_988_800n;

/** The wire timestamp of an era-extended time. */
export function toTimestamp(t: NtpTime): NtpTimestamp {
  return BigInt.asUintN(64, t);
}

/** The era number of an era-extended time (floor division; era 0 starts in 1900, era 1 in 2036). */
export function eraOf(t: NtpTime): bigint {
  return t >> 64n;
}

/** An era-extended time from an era number and a wire timestamp. */
export function fromEra(era: bigint, ts: NtpTimestamp): NtpTime {
  return (era << 64n) + BigInt.asUintN(64, ts);
}

/**
 * Resolves a wire timestamp to the era-extended time nearest to `pivot`, i.e. within ±2^63 units
 * (±68 years) of it. This is how a receiver places a timestamp whose era is not transmitted.
 */
export function resolveTimestamp(ts: NtpTimestamp, pivot: NtpTime): NtpTime {
  return pivot + diffTimestamps(ts, toTimestamp(pivot));
}

/** Signed difference a - b of two wire timestamps, by wrapping 64-bit subtraction. */
export function diffTimestamps(a: NtpTimestamp, b: NtpTimestamp): NtpDuration {
  return BigInt.asIntN(64, a - b);
}

/** Adds a signed duration to a wire timestamp, wrapping at the era boundary. */
export function addToTimestamp(ts: NtpTimestamp, d: NtpDuration): NtpTimestamp {
  return BigInt.asUintN(64, ts + d);
}

/** True when the duration is inside the ±68-year window where wrapping subtraction is unambiguous. */
export function isUnambiguous(d: NtpDuration): boolean {
  return d > -HALF64 && d < HALF64;
}

/** Converts a duration to floating-point seconds. Use only after subtraction. */
export function durationToSeconds(d: NtpDuration): number {
  const whole = d >> 32n;
  const frac = d & MASK32;
  return Number(whole) + Number(frac) / TWO_POW_32;
}

/** Converts floating-point seconds to a duration (rounded to the nearest unit). */
export function secondsToDuration(s: number): NtpDuration {
  if (!Number.isFinite(s)) throw new RangeError(`not a finite number of seconds: ${s}`);
  const whole = Math.floor(s);
  const frac = Math.round((s - whole) * TWO_POW_32);
  return (BigInt(whole) << 32n) + BigInt(frac);
}

/** Duration to integer nanoseconds (rounded to nearest, ties away from zero). */
export function durationToNs(d: NtpDuration): bigint {
  const scaled = d * NS_PER_S;
  const half = 1n << 31n;
  return scaled >= 0n ? (scaled + half) >> 32n : -((-scaled + half) >> 32n);
}

/** Integer nanoseconds to a duration (rounded to nearest). */
export function nsToDuration(ns: bigint): NtpDuration {
  const scaled = ns << 32n;
  const half = NS_PER_S / 2n;
  return scaled >= 0n ? (scaled + half) / NS_PER_S : -((-scaled + half) / NS_PER_S);
}

/** Unix time in nanoseconds to era-extended NTP time. */
export function unixNsToNtpTime(unixNs: bigint): NtpTime {
  return (UNIX_EPOCH_NTP_SECONDS << 32n) + nsToDuration(unixNs);
}

/** Era-extended NTP time to Unix time in nanoseconds. */
export function ntpTimeToUnixNs(t: NtpTime): bigint {
  return durationToNs(t - (UNIX_EPOCH_NTP_SECONDS << 32n));
}

/**
 * A wire timestamp to Unix nanoseconds, resolving the era against a local reference time (Unix ns)
 * that is within 68 years of the true instant.
 */
export function timestampToUnixNs(ts: NtpTimestamp, referenceUnixNs: bigint): bigint {
  return ntpTimeToUnixNs(resolveTimestamp(ts, unixNsToNtpTime(referenceUnixNs)));
}

/** Unix nanoseconds to the wire timestamp (era dropped). */
export function unixNsToTimestamp(unixNs: bigint): NtpTimestamp {
  return toTimestamp(unixNsToNtpTime(unixNs));
}

/** Seconds part (upper 32 bits) and fraction (lower 32 bits) of a wire timestamp. */
export function splitTimestamp(ts: NtpTimestamp): { seconds: number; fraction: number } {
  return { seconds: Number((ts >> 32n) & MASK32), fraction: Number(ts & MASK32) };
}

export function joinTimestamp(seconds: number, fraction: number): NtpTimestamp {
  return (BigInt(seconds >>> 0) << 32n) | BigInt(fraction >>> 0);
}

/** Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm). */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** Days since 1970-01-01 from a civil date (inverse of `civilFromDays`). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Unix nanoseconds as an ISO 8601 UTC string with `digits` fractional digits (0–9). */
export function formatUnixNs(unixNs: bigint, digits = 9): string {
  const sec = unixNs >= 0n ? unixNs / NS_PER_S : -((-unixNs + NS_PER_S - 1n) / NS_PER_S);
  const ns = unixNs - sec * NS_PER_S;
  const days = Number(sec >= 0n ? sec / 86400n : -((-sec + 86399n) / 86400n));
  const sod = Number(sec - BigInt(days) * 86400n);
  const { year, month, day } = civilFromDays(days);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const hh = p2(Math.floor(sod / 3600));
  const mm = p2(Math.floor((sod % 3600) / 60));
  const ss = p2(sod % 60);
  const frac = digits > 0 ? `.${ns.toString().padStart(9, '0').slice(0, digits)}` : '';
  const yyyy = year < 0 ? `-${String(-year).padStart(4, '0')}` : String(year).padStart(4, '0');
  return `${yyyy}-${p2(month)}-${p2(day)}T${hh}:${mm}:${ss}${frac}Z`;
}

/** Era-extended NTP time as an ISO 8601 UTC string. */
export function formatNtpTime(t: NtpTime, digits = 9): string {
  return formatUnixNs(ntpTimeToUnixNs(t), digits);
}
