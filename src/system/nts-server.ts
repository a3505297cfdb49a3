/**
 * The engine's NTS server glue (RFC 8915 section 5.7): a request with NTS fields is answered only
 * authenticated, with an NTS NAK when its cookie is unusable, or not at all; never with a plain answer.
 * The host runs NTS-KE (TLS) and shares its cookie jar; the engine only sees keys and cookies.
 */
import { buildServerResponse, type ServerState } from '../assoc/server.js';
import type { RawTime } from '../clock/types.js';
import type { CookieJar } from '../nts/cookie.js';
import { buildNtsNak, buildNtsResponse, EF, type NtsServerContext, verifyNtsRequest } from '../nts/ntp.js';
import { type NtpTime, toTimestamp } from '../time/ntp-time.js';
import { decodePacket, type NtpPacket } from '../wire/packet.js';
import type { Action, Endpoint, SystemEvent } from './types.js';

/** What the glue needs of the engine. */
export interface NtsServerHost {
  /** Our clock's reading at counter value `raw` (the NAK's timestamps). */
  read: (raw: RawTime) => NtpTime;
  serverState: (raw: RawTime) => ServerState;
  randomBytes: (n: number) => Uint8Array;
  emit: (e: SystemEvent) => void;
}

export class NtsServer {
  /** The cookie jar shared with the host's NTS-KE server (null = no NTS service). */
  jar: CookieJar | null = null;
  /** NTS server statistics. */
  readonly stats = { requests: 0, responses: 0, naks: 0, rejected: 0 };
  private readonly host: NtsServerHost;

  constructor(host: NtsServerHost) {
    this.host = host;
  }

  /**
   * Checks a client request: the context to seal the answer with (see `seal`), 'done' when the
   * request got a NAK or nothing, null for a plain NTP request.
   */
  check(
    raw: RawTime,
    pkt: NtpPacket,
    bytes: Uint8Array,
    from: Endpoint,
    to: Endpoint | undefined,
    actions: Action[],
  ): NtsServerContext | 'done' | null {
    if (!pkt.extensions.some((e) => e.type === EF.COOKIE || e.type === EF.AUTHENTICATOR)) return null;
    this.stats.requests++;
    const jar = this.jar;
    if (jar === null) {
      this.stats.rejected++;
      this.host.emit({ kind: 'reject', sourceId: null, reason: 'nts: not an NTS server' });
      return 'done';
    }
    const v = verifyNtsRequest(bytes, jar);
    if (v.ok) return v.context;
    if (v.nakUniqueId !== undefined) {
      const now = toTimestamp(this.host.read(raw));
      const header = buildServerResponse(pkt, this.host.serverState(raw), now, BigInt.asUintN(64, now + 1n));
      const act: Action = { kind: 'send', to: from, bytes: buildNtsNak(header, v.nakUniqueId) };
      if (to !== undefined) act.from = to;
      actions.push(act);
      this.stats.naks++;
    } else this.stats.rejected++;
    this.host.emit({ kind: 'reject', sourceId: null, reason: `nts: ${v.code}` });
    return 'done';
  }

  /** Replaces the plain response just queued by its NTS-protected form. */
  seal(actions: Action[], ctx: NtsServerContext): void {
    const last = actions[actions.length - 1];
    const jar = this.jar;
    if (last === undefined || last.kind !== 'send' || jar === null) return;
    const d = decodePacket(last.bytes);
    if (!d.ok) return;
    last.bytes = buildNtsResponse(d.packet, ctx, jar, this.host.randomBytes);
    // The authenticator covers the header: the host must not rewrite the transmit timestamp.
    if ('transmitAt' in last) delete last.transmitAt;
    this.stats.responses++;
  }

  /** The statistics for the system snapshot's `extra` (none without NTS service). */
  extra(): Record<string, number> {
    if (this.jar === null) return {};
    return {
      ntsServerRequests: this.stats.requests,
      ntsServerResponses: this.stats.responses,
      ntsServerNaks: this.stats.naks,
      ntsServerRejected: this.stats.rejected,
    };
  }
}
