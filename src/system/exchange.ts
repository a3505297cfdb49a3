/** Exchanges whose four timestamps are not in round-trip order, rewritten as an equivalent round trip for the clocks. */
import type { RawExchange } from '../clock/types.js';
import { durationToSeconds, secondsToDuration } from '../time/ntp-time.js';

/**
 * In symmetric interleaved mode T1…T4 come from different packets: the peer may have sent its packet
 * (T3) before it received ours (T2), or we may have received it (T4) before we sent ours (T1). The
 * offset and delay are still right (RFC 5905 section 8), but a clock that checks T2 ≤ T3 and T1 ≤ T4
 * (the feed-forward clock) would drop every such exchange and never be disciplined. This gives the
 * same offset, delay and midpoints as a round trip that ends at T4 (so updates still match it):
 * T1' = T4 − δ, and T2' = T3' = the peer's midpoint moved by as much as our midpoint moved.
 * `ratePpm`: the clock's rate correction, to turn counter intervals into seconds. Null: δ < 0.
 */
export function asRoundTrip(x: RawExchange, ratePpm: number): RawExchange | null {
  if (x.te >= x.tb && x.tf >= x.ta) return x;
  const rate = 1 + ratePpm * 1e-6;
  const delay = (Number(x.tf - x.ta) / 1e9) * rate - durationToSeconds(x.te - x.tb);
  if (!(delay >= 0)) return null;
  const ta = x.tf - BigInt(Math.round((delay / rate) * 1e9));
  // Midpoint of ours moves by (ta' − ta) / 2; the peer's moves with it.
  const shift = (Number(ta - x.ta) / 2e9) * rate;
  const mid = x.tb + (x.te - x.tb) / 2n + secondsToDuration(shift);
  return { ...x, ta, tb: mid, te: mid };
}
