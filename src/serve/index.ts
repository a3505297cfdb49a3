/**
 * Server-side protection (sans-IO): access lists, the bounded client table, rate limiting with
 * KoD RATE, and the no-amplification rule. See docs/protection.md.
 */
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
