/**
 * The engine's answer to a client request or an unassociated symmetric-active packet: the server
 * response with its transmit timestamp, and the precise-transmit hook for interleaved clients.
 */

import type { ServerResponder, ServerState } from '../assoc/server.js';
import type { KeyRing } from '../assoc/util.js';
import type { LocalClock, RawTime } from '../clock/types.js';
import { toTimestamp } from '../time/ntp-time.js';
import type { NtpPacket } from '../wire/packet.js';
import type { TxIds } from './tx-ids.js';
import type { Action, Endpoint } from './types.js';

/** What an answer needs of the engine. */
export interface AnswerContext {
  server: ServerResponder;
  clock: LocalClock;
  keys: KeyRing;
  tx: TxIds;
  /** Our advertised state now. */
  state: ServerState;
}

/**
 * The answer to `pkt` (`length` bytes) from `from`, received at `raw`; `txRaw` (≥ raw): the counter as
 * the host handed the packet over.
 */
export function answer(
  c: AnswerContext,
  raw: RawTime,
  txRaw: RawTime,
  pkt: NtpPacket,
  length: number,
  from: Endpoint,
  to: Endpoint | undefined,
): Action {
  const now = toTimestamp(c.clock.read(raw));
  // The software transmit timestamp (basic mode): the host's reading as it started processing,
  // at least one unit after the receive timestamp, so that the two always differ (RFC 9769
  // clients rely on it). Interleaved clients get the precise one from handleTransmitted.
  const xmt = txRaw > raw ? toTimestamp(c.clock.read(txRaw)) : now;
  const res = c.server.respond(
    pkt,
    length,
    from.address,
    now,
    BigInt.asUintN(64, xmt > now ? xmt : now + 1n),
    c.state,
    c.keys,
  );
  const act: Action = { kind: 'send', to: from, bytes: res.bytes };
  // A plain basic-mode response (no MAC, no extension fields): the host may refresh its transmit
  // timestamp as it sends it (chrony does the same).
  if (!res.interleaved && res.bytes.length === 48) act.transmitAt = 40;
  if (to !== undefined) act.from = to;
  if (res.wantsPrecise) {
    const slot = res.slot;
    const rx = res.rx;
    act.txId = c.tx.alloc((sentRaw) => {
      c.server.transmitted(slot, rx, toTimestamp(c.clock.read(sentRaw)) || 1n);
    });
  }
  return act;
}
