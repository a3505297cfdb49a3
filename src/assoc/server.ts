/**
 * The stateless server responder (RFC 5905 section 9.2 fast_xmit, dispatch table of section 9.2)
 * with the interleaved client/server mode of RFC 9769.
 *
 * Basic mode: a mode 3 request is answered by a mode 4 response whose origin timestamp is the
 * request's transmit timestamp, receive timestamp our receive time and transmit timestamp our
 * (software) transmit time.
 *
 * Interleaved mode (RFC 9769 section 3, as chrony implements it): a client asks for it by putting our
 * receive timestamp from its previous exchange into the request's origin field (and its own receive
 * time of our previous response into the receive field). If that receive timestamp is still in our
 * table of recent clients, together with the precise transmit timestamp of the response we sent then,
 * we answer interleaved: origin = the request's receive timestamp, receive = our receive time of this
 * request, transmit = the precise transmit time of the previous response. Otherwise we answer in
 * basic mode, which is how a client finds out and falls back.
 *
 * The table has a fixed number of slots (SystemConfig.interleavedTableSize), used as a ring: memory
 * does not depend on the number of clients; a client not seen for a while simply gets a basic answer.
 *
 * A response is never longer than the request unless the request was authenticated with a key we
 * hold (then the MAC has the same length as the request's), so the server cannot amplify traffic.
 */
import { shortToSeconds } from '../time/short.js';
import { kissCodeToRefid } from '../wire/kiss.js';
import { withCryptoNak } from '../wire/mac.js';
import { encodedLength, encodePacket, LEAP, MODE, type NtpPacket } from '../wire/packet.js';
import { type AuthFailure, type AuthResult, type KeyRing, sign, verifyAuth } from './util.js';

/** What a server tells its clients about itself (system variables, RFC 5905 section 11.3). */
export interface ServerState {
  leap: number;
  /** 1..16 (16 = unsynchronised; sent as 0 on the wire). */
  stratum: number;
  precision: number;
  /** Raw u32 short-format values, already including the aging of root dispersion. */
  rootDelay: number;
  rootDispersion: number;
  referenceId: number;
  referenceTimestamp: bigint;
}

interface TableEntry {
  address: string;
  /** Our receive timestamp (wire) of the client's request: the key the client echoes back. */
  rx: bigint;
  /** Precise transmit timestamp (wire) of our response, 0n until the host reported it. */
  tx: bigint;
}

/**
 * Fixed-size table of the last `size` client exchanges, keyed by client address and our receive
 * timestamp (two clients may be received at the same instant).
 */
export class InterleavedTable {
  private readonly slots: Array<TableEntry | undefined>;
  /**
   * Slot by client address, then by the low 32 bits of our receive timestamp (its fraction). Number
   * keys keep the hot path free of string building; lookups still compare the full timestamp, so a
   * rare collision only costs one client one interleaved response.
   */
  private readonly index = new Map<string, Map<number, number>>();
  private used = 0;
  private next = 0;

  constructor(readonly size: number) {
    this.slots = new Array<TableEntry | undefined>(Math.max(0, size)).fill(undefined);
  }

  private static key(rx: bigint): number {
    return Number(rx & 0xffffffffn);
  }

  /** Stores an exchange; returns the slot number (or -1 when the table has no slots). */
  save(address: string, rx: bigint): number {
    if (this.slots.length === 0) return -1;
    const slot = this.next;
    this.next = (this.next + 1) % this.slots.length;
    const old = this.slots[slot];
    if (old !== undefined) {
      const byRx = this.index.get(old.address);
      const oldKey = InterleavedTable.key(old.rx);
      if (byRx !== undefined && byRx.get(oldKey) === slot) {
        byRx.delete(oldKey);
        this.used--;
        if (byRx.size === 0) this.index.delete(old.address);
      }
    }
    this.slots[slot] = { address, rx, tx: 0n };
    let byRx = this.index.get(address);
    if (byRx === undefined) {
      byRx = new Map();
      this.index.set(address, byRx);
    }
    const key = InterleavedTable.key(rx);
    if (!byRx.has(key)) this.used++;
    byRx.set(key, slot);
    return slot;
  }

  /** Records the precise transmit timestamp of the response stored in `slot`, if it is still there. */
  setTx(slot: number, rx: bigint, tx: bigint): void {
    const e = this.slots[slot];
    if (e !== undefined && e.rx === rx) e.tx = tx;
  }

  /** Whether `rx` is a receive timestamp saved for `address` (with or without its transmit time). */
  has(address: string, rx: bigint): boolean {
    const slot = this.index.get(address)?.get(InterleavedTable.key(rx));
    const e = slot === undefined ? undefined : this.slots[slot];
    return e !== undefined && e.address === address && e.rx === rx;
  }

  lookup(address: string, rx: bigint): TableEntry | null {
    const slot = this.index.get(address)?.get(InterleavedTable.key(rx));
    if (slot === undefined) return null;
    const e = this.slots[slot];
    if (e === undefined || e.address !== address || e.rx !== rx || e.tx === 0n) return null;
    return e;
  }

  /** Number of slots in use. */
  count(): number {
    return this.used;
  }
}

export interface ServerResponse {
  packet: NtpPacket;
  bytes: Uint8Array;
  interleaved: boolean;
  auth: AuthResult;
  /** Why the request's MAC failed (the response is then a crypto-NAK). */
  failure?: AuthFailure;
  /** Table slot to complete with the precise transmit timestamp once sent (-1: none). */
  slot: number;
  /** Our receive timestamp used as the table key. */
  rx: bigint;
  /**
   * The client asks for interleaved mode (its origin is one of our saved receive timestamps), so
   * the precise transmit time of this response will be wanted: only then is it worth measuring.
   * A client switching to interleaved mode gets its first interleaved response one poll later.
   */
  wantsPrecise: boolean;
}

function wireStratum(stratum: number): number {
  return stratum >= 16 || stratum <= 0 ? 0 : stratum;
}

/**
 * Builds a kiss-o'-death response (RFC 5905 section 7.4) for the rate limiter / access control:
 * leap 3, stratum 0, the kiss code as reference ID. As ntpd does, every timestamp is the request's
 * transmit timestamp, so no clock is needed and the client's origin check passes. Mode 4 for a
 * client request, mode 2 for a symmetric-active one. Never longer than the request (no MAC).
 */
export function buildKissResponse(
  request: NtpPacket,
  code: 'RATE' | 'DENY' | 'RSTR',
  sys: Pick<ServerState, 'precision'>,
): NtpPacket {
  return {
    leap: LEAP.UNSYNC,
    version: request.version,
    mode: request.mode === MODE.SYMMETRIC_ACTIVE ? MODE.SYMMETRIC_PASSIVE : MODE.SERVER,
    stratum: 0,
    poll: request.poll,
    precision: sys.precision,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: kissCodeToRefid(code),
    referenceTimestamp: request.transmitTimestamp,
    originTimestamp: request.transmitTimestamp,
    receiveTimestamp: request.transmitTimestamp,
    transmitTimestamp: request.transmitTimestamp,
    extensions: [],
    mac: null,
  };
}

/** Basic-mode server (or stateless symmetric-passive) response header. */
export function buildServerResponse(
  request: NtpPacket,
  state: ServerState,
  rx: bigint,
  tx: bigint,
  mode: number = MODE.SERVER,
): NtpPacket {
  return {
    leap: state.stratum >= 16 ? LEAP.UNSYNC : state.leap,
    version: request.version,
    mode,
    stratum: wireStratum(state.stratum),
    poll: request.poll,
    precision: state.precision,
    rootDelay: state.rootDelay,
    rootDispersion: state.rootDispersion,
    referenceId: state.referenceId,
    referenceTimestamp: state.referenceTimestamp,
    originTimestamp: request.transmitTimestamp,
    receiveTimestamp: rx,
    transmitTimestamp: tx,
    extensions: [],
    mac: null,
  };
}

export class ServerResponder {
  readonly table: InterleavedTable;
  requests = 0;
  responses = 0;
  interleavedResponses = 0;
  authFailures = 0;
  /** Requests whose MAC failed (answered with a crypto-NAK), by reason. */
  readonly authFailuresByReason: Partial<Record<AuthFailure, number>> = {};

  constructor(tableSize: number) {
    this.table = new InterleavedTable(tableSize);
  }

  /**
   * Answers a mode 3 request (or a mode 1 packet without association, as mode 2) received at `rx`
   * (our clock, wire format); `tx` is our software transmit timestamp for a basic answer.
   * `requestLength` is the length of the request on the wire.
   */
  respond(
    request: NtpPacket,
    requestLength: number,
    from: string,
    rx: bigint,
    tx: bigint,
    state: ServerState,
    keys: KeyRing,
  ): ServerResponse {
    this.requests++;
    const mode = request.mode === MODE.SYMMETRIC_ACTIVE ? MODE.SYMMETRIC_PASSIVE : MODE.SERVER;
    let packet = buildServerResponse(request, state, rx, tx, mode);
    let interleaved = false;
    let asks = false;
    // RFC 9769: a request whose receive and transmit timestamps differ and whose origin is one of
    // our saved receive timestamps asks for interleaved mode.
    if (
      mode === MODE.SERVER &&
      request.originTimestamp !== 0n &&
      request.receiveTimestamp !== request.transmitTimestamp
    ) {
      asks = this.table.has(from, request.originTimestamp);
      const prev = asks ? this.table.lookup(from, request.originTimestamp) : null;
      if (prev !== null) {
        packet.originTimestamp = request.receiveTimestamp;
        packet.transmitTimestamp = prev.tx;
        interleaved = true;
      }
    }
    let auth: AuthResult = 'none';
    let failure: AuthFailure | undefined;
    if (request.mac !== null) {
      const check = verifyAuth(request, keys, undefined);
      const signed = check === 'ok' ? sign(packet, keys, request.mac.keyId) : null;
      if (signed !== null) {
        packet = signed;
        auth = 'ok';
      } else {
        auth = 'failed';
        const reason: AuthFailure = check === 'ok' || check === 'none' ? 'unknown-key' : check;
        failure = reason;
        this.authFailuresByReason[reason] = (this.authFailuresByReason[reason] ?? 0) + 1;
        this.authFailures++;
        packet = withCryptoNak(packet, 0);
      }
    }
    // Never amplify: an unauthenticated answer must not be longer than the request.
    if (auth !== 'ok' && encodedLength(packet) > requestLength) packet = { ...packet, mac: null };
    const slot = mode === MODE.SERVER ? this.table.save(from, rx) : -1;
    this.responses++;
    if (interleaved) this.interleavedResponses++;
    const out: ServerResponse = {
      packet,
      bytes: encodePacket(packet),
      interleaved,
      auth,
      slot,
      rx,
      wantsPrecise: slot >= 0 && asks,
    };
    if (failure !== undefined) out.failure = failure;
    return out;
  }

  transmitted(slot: number, rx: bigint, tx: bigint): void {
    if (slot >= 0) this.table.setTx(slot, rx, tx);
  }
}

/** Root distance advertised by a server state (s): root delay / 2 + root dispersion. */
export function advertisedDistance(state: ServerState): number {
  return shortToSeconds(state.rootDelay) / 2 + shortToSeconds(state.rootDispersion);
}
