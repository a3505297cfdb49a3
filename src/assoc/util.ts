/** Small helpers shared by the association and server code. */
import type { SymmetricKey } from '../system/types.js';
import { md5 } from '../wire/digest.js';
import { type MacAlgorithm, signPacket, verifyPacketMac } from '../wire/mac.js';
import type { NtpPacket } from '../wire/packet.js';
import { refidFromAddress } from '../wire/refid.js';

/** Refid of a peer address (RFC 5905: IPv4 address, or the first 4 octets of the MD5 of an IPv6 address). */
export function addressRefid(address: string): number {
  try {
    return refidFromAddress(address);
  } catch {
    // Not an IP address (e.g. a simulator node name): hash the text like an IPv6 address.
    const bytes = new TextEncoder().encode(address);
    const h = md5(bytes);
    return (((h[0] ?? 0) << 24) | ((h[1] ?? 0) << 16) | ((h[2] ?? 0) << 8) | (h[3] ?? 0)) >>> 0;
  }
}

function macAlgorithm(k: SymmetricKey): MacAlgorithm | null {
  return k.type === 'AES128CMAC' ? null : k.type;
}

export type AuthResult = 'none' | 'ok' | 'failed';

/**
 * Checks a packet's MAC. `required` is the key ID the association expects (undefined = any or none).
 * Returns 'none' when the packet carries no MAC and none is required.
 */
export function checkAuth(p: NtpPacket, keys: SymmetricKey[], required: number | undefined): AuthResult {
  if (p.mac === null) return required === undefined ? 'none' : 'failed';
  if (required !== undefined && p.mac.keyId !== required) return 'failed';
  const key = keys.find((k) => k.id === p.mac?.keyId);
  if (key === undefined) return 'failed';
  const alg = macAlgorithm(key);
  if (alg === null) return 'failed';
  return verifyPacketMac(p, alg, key.key) === 'ok' ? 'ok' : 'failed';
}

/** Signs a packet with key `keyId` when it exists and is supported; otherwise returns it unchanged. */
export function sign(p: NtpPacket, keys: SymmetricKey[], keyId: number | undefined): NtpPacket {
  if (keyId === undefined) return p;
  const key = keys.find((k) => k.id === keyId);
  if (key === undefined) return p;
  const alg = macAlgorithm(key);
  if (alg === null) return p;
  return signPacket(p, keyId, alg, key.key);
}
