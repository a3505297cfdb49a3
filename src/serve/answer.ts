/**
 * Builds the answer to an admitted request: a mode 4 response to a client (basic or interleaved,
 * signed with the request's key, crypto-NAK on a failed MAC, NTS-sealed or NTS NAK), or the
 * stateless mode 2 answer to a symmetric-active packet without association.
 */
import { buildServerResponse, type ServerResponder, type ServerState } from '../assoc/server.js';
import type { KeyRing } from '../assoc/util.js';
import type { RawTime } from '../clock/types.js';
import type { CookieJar } from '../nts/cookie.js';
import { buildNtsNak, buildNtsResponseAfter, hasNtsFields, verifyNtsRequest } from '../nts/ntp.js';
import type { Action, Endpoint } from '../system/types.js';
import { type NtpTime, toTimestamp } from '../time/ntp-time.js';
import { HEADER_LENGTH, MODE, type NtpPacket } from '../wire/packet.js';
import { authReason, ntsReason, type RejectReason } from './reasons.js';

export type SendAction = Extract<Action, { kind: 'send' }>;

/** NTS server counters (requests with NTS fields, sealed responses, NAKs, silently refused). */
export interface NtsServerStats {
  requests: number;
  responses: number;
  naks: number;
  rejected: number;
}

/** What answering needs from the engine: the clock, the system variables, keys and cookies. */
export interface AnswerContext {
  /** The served clock (the software clock of the discipline). */
  readonly clock: { read(raw: RawTime): NtpTime };
  /** System variables as announced to clients now (LI 3 / stratum 16 until synchronised). */
  serverState(raw: RawTime): ServerState;
  readonly keys: KeyRing;
  readonly responder: ServerResponder;
  /** The NTS cookie jar shared with the NTS-KE server; null: no NTS service. */
  ntsJar(): CookieJar | null;
  readonly ntsStats: NtsServerStats;
  randomBytes(n: number): Uint8Array;
  /** Registers a callback for the precise transmit time of a send action; returns its txId. */
  allocTxId(onSent: (raw: RawTime) => void): number;
}

export type Answer =
  | {
      kind: 'reply';
      send: SendAction;
      /** The request was authenticated (MAC verified or NTS): the reply may be longer than it. */
      authenticated: boolean;
      interleaved: boolean;
      /** Set when the reply is a refusal: a crypto-NAK (auth-*) or an NTS NAK (nts-*). */
      nak?: RejectReason;
    }
  | { kind: 'none'; reason: RejectReason };

/**
 * Answers a decoded request `pkt` (`bytes` on the wire) received at `raw`; `txRaw` (≥ raw) is the
 * counter as the host handed it over, the basic-mode transmit timestamp. An NTS request is
 * answered only authenticated, with an NTS NAK when its cookie is unusable, or not at all: it
 * never gets a plain answer (RFC 8915 section 5.7).
 */
export function answerRequest(
  ctx: AnswerContext,
  raw: RawTime,
  txRaw: RawTime,
  pkt: NtpPacket,
  bytes: Uint8Array,
  from: Endpoint,
  to: Endpoint | undefined,
): Answer {
  if (pkt.mode !== MODE.CLIENT || !hasNtsFields(pkt))
    return plainAnswer(ctx, raw, txRaw, pkt, bytes.length, from, to);
  const st = ctx.ntsStats;
  st.requests++;
  const jar = ctx.ntsJar();
  if (jar === null) {
    st.rejected++;
    return { kind: 'none', reason: 'nts-not-server' };
  }
  const v = verifyNtsRequest(bytes, jar, pkt);
  if (!v.ok) {
    const reason = ntsReason(v.code);
    if (v.nakUniqueId === undefined) {
      st.rejected++;
      return { kind: 'none', reason };
    }
    const now = toTimestamp(ctx.clock.read(raw));
    const header = buildServerResponse(pkt, ctx.serverState(raw), now, BigInt.asUintN(64, now + 1n));
    const send: SendAction = { kind: 'send', to: from, bytes: buildNtsNak(header, v.nakUniqueId) };
    if (to !== undefined) send.from = to;
    st.naks++;
    return { kind: 'reply', send, authenticated: false, interleaved: false, nak: reason };
  }
  const a = plainAnswer(ctx, raw, txRaw, pkt, bytes.length, from, to);
  if (a.kind !== 'reply') return a;
  if (a.send.bytes.length < HEADER_LENGTH) return { kind: 'none', reason: 'no-response' };
  a.send.bytes = buildNtsResponseAfter(a.send.bytes, v.context, jar, (n) => ctx.randomBytes(n));
  // The authenticator covers the header: the host must not rewrite the transmit timestamp.
  delete a.send.transmitAt;
  a.authenticated = true;
  st.responses++;
  return a;
}

function plainAnswer(
  ctx: AnswerContext,
  raw: RawTime,
  txRaw: RawTime,
  pkt: NtpPacket,
  length: number,
  from: Endpoint,
  to: Endpoint | undefined,
): Answer {
  const now = toTimestamp(ctx.clock.read(raw));
  // The software transmit timestamp (basic mode): the host's reading as it started processing,
  // at least one unit after the receive timestamp, so that the two always differ (RFC 9769
  // clients rely on it). Interleaved clients get the precise one from handleTransmitted.
  const xmt = txRaw > raw ? toTimestamp(ctx.clock.read(txRaw)) : now;
  const responder = ctx.responder;
  const res = responder.respond(
    pkt,
    length,
    from.address,
    now,
    BigInt.asUintN(64, xmt > now ? xmt : now + 1n),
    ctx.serverState(raw),
    ctx.keys,
  );
  const send: SendAction = { kind: 'send', to: from, bytes: res.bytes };
  // A plain basic-mode response (no MAC, no extension fields): the host may refresh its transmit
  // timestamp as it sends it (chrony does the same).
  if (!res.interleaved && res.bytes.length === 48) send.transmitAt = 40;
  if (to !== undefined) send.from = to;
  if (res.wantsPrecise) {
    const slot = res.slot;
    const rx = res.rx;
    send.txId = ctx.allocTxId((sentRaw) => {
      responder.transmitted(slot, rx, toTimestamp(ctx.clock.read(sentRaw)) || 1n);
    });
  }
  const out: Answer = {
    kind: 'reply',
    send,
    authenticated: res.auth === 'ok',
    interleaved: res.interleaved,
  };
  if (res.failure !== undefined) out.nak = authReason(res.failure);
  return out;
}
