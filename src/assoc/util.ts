/** Small helpers shared by the association and server code: reference IDs and symmetric-key MACs. */

import type { CryptoProvider } from '../wire/crypto.js';
import { type MacKey, macKey, macSupported, signPacket, verifyPacketMac } from '../wire/mac.js';
import type { NtpPacket } from '../wire/packet.js';
import { refidFromAddress } from '../wire/refid.js';
import type { SymmetricKey } from './config.js';

/** Refid of a peer address (RFC 5905: IPv4 address, or the first 4 octets of the MD5 of an IPv6 address). */
export function addressRefid(address: string, crypto: Pick<CryptoProvider, 'digest'>): number {
  try {
    return refidFromAddress(address, crypto);
  } catch {
    // Not an IP address (e.g. a simulator node name): hash the text like an IPv6 address.
    const h = crypto.digest('MD5', new TextEncoder().encode(address));
    return (((h[0] ?? 0) << 24) | ((h[1] ?? 0) << 16) | ((h[2] ?? 0) << 8) | (h[3] ?? 0)) >>> 0;
  }
}

/**
 * The symmetric keys with the crypto provider that computes their MACs. `keys` is the live list (the
 * system's configuration); each key's provider state (e.g. AES-CMAC subkeys) is made on first use and
 * kept while the key object lives.
 */
export class KeyRing {
  private readonly prepared = new WeakMap<SymmetricKey, MacKey | null>();

  constructor(
    readonly keys: readonly SymmetricKey[],
    readonly crypto: CryptoProvider,
  ) {}

  /** Keys whose type the provider cannot compute (a configuration error). */
  unsupported(): SymmetricKey[] {
    return this.keys.filter((k) => !macSupported(this.crypto, k.type));
  }

  /** Whether a key with this ID is configured (usable or not). */
  has(id: number): boolean {
    return this.keys.some((k) => k.id === id);
  }

  /** The prepared key with this ID; null when there is none or it cannot be used. */
  macKey(id: number): MacKey | null {
    const k = this.keys.find((x) => x.id === id);
    if (k === undefined) return null;
    let m = this.prepared.get(k);
    if (m === undefined) {
      try {
        m = macKey(this.crypto, k.type, k.key);
      } catch {
        m = null;
      }
      this.prepared.set(k, m);
    }
    return m;
  }
}

export type AuthResult = 'none' | 'ok' | 'failed';

/**
 * Why a MAC check failed: no MAC where one is required, a crypto-NAK (key ID only), another key ID
 * than the required one, a key ID we do not hold, a key of a type this build cannot compute, a MAC
 * that does not verify. (The server counts them as RejectReasons `auth-<failure>`.)
 */
export type AuthFailure =
  | 'missing'
  | 'crypto-nak'
  | 'wrong-key-id'
  | 'unknown-key'
  | 'unsupported-key'
  | 'bad-mac';

/** Like `checkAuth`, with the reason of a failure. */
export function verifyAuth(
  p: NtpPacket,
  ring: KeyRing,
  required: number | undefined,
): 'none' | 'ok' | AuthFailure {
  if (p.mac === null) return required === undefined ? 'none' : 'missing';
  if (p.mac.digest.length === 0) return 'crypto-nak';
  if (required !== undefined && p.mac.keyId !== required) return 'wrong-key-id';
  const key = ring.macKey(p.mac.keyId);
  if (key === null) return ring.has(p.mac.keyId) ? 'unsupported-key' : 'unknown-key';
  return verifyPacketMac(p, key) === 'ok' ? 'ok' : 'bad-mac';
}

/**
 * Checks a packet's MAC. `required` is the key ID the association expects (undefined = any or none).
 * Returns 'none' when the packet carries no MAC and none is required.
 */
export function checkAuth(p: NtpPacket, ring: KeyRing, required: number | undefined): AuthResult {
  const r = verifyAuth(p, ring, required);
  return r === 'none' || r === 'ok' ? r : 'failed';
}

/**
 * Signs a packet with key `keyId` (unchanged when `keyId` is undefined). Null when the key does not
 * exist or its type cannot be computed: the caller must then not send, never send it unsigned.
 */
export function sign(p: NtpPacket, ring: KeyRing, keyId: number | undefined): NtpPacket | null {
  if (keyId === undefined) return p;
  const key = ring.macKey(keyId);
  return key === null ? null : signPacket(p, keyId, key);
}
