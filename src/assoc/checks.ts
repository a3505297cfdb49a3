/**
 * The sanity checks of a received packet, named after ntpd's and chrony's tests.
 *
 * On-wire checks (RFC 5905 section 8, in client.ts, symmetric.ts and broadcast-client.ts):
 *   test1-duplicate   the transmit timestamp equals the last one received (replay / duplicate)
 *   test2-bogus       the origin timestamp matches nothing we sent (basic: our last transmit
 *                     timestamp; interleaved: our last receive timestamp)
 *   test3-invalid     a zero timestamp where a real one is needed (peer not yet synchronised to our
 *                     packets)
 *   crossed           symmetric mode: the peer answers an older packet of ours (packets crossed in
 *                     flight; interleaved: also a packet it already answered, when it polls faster)
 *   auth              MAC missing or wrong (or a crypto-NAK) where a key is configured
 *   kod               a kiss-o'-death was received
 * Header checks (RFC 5905 section 9.2 / ntpd TEST6, TEST7, TEST12, here):
 *   test6-unsynchronised   leap 3 or stratum 16 (or a non-kiss stratum 0)
 *   test7-distance         advertised root distance ≥ MAXDISP
 *   test12-loop            the peer is synchronised to us (its refid is our address)
 * Other: maxdelay (delay above the configured bound), negative-delay (timestamps that do not form
 * one round trip), broadcast-old (older broadcast), popcorn-spike (clock filter), mode (unexpected
 * mode), interleaved-bogus / interleaved-unsupported (interleaved checks and fallback).
 */
import { MAXDISP } from '../algo/constants.js';
import { shortToSeconds } from '../time/short.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { LEAP, type NtpPacket } from '../wire/packet.js';
import { addressRefid } from './util.js';

/**
 * Header tests (RFC 5905 section 9.2 / 13): null when the packet may give a sample, else the name of
 * the failed test. `localAddress`: where the packet arrived (for the loop test).
 */
export function headerCheck(
  pkt: NtpPacket,
  localAddress: string | null,
  crypto: CryptoProvider,
): string | null {
  if (pkt.leap === LEAP.UNSYNC || pkt.stratum === 0 || pkt.stratum >= 16) return 'test6-unsynchronised';
  if (shortToSeconds(pkt.rootDelay) / 2 + shortToSeconds(pkt.rootDispersion) >= MAXDISP)
    return 'test7-distance';
  if (pkt.stratum > 1 && localAddress !== null && pkt.referenceId === addressRefid(localAddress, crypto))
    return 'test12-loop';
  return null;
}

/**
 * A negative delay beyond what timestamp noise allows: the four timestamps do not belong to one
 * round trip (e.g. an interleaved packet whose predecessor was lost). Such a pairing is off by at
 * least one send interval (`interval`, s) of the side whose packet is missing.
 */
export function impossibleDelay(rawDelay: number, interval: number): boolean {
  return rawDelay < -Math.min(1, interval / 4);
}
