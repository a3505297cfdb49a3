/**
 * The symmetric-key MAC trailer of NTP packets: key ID (u32) followed by the MAC over the packet
 * before it (header and extension fields). Two constructions, computed by the injected
 * `CryptoProvider` (src/wire/crypto.ts):
 * - digest keys (RFC 5905 section 7.3 and Appendix A.2; SHA-1 and SHA-256 as ntpd, NTPsec and chrony
 *   do it): MAC = H(key || packet), MD5 16 bytes, SHA-1 20, SHA-256 32;
 * - AES-CMAC keys (RFC 8573): MAC = AES-CMAC(key, packet), 16 bytes; AES-128 (chrony `AES128`, NTPsec
 *   `AES`) and AES-256 (chrony `AES256`).
 *
 * A digest longer than 20 bytes (SHA-256) does not fit the 24-byte NTPv4 MAC limit of RFC 7822;
 * chrony then sends the packet as NTPv3 with the full digest (captured in
 * test/vectors/chrony-sha256.json), which is what `signPacket` does too unless the caller asks to
 * truncate (NTPsec truncates to 20 bytes).
 */

import { CMAC_LENGTH, type CryptoProvider, DIGEST_LENGTH, type DigestAlgorithm } from './crypto.js';
import { MAX_V4_MAC_LENGTH, macInput, type NtpPacket } from './packet.js';

/** Key types, as ntpkit names them (the key-file parser also takes chrony's and NTPsec's names). */
export type MacAlgorithm = DigestAlgorithm | 'AES128CMAC' | 'AES256CMAC';

/** Full MAC length of each key type in bytes. */
export const MAC_LENGTH: Record<MacAlgorithm, number> = {
  ...DIGEST_LENGTH,
  AES128CMAC: CMAC_LENGTH,
  AES256CMAC: CMAC_LENGTH,
};

/** Key length in bytes a key type requires, or null when any length goes (digest keys). */
export function macKeyLength(type: MacAlgorithm): number | null {
  return type === 'AES128CMAC' ? 16 : type === 'AES256CMAC' ? 32 : null;
}

/** Whether the provider can compute MACs of this type. */
export function macSupported(crypto: CryptoProvider, type: MacAlgorithm): boolean {
  switch (type) {
    case 'AES128CMAC':
      return crypto.supports('AES128-CMAC');
    case 'AES256CMAC':
      return crypto.supports('AES256-CMAC');
    default:
      return crypto.supports(type);
  }
}

/** A key ready to compute MACs (it keeps the provider's keyed state, e.g. AES-CMAC subkeys). */
export interface MacKey {
  readonly type: MacAlgorithm;
  /** The full MAC of `bytes`. */
  compute(bytes: Uint8Array): Uint8Array;
  /** Constant-time comparison, from the provider. */
  equal(a: Uint8Array, b: Uint8Array): boolean;
}

/** Prepares `key` for MACs of `type`; throws a RangeError when the provider cannot do the type or the key length is wrong. */
export function macKey(crypto: CryptoProvider, type: MacAlgorithm, key: Uint8Array): MacKey {
  if (!macSupported(crypto, type)) throw new RangeError(`${type} is not available in ${crypto.name}`);
  const equal = (a: Uint8Array, b: Uint8Array) => crypto.equal(a, b);
  if (type === 'AES128CMAC' || type === 'AES256CMAC') {
    const cmac = crypto.cmac(type === 'AES128CMAC' ? 'AES128' : 'AES256', key);
    return { type, compute: (bytes) => cmac.mac(bytes), equal };
  }
  const k = Uint8Array.from(key);
  return { type, compute: (bytes) => crypto.digest(type, k, bytes), equal };
}

/** The MAC of `bytes`, truncated to `length` bytes (default: the full MAC). */
export function computeMac(key: MacKey, bytes: Uint8Array, length = MAC_LENGTH[key.type]): Uint8Array {
  const m = key.compute(bytes);
  return m.length === length ? m : m.slice(0, length);
}

/**
 * True when `mac` is the MAC of `bytes` under `key`, possibly truncated; a MAC shorter than 16 bytes
 * (or longer than the full MAC) is never accepted.
 */
export function verifyMac(key: MacKey, bytes: Uint8Array, mac: Uint8Array): boolean {
  if (mac.length < 16 || mac.length > MAC_LENGTH[key.type]) return false;
  return key.equal(computeMac(key, bytes, mac.length), mac);
}

export interface SignOptions {
  /** Truncate the digest to fit an NTPv4 MAC (20 bytes) instead of switching to NTPv3. Default false. */
  truncate?: boolean;
}

/**
 * A copy of `p` carrying a MAC over its header and extension fields. A MAC longer than 20 bytes in
 * an NTPv4 packet without extension fields makes the packet NTPv3 (as chrony does), or is truncated
 * with `{ truncate: true }` (always when extension fields are present, since NTPv3 cannot carry them).
 */
export function signPacket(p: NtpPacket, keyId: number, key: MacKey, opts: SignOptions = {}): NtpPacket {
  const full = MAC_LENGTH[key.type];
  const maxV4 = MAX_V4_MAC_LENGTH - 4;
  let version = p.version;
  let length = full;
  if (version === 4 && full > maxV4) {
    if (opts.truncate === true || p.extensions.length > 0) length = maxV4;
    else version = 3;
  }
  const q = { ...p, version };
  return { ...q, mac: { keyId, digest: computeMac(key, macInput(q), length) } };
}

export type MacCheck = 'ok' | 'missing' | 'crypto-nak' | 'bad-digest';

/** Checks a decoded packet's MAC against a key. */
export function verifyPacketMac(p: NtpPacket, key: MacKey): MacCheck {
  if (p.mac === null) return 'missing';
  if (p.mac.digest.length === 0) return 'crypto-nak';
  return verifyMac(key, macInput(p), p.mac.digest) ? 'ok' : 'bad-digest';
}

/** A copy of `p` with a crypto-NAK (RFC 5905 section 7.4: a MAC of only a key ID, normally 0). */
export function withCryptoNak(p: NtpPacket, keyId = 0): NtpPacket {
  return { ...p, mac: { keyId, digest: new Uint8Array(0) } };
}

export function isCryptoNak(p: NtpPacket): boolean {
  return p.mac !== null && p.mac.digest.length === 0;
}
