/**
 * The server decision (sans-IO): `NtpServer.serve`, access lists, the bounded client table, rate limiting with
 * KoD RATE, and the no-amplification rule. See docs/protection.md.
 */

export {
  type Answer,
  type AnswerContext,
  answerRequest,
  type NtsServerStats,
  type SendAction,
} from './answer.js';
export {
  type AccessDecision,
  AccessList,
  type AccessRule,
  type Cidr,
  CidrError,
  cidrContains,
  clientKey,
  formatAddress,
  formatCidr,
  type IpAddress,
  parseAddress,
  parseCidr,
} from './cidr.js';
export {
  allowedResponseLength,
  DEFAULT_RATE_LIMIT,
  type GuardAction,
  type GuardConfig,
  type GuardDecision,
  NTP_HEADER_LENGTH,
  type RateLimitConfig,
  ServerGuard,
} from './guard.js';
export {
  countReason,
  isRejectReason,
  REJECT_REASONS,
  type ReasonCounts,
  type RejectReason,
} from './reasons.js';
export {
  buildKod,
  NtpServer,
  type ServeDecision,
  type ServeEngine,
  type ServerOptions,
  serverOptionsOf,
} from './server.js';
