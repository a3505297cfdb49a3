/**
 * The server decision: for every datagram a host receives on its NTP sockets, `NtpServer.serve`
 * says whether to ignore it (and why), answer with a KoD, send a response, or hand it on to the
 * association layer or the control (mode 6) handler. The daemon and the simulator both call it.
 *
 *   mode 3 (client)         not serving → ignore; access list, rate limit (KoD RATE / leak) → answer
 *   mode 1 (symm. active)   configured/mobilised association → forward (no access check, as chrony);
 *                           else access list; would mobilise a passive peer → forward;
 *                           else a stateless mode 2 answer, rate-limited like mode 3
 *   mode 5 (broadcast)      known broadcast source → forward; else access list → forward
 *   mode 2, 4 (replies)     forward (the association checks them against its own request)
 *   mode 6 (control)        access list → forward to the control handler
 *   mode 7 (ntpdc)          access list, then ignored ('mode-7'); mode 0 ignored ('bad-mode')
 *
 * Every answer obeys the no-amplification rule (never longer than an unauthenticated request).
 * Refusals are counted by `RejectReason` (src/serve/reasons.ts), and the NTS-KE server and the
 * TCP Time/Daytime services ask the same access list (`allows`).
 *
 * Sans-IO: the raw counter comes in; randomness for the rate limiter's leak is injected.
 */
import { buildKissResponse } from '../assoc/server.js';
import type { RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import type { ClientSnapshot, ServerStats } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';
import { decodePacket, encodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import type { Answer } from './answer.js';
import { type GuardConfig, NTP_HEADER_LENGTH, ServerGuard } from './guard.js';
import type { RejectReason } from './reasons.js';

/** What the decision needs from the engine (NtpSystem; the simulator's fake engine). */
export interface ServeEngine {
  /**
   * Builds the answer to an admitted request (mode 3, or mode 1 without association); NtpSystem
   * uses `answerRequest` of src/serve/answer.ts.
   */
  answerRequest(
    raw: RawTime,
    now: RawTime,
    pkt: NtpPacket,
    bytes: Uint8Array,
    from: Endpoint,
    to: Endpoint | undefined,
  ): Answer;
  /** Who takes a mode 1 or mode 5 packet: an association, a new one it would mobilise, nobody. */
  packetTarget(pkt: NtpPacket, from: Endpoint): 'association' | 'mobilise' | 'none';
}

export type ServeDecision =
  | { kind: 'ignore'; reason: RejectReason }
  | { kind: 'kod'; code: 'RATE'; reason: RejectReason; bytes: Uint8Array }
  | {
      kind: 'respond';
      bytes: Uint8Array;
      /** The local address to send from (the one the request came to), when known. */
      from?: Endpoint;
      /** Report the precise transmit time with `engine.handleTransmitted(txId, raw)`. */
      txId?: number;
      /** Byte offset of a transmit timestamp the host may refresh just before sending. */
      transmitAt?: number;
      /** The response is a refusal: crypto-NAK (auth-*) or NTS NAK (nts-*). */
      nak?: RejectReason;
    }
  | { kind: 'forward'; to: 'association' | 'control' };

export interface ServerOptions extends GuardConfig {
  /** Answer client requests (mode 3) and stateless mode 2 at all (`[serve] enabled`). Default true. */
  serving?: boolean;
  /** Uniform random in [0, 1) for the rate limiter's leak decision (required: no built-in seed). */
  random: () => number;
  /** The precision (log2 s) announced in KoDs; default -20. */
  precision?: number;
}

/** The server options of a daemon configuration (`[serve]`, `[access]`, `[rate-limit]`). */
export function serverOptionsOf(config: DaemonConfig, random: () => number): ServerOptions {
  const rl = config.rateLimit;
  return {
    serving: config.server.enabled,
    precision: config.system.precision,
    allow: config.access.allow,
    deny: config.access.deny,
    clientTableSize: config.server.clientTableSize,
    rateLimit: rl.enabled ? { interval: rl.interval, burst: rl.burst, kod: rl.kod, leak: rl.leak } : null,
    random,
  };
}

/** A KoD (kiss-o'-death) answer to a request, never longer than the request; null for garbage. */
export function buildKod(
  request: Uint8Array,
  code: 'RATE' | 'DENY' | 'RSTR',
  precision = -20,
): Uint8Array | null {
  const d = decodePacket(request);
  if (!d.ok) return null;
  const bytes = encodePacket(buildKissResponse(d.packet, code, { precision }));
  return bytes.length <= request.length ? bytes : null;
}

const FORWARD_ASSOC: ServeDecision = Object.freeze({ kind: 'forward', to: 'association' });
const FORWARD_CONTROL: ServeDecision = Object.freeze({ kind: 'forward', to: 'control' });

export class NtpServer {
  private readonly guard: ServerGuard;
  private serving: boolean;
  private precision: number;
  private readonly ignores = new Map<RejectReason, ServeDecision>();

  constructor(
    private readonly engine: ServeEngine,
    opts: ServerOptions,
  ) {
    this.guard = new ServerGuard(opts);
    this.serving = opts.serving ?? true;
    this.precision = opts.precision ?? -20;
  }

  /** Applies new options (reload), keeping the client table and counters. Throws on a bad list. */
  reconfigure(opts: ServerOptions): void {
    this.guard.reconfigure(opts);
    this.serving = opts.serving ?? true;
    this.precision = opts.precision ?? -20;
  }

  /**
   * Decides about one datagram `bytes` from `from`, received on local endpoint `to` at counter
   * value `raw`; `now` (≥ raw) is the counter as the host hands it over (the basic-mode transmit
   * timestamp). The host carries the decision out: nothing else is needed to serve.
   */
  serve(bytes: Uint8Array, from: Endpoint, to: Endpoint | undefined, raw: RawTime, now = raw): ServeDecision {
    const mode = (bytes[0] ?? 0) & 7;
    if (mode === MODE.CONTROL) return this.allows(from.address) ? FORWARD_CONTROL : this.decision('denied');
    if (mode === MODE.CLIENT) return this.request(bytes, null, from, to, raw, now);
    if (bytes.length < NTP_HEADER_LENGTH) return this.refused('short');
    switch (mode) {
      case MODE.SYMMETRIC_PASSIVE:
      case MODE.SERVER:
        return FORWARD_ASSOC;
      case MODE.SYMMETRIC_ACTIVE:
      case MODE.BROADCAST: {
        const d = decodePacket(bytes);
        if (!d.ok) return this.refused('malformed');
        const target = this.engine.packetTarget(d.packet, from);
        if (target === 'association') return FORWARD_ASSOC;
        if (!this.allows(from.address)) return this.decision('denied');
        if (target === 'mobilise' || mode === MODE.BROADCAST) return FORWARD_ASSOC;
        return this.request(bytes, d.packet, from, to, raw, now);
      }
      case MODE.PRIVATE:
        return this.allows(from.address) ? this.refused('mode-7') : this.decision('denied');
      default:
        return this.refused('bad-mode');
    }
  }

  /**
   * The access list alone, for every service that is not NTP over UDP (NTS-KE, Time, Daytime):
   * true when `address` may use it. A refusal is counted ('denied').
   */
  allows(address: string): boolean {
    const d = this.guard.admit(address);
    if (d === null) return true;
    this.guard.refuse(d);
    return false;
  }

  /** Server statistics: requests, responses, KoDs, refusals by reason. */
  stats(): ServerStats {
    return this.guard.stats();
  }

  /** The client table, most active first. */
  clients(raw: RawTime): ClientSnapshot[] {
    return this.guard.clients(raw);
  }

  /** Counts a refusal the host found itself (e.g. an engine error). */
  count(reason: RejectReason): void {
    this.guard.refuse(reason);
  }

  /** A client request (mode 3), or a mode 1 packet to answer statelessly (`decoded` given). */
  private request(
    bytes: Uint8Array,
    decoded: NtpPacket | null,
    from: Endpoint,
    to: Endpoint | undefined,
    raw: RawTime,
    now: RawTime,
  ): ServeDecision {
    if (!this.serving) return this.refused('not-serving');
    const g = this.guard.check(raw, from, bytes.length);
    if (g.action === 'drop')
      return this.decision(g.reason === 'ok' || g.reason === 'leak' ? 'rate' : g.reason);
    let pkt = decoded;
    if (pkt === null) {
      const d = decodePacket(bytes);
      if (!d.ok) return this.unanswered(from, 'malformed', g.action === 'kod');
      pkt = d.packet;
    }
    if (g.action === 'kod') {
      const kod = encodePacket(buildKissResponse(pkt, 'RATE', { precision: this.precision }));
      if (kod.length > bytes.length) return this.unanswered(from, 'amplification', true);
      return { kind: 'kod', code: 'RATE', reason: 'rate-kod', bytes: kod };
    }
    const a = this.engine.answerRequest(raw, now, pkt, bytes, from, to);
    if (a.kind === 'none') return this.unanswered(from, a.reason, false);
    const send = a.send;
    if (!a.authenticated && send.bytes.length > bytes.length)
      return this.unanswered(from, 'amplification', false);
    this.guard.recordResponse(from, { interleaved: a.interleaved });
    const out: ServeDecision = { kind: 'respond', bytes: send.bytes };
    if (send.from !== undefined) out.from = send.from;
    if (send.txId !== undefined) out.txId = send.txId;
    if (send.transmitAt !== undefined) out.transmitAt = send.transmitAt;
    if (a.nak !== undefined) {
      out.nak = a.nak;
      this.guard.recordInvalid(a.nak, false);
    }
    return out;
  }

  /** A request the guard admitted (served or KoD) that gets nothing after all. */
  private unanswered(from: Endpoint, reason: RejectReason, wasKod: boolean): ServeDecision {
    this.guard.recordUnanswered(from, reason, wasKod);
    return this.decision(reason);
  }

  /** Counts a refusal and returns its decision. */
  private refused(reason: RejectReason): ServeDecision {
    this.guard.refuse(reason);
    return this.decision(reason);
  }

  /** The (shared, frozen) decision to ignore for `reason`; counted elsewhere. */
  private decision(reason: RejectReason): ServeDecision {
    let d = this.ignores.get(reason);
    if (d === undefined) {
      d = Object.freeze({ kind: 'ignore', reason });
      this.ignores.set(reason, d);
    }
    return d;
  }
}
