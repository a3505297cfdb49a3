/**
 * The arithmetic of one client/server exchange (RFC 5905 section 8): from the four timestamps
 *   T1 = origin (client transmit), T2 = server receive, T3 = server transmit, T4 = client receive
 * offset θ = ((T2 − T1) + (T3 − T4)) / 2 and delay δ = (T4 − T1) − (T3 − T2), computed by wrapping
 * 64-bit subtraction (correct across the 2036 era boundary) and converted to seconds only afterwards.
 */

import { diffTimestamps, durationToSeconds, type NtpTimestamp } from '../time/ntp-time.js';
import { log2ToSeconds, shortToSeconds } from '../time/short.js';
import type { NtpPacket } from './packet.js';

/** RFC 5905 frequency tolerance PHI (s/s), used to grow dispersion over the exchange. */
export const PHI = 15e-6;

export interface ExchangeResult {
  /** Server clock minus client clock, seconds. */
  offset: number;
  /** Round-trip delay excluding the server's processing time, seconds (may be slightly negative). */
  delay: number;
  /**
   * Dispersion of this sample: server precision + client precision + PHI × (T4 − T1), seconds.
   */
  dispersion: number;
  /** Root distance: (root delay + delay) / 2 + root dispersion + dispersion, seconds. */
  rootDistance: number;
}

/**
 * Offset, delay and distance of a reply. `t1` is the client's transmit time (the request's transmit
 * timestamp), `t4` the client's receive time, `localPrecision` the client clock's log2 precision.
 */
export function computeExchange(
  t1: NtpTimestamp,
  t4: NtpTimestamp,
  response: NtpPacket,
  localPrecision = -20,
): ExchangeResult {
  const t2 = response.receiveTimestamp;
  const t3 = response.transmitTimestamp;
  const offset = durationToSeconds(diffTimestamps(t2, t1) + diffTimestamps(t3, t4)) / 2;
  const delay = durationToSeconds(diffTimestamps(t4, t1) - diffTimestamps(t3, t2));
  const dispersion =
    log2ToSeconds(response.precision) +
    log2ToSeconds(localPrecision) +
    PHI * durationToSeconds(diffTimestamps(t4, t1));
  const rootDistance =
    (shortToSeconds(response.rootDelay) + Math.max(delay, 0)) / 2 +
    shortToSeconds(response.rootDispersion) +
    dispersion;
  return { offset, delay, dispersion, rootDistance };
}
