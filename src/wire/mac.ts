/**
 * The legacy symmetric-key MAC trailer (RFC 5905 section 7.3 and Appendix A.2; RFC 8573 for SHA-1):
 * key ID (u32) followed by digest = H(key || packet-without-MAC), the construction of ntpd, NTPsec
 * (digest key types) and chrony.
 *
 * Digest lengths on the wire: MD5 16 bytes, SHA-1 20 bytes. Longer digests (SHA-256, 32 bytes) do not
 * fit the 24-byte NTPv4 MAC limit of RFC 7822; chrony then sends the packet as NTPv3 with the full
 * digest (captured in test/vectors/chrony-sha256.json), which is what `signPacket` does too unless the
 * caller asks to truncate.
 */

import { DIGEST_LENGTH, type DigestAlgorithm, digest } from './digest.js';
import { MAX_V4_MAC_LENGTH, macInput, type NtpPacket } from './packet.js';

export type MacAlgorithm = DigestAlgorithm;

/** The MAC digest H(key || bytes), truncated to `length` bytes (default: the full digest). */
export function computeMac(
  type: MacAlgorithm,
  key: Uint8Array,
  bytes: Uint8Array,
  length = DIGEST_LENGTH[type],
): Uint8Array {
  const input = new Uint8Array(key.length + bytes.length);
  input.set(key);
  input.set(bytes, key.length);
  return digest(type, input).slice(0, length);
}

/** Constant-time comparison of two byte strings. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * True when `mac` is the digest of `bytes` under `key`, possibly truncated; a MAC shorter than
 * 16 bytes (or longer than the digest) is never accepted.
 */
export function verifyMac(type: MacAlgorithm, key: Uint8Array, bytes: Uint8Array, mac: Uint8Array): boolean {
  if (mac.length < 16 || mac.length > DIGEST_LENGTH[type]) return false;
  return equalBytes(computeMac(type, key, bytes, mac.length), mac);
}

export interface SignOptions {
  /** Truncate the digest to fit an NTPv4 MAC (20 bytes) instead of switching to NTPv3. Default false. */
  truncate?: boolean;
}

/**
 * A copy of `p` carrying a MAC over its header and extension fields. A digest longer than 20 bytes in
 * an NTPv4 packet without extension fields makes the packet NTPv3 (as chrony does), or is truncated
 * with `{ truncate: true }` (always when extension fields are present, since NTPv3 cannot carry them).
 */
export function signPacket(
  p: NtpPacket,
  keyId: number,
  type: MacAlgorithm,
  key: Uint8Array,
  opts: SignOptions = {},
): NtpPacket {
  const full = DIGEST_LENGTH[type];
  const maxV4 = MAX_V4_MAC_LENGTH - 4;
  let version = p.version;
  let length = full;
  if (version === 4 && full > maxV4) {
    if (opts.truncate === true || p.extensions.length > 0) length = maxV4;
    else version = 3;
  }
  const q = { ...p, version };
  return { ...q, mac: { keyId, digest: computeMac(type, key, macInput(q), length) } };
}

export type MacCheck = 'ok' | 'missing' | 'crypto-nak' | 'bad-digest';

/** Checks a decoded packet's MAC against a key. */
export function verifyPacketMac(p: NtpPacket, type: MacAlgorithm, key: Uint8Array): MacCheck {
  if (p.mac === null) return 'missing';
  if (p.mac.digest.length === 0) return 'crypto-nak';
  return verifyMac(type, key, macInput(p), p.mac.digest) ? 'ok' : 'bad-digest';
}

/** A copy of `p` with a crypto-NAK (RFC 5905 section 7.4: a MAC of only a key ID, normally 0). */
export function withCryptoNak(p: NtpPacket, keyId = 0): NtpPacket {
  return { ...p, mac: { keyId, digest: new Uint8Array(0) } };
}

export function isCryptoNak(p: NtpPacket): boolean {
  return p.mac !== null && p.mac.digest.length === 0;
}
