/**
 * Symmetric active/passive modes (modes 1/2, RFC 5905 section 8; interleaved symmetric as in RFC 9769
 * section 4): the packet we send with our system variables, and the checks and sample of the peer's.
 */
import type { RawTime } from '../clock/types.js';
import { resolveTimestamp, toTimestamp } from '../time/ntp-time.js';
import { isKissOfDeath, kissCode } from '../wire/kiss.js';
import { LEAP, MODE, type NtpPacket } from '../wire/packet.js';
import type { Association } from './association.js';
import type { AssocOutput, LocalStamp, SentPacket } from './types.js';

/** Packets sent between two of the peer's that stay distinguishable (see symmetricPacket()). */
export const MAX_GROUP = 1024;

export class SymmetricState {
  /** The peer's last transmit / receive fields and our receive time of that packet. */
  peerXmtField = 0n;
  peerRecField = 0n;
  dst: LocalStamp | null = null;
  dstWire = 0n;
  peerInterleaved = false;
  /** Our packets sent since the peer's last packet arrived, and between the two before. */
  sentSinceRx = 0;
  sentPrevGroup = 0;
  /** Precise transmit timestamp (wire) of our previous packet. */
  prevPreciseTxWire = 0n;
}

/** Fills symmetric packet `p` (transmit timestamp `wire`); true when it is interleaved. */
export function symmetricPacket(a: Association, p: NtpPacket, raw: RawTime, wire: bigint): boolean {
  const s = a.sym;
  const st = a.ctx.serverState(raw);
  p.mode = a.cfg.mode === 'peer' ? MODE.SYMMETRIC_ACTIVE : MODE.SYMMETRIC_PASSIVE;
  p.leap = st.stratum >= 16 ? LEAP.UNSYNC : st.leap;
  p.stratum = st.stratum >= 16 ? 0 : st.stratum;
  p.rootDelay = st.rootDelay;
  p.rootDispersion = st.rootDispersion;
  p.referenceId = st.referenceId;
  p.referenceTimestamp = st.referenceTimestamp;
  // A configured peer interleaves when configured with xleave; a passive association follows
  // what the active peer sends (as ntpd's ephemeral associations do).
  const wantXleave = a.cfg.mode === 'passive' ? s.peerInterleaved : a.cfg.xleave && !a.xleaveGaveUp;
  // When we poll faster than the peer, several of our packets carry the same receive time; an
  // interleaved peer echoes the receive field of the one it got last as the origin of its reply,
  // and we need to know which one it was (its T1). The receive field of the k-th packet since
  // the peer's last one is therefore offset by k units of 2^-32 s (k × 0.23 ns, far below any
  // clock's precision), which makes each echo name exactly one of our packets.
  const k = BigInt(Math.min(s.sentSinceRx, MAX_GROUP - 1));
  const rec = s.dst === null ? 0n : (s.dstWire + k) & 0xffff_ffff_ffff_ffffn || 1n;
  if (wantXleave && s.peerRecField !== 0n && s.dst !== null && s.prevPreciseTxWire !== 0n) {
    // Interleaved symmetric (RFC 9769 section 4): origin = the peer's receive timestamp of our
    // previous packet, receive = our receive time of its last packet, transmit = the precise
    // transmit time of our previous packet.
    p.originTimestamp = s.peerRecField;
    p.receiveTimestamp = rec;
    p.transmitTimestamp = s.prevPreciseTxWire;
    return true;
  }
  p.originTimestamp = s.peerXmtField;
  p.receiveTimestamp = rec;
  p.transmitTimestamp = wire;
  return false;
}

/** Our packet sent after the peer's packet received at `base` whose receive field `pkt` echoes. */
function answeredInterleaved(sent: SentPacket[], pkt: NtpPacket, base: bigint): SentPacket | undefined {
  return sent.find((s) => s.recBase === base && s.recField === pkt.originTimestamp);
}

/** Symmetric modes: a mode 1 or 2 packet from the peer (RFC 5905 section 8, RFC 9769 section 4). */
export function receiveSymmetric(a: Association, raw: RawTime, pkt: NtpPacket): AssocOutput[] {
  const s = a.sym;
  const out: AssocOutput[] = [];
  const now = a.ctx.clock.read(raw);
  if (pkt.transmitTimestamp === 0n) return a.reject('test3-invalid');
  if (pkt.transmitTimestamp === a.lastRecvXmt) return a.reject('test1-duplicate');
  if (!a.authOk(pkt, out)) return out;
  const oldDst = s.dst;
  const oldDstWire = s.dstWire;
  // Update the state even for packets that fail the origin test (RFC 5905 section 8: this is how
  // symmetric peers recover from loss, crossing and restarts).
  a.lastRecvXmt = pkt.transmitTimestamp;
  s.peerXmtField = pkt.transmitTimestamp;
  s.peerRecField = pkt.receiveTimestamp;
  const dst: LocalStamp = { raw, time: now, precise: true };
  s.dst = dst;
  s.dstWire = toTimestamp(now);
  s.sentPrevGroup = s.sentSinceRx;
  s.sentSinceRx = 0;
  if (pkt.originTimestamp === 0n) {
    out.push(...a.reject('test3-invalid'));
    return out;
  }
  let kind: 'basic' | 'interleaved' | null = null;
  let t1: LocalStamp | null = null;
  const latest = a.sent[0];
  const answered =
    oldDst !== null && oldDstWire !== 0n ? answeredInterleaved(a.sent, pkt, oldDstWire) : undefined;
  if (latest !== undefined && pkt.originTimestamp === latest.xmtField) {
    kind = 'basic';
    t1 = latest.tx;
  } else if (answered !== undefined) {
    // The peer answers one of the packets we sent after its previous packet arrived (ntpd: origin =
    // our previous receive time). T1: exactly the packet whose receive field it echoes.
    kind = 'interleaved';
    t1 = answered.tx;
  } else if (
    a.sent.some((x, i) => (i > 0 && x.xmtField === pkt.originTimestamp) || x.recField === pkt.originTimestamp)
  ) {
    // Basic: the peer answers an older packet of ours (ours crossed its in flight). Interleaved: it
    // answers a packet of ours sent before its previous packet arrived, e.g. one it has already
    // answered (a faster peer sends several packets between two of ours).
    out.push(...a.reject('crossed'));
    return out;
  }
  if (kind === null || t1 === null) {
    out.push(...a.reject(kind === 'interleaved' ? 'interleaved-bogus' : 'test2-bogus'));
    return out;
  }
  if (isKissOfDeath(pkt) && ['RATE', 'DENY', 'RSTR'].includes(kissCode(pkt) ?? '')) {
    a.handleKiss(pkt, out);
    return out;
  }
  a.acceptHeader(raw, pkt, out);
  a.polling.peerPacket(raw, a.stratum, a.ctx.serverState(raw).stratum);
  s.peerInterleaved = kind === 'interleaved';
  if (kind === 'basic' && latest?.interleaved === true && !a.xleaveGaveUp) {
    // The peer echoed our interleaved packet's transmit field as a basic origin: it does not
    // support interleaving. Fall back to basic mode.
    a.xleaveGaveUp = true;
    out.push(...a.reject('interleaved-unsupported'));
  }
  a.setInterleaved(kind === 'interleaved', out);
  if (pkt.receiveTimestamp === 0n) {
    out.push(...a.reject('test3-invalid'));
    return out;
  }
  if (!a.headerOk(pkt, out)) return out;
  const t2 = resolveTimestamp(pkt.receiveTimestamp, now);
  const t3 = resolveTimestamp(pkt.transmitTimestamp, now);
  if (kind === 'basic') a.sampleFrom(t1, t2, t3, dst, pkt, out);
  else if (oldDst !== null) a.sampleFrom(t1, t2, t3, oldDst, pkt, out);
  return out;
}
