/**
 * The NTP short format (RFC 5905 section 6): unsigned 16.16 fixed point seconds, used on the wire
 * for root delay and root dispersion. Poll intervals and precision are signed log2 seconds.
 */

export const SHORT_MAX = 0xffffffff;

/** Short-format value (u32) to seconds. */
export function shortToSeconds(v: number): number {
  return (v >>> 0) / 65536;
}

/** Seconds to short format, rounded up (a bound should never shrink) and saturated to 0..0xffffffff. */
export function secondsToShort(s: number): number {
  if (!(s > 0)) return 0;
  const v = Math.ceil(s * 65536);
  return v > SHORT_MAX ? SHORT_MAX : v;
}

/** A poll interval or precision exponent: the interval is 2^exp seconds. */
export type Log2Seconds = number;

/** The poll interval in seconds. */
export function log2ToSeconds(exp: Log2Seconds): number {
  return 2 ** exp;
}

/** The smallest exponent whose interval is at least `s` seconds (e.g. a measured precision). */
export function secondsToLog2(s: number): Log2Seconds {
  if (!(s > 0)) return -128;
  return Math.ceil(Math.log2(s));
}

/** RFC 5905 poll limits. */
export const MINPOLL = 4;
export const MAXPOLL = 17;
/** The range ntpkit accepts for configured poll exponents (chrony allows -7..24). */
export const POLL_LIMIT_LOW = -7;
export const POLL_LIMIT_HIGH = 24;

export function clampPoll(p: Log2Seconds, lo: Log2Seconds, hi: Log2Seconds): Log2Seconds {
  return Math.min(hi, Math.max(lo, Math.round(p)));
}
