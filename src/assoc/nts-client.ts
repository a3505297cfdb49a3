/**
 * The NTS client state of an association (RFC 8915): the session from NTS-KE (keys and cookie pool),
 * requests that never leave without a cookie, and the checks of a response.
 */
import type { NtsKeys } from '../nts/cookie.js';
import { NtsClientSession, type NtsRequest } from '../nts/ntp.js';
import type { CryptoProvider } from '../wire/crypto.js';
import type { NtpPacket } from '../wire/packet.js';
import type { AssocReject } from './checks.js';
import type { PollProcess } from './poll.js';
import type { AssocOutput, NtsKeReason, SentPacket } from './types.js';
import type { AuthResult } from './util.js';

/** What the NTS checks change in the association. */
export interface NtsHost {
  readonly id: string;
  auth: AuthResult;
  readonly polling: PollProcess;
  reject(reason: AssocReject): AssocOutput[];
}

export class NtsClient {
  /** Null until the host gives a session (and again after a NAK). */
  private session: NtsClientSession | null = null;
  /** An 'nts-ke' event is out and not yet answered by a new session (no repeats). */
  private keAsked = false;
  keRequests = 0;
  naks = 0;
  authFailures = 0;
  private readonly crypto: CryptoProvider;

  constructor(crypto: CryptoProvider) {
    this.crypto = crypto;
  }

  /** A new session from NTS-KE. */
  set(keys: NtsKeys, cookies: readonly Uint8Array[]): void {
    this.session = new NtsClientSession(this.crypto, keys, cookies);
    this.keAsked = false;
  }

  /** Cookies left in the pool (null without a session). */
  cookies(): number | null {
    return this.session === null ? null : this.session.cookies.length;
  }

  get hasSession(): boolean {
    return this.session !== null;
  }

  private ask(id: string, reason: NtsKeReason, out: AssocOutput[]): void {
    if (this.keAsked) return;
    this.keAsked = true;
    this.keRequests++;
    out.push({ kind: 'event', event: { kind: 'nts-ke', sourceId: id, reason } });
  }

  /** The NTS form of request `p`; null when there is no cookie (NTS-KE is asked for instead). */
  request(
    id: string,
    p: NtpPacket,
    randomBytes: (n: number) => Uint8Array,
    out: AssocOutput[],
  ): NtsRequest | null {
    const session = this.session;
    const req = session === null ? null : session.request(p, randomBytes);
    if (req === null) this.ask(id, session === null ? 'no-session' : 'no-cookies', out);
    return req;
  }

  /**
   * RFC 8915 section 5.6: the response must echo the request's Unique Identifier and carry an
   * authenticator that verifies with the S2C key; its new cookies go to the pool. An NTS NAK (with
   * the right Unique Identifier) drops the session and asks for NTS-KE. Anything else is rejected
   * without touching the exchange state, so the genuine response may still arrive.
   */
  verify(a: NtsHost, latest: SentPacket, bytes: Uint8Array | undefined, out: AssocOutput[]): boolean {
    const session = this.session;
    const req = latest.nts;
    if (session === null || req === undefined || bytes === undefined) {
      this.authFailures++;
      out.push(...a.reject('nts-no-request'));
      return false;
    }
    const v = session.response(bytes, req);
    if (v.ok) {
      a.auth = 'ok';
      return true;
    }
    if (v.code === 'NTS_NAK') {
      this.naks++;
      a.polling.kod = 'NTSN';
      latest.xmtField = 0n;
      latest.recField = 0n;
      out.push(...a.reject('nts-nak'));
      out.push({ kind: 'event', event: { kind: 'kod', sourceId: a.id, code: 'NTSN' } });
      this.session = null;
      this.ask(a.id, 'nak', out);
      return false;
    }
    this.authFailures++;
    a.auth = 'failed';
    out.push(...a.reject(`nts-${v.code.toLowerCase().replace(/_/g, '-')}`));
    return false;
  }
}
