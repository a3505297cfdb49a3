/**
 * Client mode (mode 3 → 4, RFC 5905 section 8 and the interleaved client of RFC 9769 section 3): the
 * request and the checks and sample of a response. Broadcast clients calibrate with these exchanges.
 */
import type { RawTime } from '../clock/types.js';
import { type NtpTime, resolveTimestamp, toTimestamp } from '../time/ntp-time.js';
import { isKissOfDeath, kissCode } from '../wire/kiss.js';
import { LEAP, MODE, type NtpPacket } from '../wire/packet.js';
import type { Association } from './association.js';
import { finishCalibration } from './broadcast-client.js';
import type { AssocOutput, LocalStamp, SentPacket } from './types.js';

/** Consecutive basic replies to interleaved requests after which we stop asking. */
const XLEAVE_GIVE_UP = 4;
/** Requests without a valid response after which the next request is basic (RFC 9769 client). */
const XLEAVE_MAX_MISSED = 4;

/** A received response, kept for the interleaved client computation. */
interface ReceivedResponse {
  /** The server's receive timestamp field (wire) and as time. */
  recField: bigint;
  t2: NtpTime;
  /** Our receive time. */
  dst: LocalStamp;
  /** Wire value of our receive time as we send it back. */
  dstWire: bigint;
  /** Our request this response answered. */
  request: SentPacket;
}

export class ClientState {
  /** The last valid response (for interleaved requests). */
  lastResponse: ReceivedResponse | null = null;
  basicReplies = 0;
  missedResponses = 0;

  /** The local stamps held (shifted on a clock step). */
  stamps(): LocalStamp[] {
    const r = this.lastResponse;
    return r === null ? [] : [r.dst, r.request.tx];
  }
}

/** Fills client request `p` (transmit timestamp `wire`); true when it is an interleaved request. */
export function clientRequest(a: Association, p: NtpPacket, wire: bigint): boolean {
  const c = a.client;
  // Client request (chrony style: no system variables, zero origin/receive in basic mode).
  p.mode = MODE.CLIENT;
  p.leap = LEAP.NONE;
  const prev = c.lastResponse;
  // Interleaved request (RFC 9769 section 3): origin = the server's receive timestamp of the last
  // exchange that got a valid response, receive = a random cookie that the server echoes as the
  // origin of an interleaved response (so the response identifies this very request). After
  // too many missed responses the server has likely forgotten the exchange: ask in basic mode.
  const xleave = (a.cfg.xleave || a.bc.interleaved) && a.cfg.nts !== true;
  let interleaved = false;
  if (xleave && !a.xleaveGaveUp && prev !== null && c.missedResponses < XLEAVE_MAX_MISSED) {
    p.originTimestamp = prev.recField;
    p.receiveTimestamp = a.cookie(wire);
    interleaved = true;
  }
  c.missedResponses++;
  p.transmitTimestamp = wire;
  return interleaved;
}

/** Client mode: a mode 4 response (basic or interleaved, RFC 9769 section 3). */
export function receiveServer(
  a: Association,
  raw: RawTime,
  pkt: NtpPacket,
  bytes?: Uint8Array,
): AssocOutput[] {
  const c = a.client;
  const out: AssocOutput[] = [];
  const now = a.ctx.clock.read(raw);
  if (pkt.transmitTimestamp === 0n) return a.reject('test3-invalid');
  if (pkt.transmitTimestamp === a.lastRecvXmt) return a.reject('test1-duplicate');
  const latest = a.sent[0];
  if (latest === undefined) return a.reject('test2-bogus');
  let kind: 'basic' | 'interleaved';
  if (pkt.originTimestamp === latest.xmtField && latest.xmtField !== 0n) kind = 'basic';
  else if (latest.interleaved && pkt.originTimestamp === latest.recField && latest.recField !== 0n)
    kind = 'interleaved';
  else return a.reject('test2-bogus');
  if (a.cfg.nts === true) {
    if (!a.nts.verify(a, latest, bytes, out)) return out;
  } else if (!a.authOk(pkt, out)) return out;
  // Accepted: any later copy of this response is a duplicate or bogus.
  a.lastRecvXmt = pkt.transmitTimestamp;
  c.missedResponses = 0;
  latest.xmtField = 0n;
  latest.recField = 0n;
  if (isKissOfDeath(pkt) && ['RATE', 'DENY', 'RSTR'].includes(kissCode(pkt) ?? '')) {
    a.handleKiss(pkt, out);
    return out;
  }
  a.acceptHeader(raw, pkt, out);
  if (kind === 'basic' && pkt.receiveTimestamp === 0n) {
    out.push(...a.reject('test3-invalid'));
    return out;
  }
  const dst: LocalStamp = { raw, time: now, precise: true };
  const t2 = resolveTimestamp(pkt.receiveTimestamp, now);
  const t3 = resolveTimestamp(pkt.transmitTimestamp, now);
  const prev = c.lastResponse;
  c.lastResponse = { recField: pkt.receiveTimestamp, t2, dst, dstWire: toTimestamp(now), request: latest };
  if (kind === 'basic' && latest.interleaved) {
    c.basicReplies++;
    if (c.basicReplies >= XLEAVE_GIVE_UP && !a.xleaveGaveUp) {
      a.xleaveGaveUp = true;
      out.push(...a.reject('interleaved-unsupported'));
    }
  } else if (kind === 'interleaved') {
    c.basicReplies = 0;
  }
  // A basic answer to a basic request (sent after a lost response) says nothing about support.
  if (kind === 'interleaved') a.setInterleaved(true, out);
  else if (latest.interleaved) a.setInterleaved(false, out);
  if (!a.headerOk(pkt, out)) return out;
  let delay: number | null = null;
  if (kind === 'basic') {
    delay = a.sampleFrom(latest.tx, t2, t3, dst, pkt, out);
  } else {
    // The response carries the precise transmit time of the previous response: the sample is the
    // previous exchange (its request's T1, its T2 and our T4), completed with this T3.
    if (prev === null || prev.recField !== latest.orgField) {
      out.push(...a.reject('interleaved-bogus'));
      return out;
    }
    delay = a.sampleFrom(prev.request.tx, prev.t2, t3, prev.dst, pkt, out);
  }
  if (a.calibrating && delay !== null) {
    a.bc.calibDelays.push(delay);
    if (a.bc.calibDelays.length >= a.bc.samplesWanted) finishCalibration(a, raw);
  }
  return out;
}
