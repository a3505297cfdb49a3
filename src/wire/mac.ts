/**
 * The legacy symmetric-key MAC trailer (RFC 5905 section 7.3, Appendix A.2; RFC 8573 for SHA-1).
 * digest = H(key || packet-without-MAC), the construction ntpd, NTPsec (digest types) and chrony use.
 * Digests longer than 20 bytes are truncated to 20 in NTPv4 packets (RFC 7822 MAC limit), as chrony does.
 */

import { type DigestAlgorithm, digest } from './digest.js';
import { MAX_V4_MAC_LENGTH, macInput, type NtpPacket } from './packet.js';

export type MacAlgorithm = DigestAlgorithm;

/** Digest length carried on the wire for an algorithm (MD5 16, SHA1 20, SHA256 truncated to 20). */
export function macDigestLength(type: MacAlgorithm): number {
  return type === 'MD5' ? 16 : MAX_V4_MAC_LENGTH - 4;
}

/** The MAC digest over `bytes` (the packet without MAC) with `key`, truncated to the wire length. */
export function computeMac(type: MacAlgorithm, key: Uint8Array, bytes: Uint8Array): Uint8Array {
  const input = new Uint8Array(key.length + bytes.length);
  input.set(key);
  input.set(bytes, key.length);
  return digest(type, input).slice(0, macDigestLength(type));
}

/** Constant-time comparison of two byte strings. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** True when `mac` is the correct digest of `bytes` under `key`. */
export function verifyMac(type: MacAlgorithm, key: Uint8Array, bytes: Uint8Array, mac: Uint8Array): boolean {
  return equalBytes(computeMac(type, key, bytes), mac);
}

/** A copy of `p` carrying a MAC computed over its header and extension fields. */
export function signPacket(p: NtpPacket, keyId: number, type: MacAlgorithm, key: Uint8Array): NtpPacket {
  return { ...p, mac: { keyId, digest: computeMac(type, key, macInput(p)) } };
}

export type MacCheck = 'ok' | 'missing' | 'crypto-nak' | 'bad-digest';

/** Checks a decoded packet's MAC against a key. */
export function verifyPacketMac(p: NtpPacket, type: MacAlgorithm, key: Uint8Array): MacCheck {
  if (p.mac === null) return 'missing';
  if (p.mac.digest.length === 0) return 'crypto-nak';
  return verifyMac(type, key, macInput(p), p.mac.digest) ? 'ok' : 'bad-digest';
}

/** A crypto-NAK (RFC 5905 section 7.4: a 4-byte MAC of key ID 0, sent when authentication fails). */
export function withCryptoNak(p: NtpPacket, keyId = 0): NtpPacket {
  return { ...p, mac: { keyId, digest: new Uint8Array(0) } };
}

export function isCryptoNak(p: NtpPacket): boolean {
  return p.mac !== null && p.mac.digest.length === 0;
}
