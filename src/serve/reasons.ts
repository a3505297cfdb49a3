/**
 * Why the server decision refused (or refused to trust) a datagram: one typed reason per check,
 * and the counters keyed by it that the snapshot, `ntpkit status` and the metrics show.
 */
import type { AuthFailure } from '../assoc/util.js';
import type { NtsRequestProblemCode } from '../nts/ntp.js';

/** Every reason a datagram is ignored, answered with a KoD or answered with a NAK. */
export const REJECT_REASONS = [
  /** Shorter than the 48-byte NTP header. */
  'short',
  /** Does not decode as an NTP packet (bad version, bad extension fields, ...). */
  'malformed',
  /** Mode 0 (reserved). */
  'bad-mode',
  /** Mode 7 (ntpdc private requests): not implemented, never answered. */
  'mode-7',
  /** A client request (mode 3) or stateless symmetric answer while `[serve] enabled = false`. */
  'not-serving',
  /** The source address does not parse. */
  'bad-address',
  /** Refused by the access list (`[access] allow` / `deny`). */
  'denied',
  /** Over the per-client rate: dropped without a KoD. */
  'rate',
  /** Over the per-client rate and already sent a KoD RATE recently: dropped. */
  'rate-kod-limit',
  /** Answered with a KoD RATE. */
  'rate-kod',
  /** Over the server-wide answer budget (`maxResponseRate`). */
  'global-rate',
  /** The answer would be longer than the unauthenticated request: not sent. */
  'amplification',
  /** MAC checks of requests (answered with a crypto-NAK). */
  'auth-unknown-key',
  'auth-unsupported-key',
  'auth-bad-mac',
  'auth-crypto-nak',
  'auth-missing',
  'auth-wrong-key-id',
  /** NTS requests to a server without an NTS service. */
  'nts-not-server',
  /** NTS requests that fail verification (cookie problems get an NTS NAK). */
  'nts-undecodable',
  'nts-not-nts',
  'nts-no-unique-id',
  'nts-no-cookie',
  'nts-bad-cookie',
  'nts-no-authenticator',
  'nts-bad-authenticator',
  'nts-auth-failed',
  'nts-bad-placeholder',
  /** The engine threw on the packet (a bug; logged). */
  'engine-error',
  /** The engine built no answer for an admitted request. */
  'no-response',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

/** Counters keyed by reason (only the reasons that occurred are present). */
export type ReasonCounts = Partial<Record<RejectReason, number>>;

export function authReason(f: AuthFailure): RejectReason {
  return `auth-${f}`;
}

const NTS_REASONS: Readonly<Record<NtsRequestProblemCode, RejectReason>> = {
  UNDECODABLE: 'nts-undecodable',
  NOT_NTS: 'nts-not-nts',
  NO_UNIQUE_ID: 'nts-no-unique-id',
  NO_COOKIE: 'nts-no-cookie',
  BAD_COOKIE: 'nts-bad-cookie',
  NO_AUTHENTICATOR: 'nts-no-authenticator',
  BAD_AUTHENTICATOR: 'nts-bad-authenticator',
  AUTH_FAILED: 'nts-auth-failed',
  BAD_PLACEHOLDER: 'nts-bad-placeholder',
};

export function ntsReason(code: NtsRequestProblemCode): RejectReason {
  return NTS_REASONS[code];
}

export function isRejectReason(s: string): s is RejectReason {
  return (REJECT_REASONS as readonly string[]).includes(s);
}

export function countReason(counts: ReasonCounts, reason: RejectReason, n = 1): void {
  counts[reason] = (counts[reason] ?? 0) + n;
}
