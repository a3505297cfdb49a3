/**
 * AES-CMAC (RFC 4493) and AES-SIV (RFC 5297), the latter as the NTS AEAD algorithm
 * AEAD_AES_SIV_CMAC_256 (IANA AEAD ID 15, 32-byte key: 16 bytes for CMAC, 16 for CTR).
 *
 * SIV takes a vector of associated-data strings; in the AEAD interface (RFC 5297 section 6) the nonce is
 * the last of them, so `sivEncrypt(key, [ad, nonce], plaintext)` is what NTS (RFC 8915 section 5.6)
 * calls encrypting with associated data `ad` and nonce `nonce`. Output is the 16-byte synthetic IV
 * followed by the ciphertext (same length as the plaintext).
 */

import { Aes } from './aes.js';

export const BLOCK = 16;
/** IANA "AEAD Algorithms" ID of AEAD_AES_SIV_CMAC_256. */
export const AEAD_AES_SIV_CMAC_256 = 15;
/** Key length of AEAD_AES_SIV_CMAC_256 in bytes. */
export const SIV_CMAC_256_KEY_LENGTH = 32;
/** Length of the SIV tag prepended to the ciphertext. */
export const SIV_TAG_LENGTH = 16;

/** Doubling in GF(2^128) as used by CMAC and S2V (shift left, conditional xor 0x87). */
export function dbl(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const v = b[i] ?? 0;
    out[i] = ((v << 1) | carry) & 0xff;
    carry = v >>> 7;
  }
  if (carry) out[BLOCK - 1] = (out[BLOCK - 1] ?? 0) ^ 0x87;
  return out;
}

function xorInto(dst: Uint8Array, src: Uint8Array, dstOff = 0): void {
  for (let i = 0; i < src.length; i++) dst[dstOff + i] = (dst[dstOff + i] ?? 0) ^ (src[i] ?? 0);
}

/** AES-CMAC with a precomputed cipher and subkeys. */
export class Cmac {
  private readonly aes: Aes;
  private readonly k1: Uint8Array;
  private readonly k2: Uint8Array;

  constructor(key: Uint8Array | Aes) {
    this.aes = key instanceof Aes ? key : new Aes(key);
    const l = this.aes.encrypt(new Uint8Array(BLOCK));
    this.k1 = dbl(l);
    this.k2 = dbl(this.k1);
  }

  /** The subkeys K1 and K2 (RFC 4493 section 2.3), for tests. */
  subkeys(): [Uint8Array, Uint8Array] {
    return [Uint8Array.from(this.k1), Uint8Array.from(this.k2)];
  }

  mac(msg: Uint8Array): Uint8Array {
    const n = Math.max(1, Math.ceil(msg.length / BLOCK));
    const complete = msg.length > 0 && msg.length % BLOCK === 0;
    const x = new Uint8Array(BLOCK);
    const aes = this.aes;
    let off = 0;
    for (let b = 0; b < n - 1; b++, off += BLOCK) {
      for (let i = 0; i < BLOCK; i++) x[i] = (x[i] as number) ^ (msg[off + i] as number);
      aes.encryptBlock(x, 0, x, 0);
    }
    const rest = msg.length - off;
    const sub = complete ? this.k1 : this.k2;
    for (let i = 0; i < BLOCK; i++) {
      const m = i < rest ? (msg[off + i] as number) : i === rest ? 0x80 : 0;
      x[i] = (x[i] as number) ^ m ^ (sub[i] as number);
    }
    aes.encryptBlock(x, 0, x, 0);
    return x;
  }
}

/** One-shot AES-CMAC (RFC 4493). */
export function aesCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return new Cmac(key).mac(msg);
}

/** An AES-SIV key (RFC 5297): 32, 48 or 64 bytes, the first half for S2V (CMAC), the second for CTR. */
export class AesSiv {
  private readonly cmac: Cmac;
  private readonly ctr: Aes;

  constructor(key: Uint8Array) {
    if (key.length !== 32 && key.length !== 48 && key.length !== 64) {
      throw new RangeError(`AES-SIV key must be 32, 48 or 64 bytes, not ${key.length}`);
    }
    const half = key.length / 2;
    this.cmac = new Cmac(key.subarray(0, half));
    this.ctr = new Aes(key.subarray(half));
  }

  /** S2V (RFC 5297 section 2.4) over the associated-data strings and the plaintext. */
  s2v(ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
    let d = this.cmac.mac(new Uint8Array(BLOCK));
    for (const s of ad) {
      d = dbl(d);
      xorInto(d, this.cmac.mac(s));
    }
    let t: Uint8Array;
    if (plaintext.length >= BLOCK) {
      t = Uint8Array.from(plaintext);
      xorInto(t, d, t.length - BLOCK);
    } else {
      t = dbl(d);
      const padded = new Uint8Array(BLOCK);
      padded.set(plaintext);
      padded[plaintext.length] = 0x80;
      xorInto(t, padded);
    }
    return this.cmac.mac(t);
  }

  private ctrXor(v: Uint8Array, data: Uint8Array): Uint8Array {
    const q = Uint8Array.from(v);
    q[8] = (q[8] ?? 0) & 0x7f;
    q[12] = (q[12] ?? 0) & 0x7f;
    const out = Uint8Array.from(data);
    const ks = new Uint8Array(BLOCK);
    for (let off = 0; off < out.length; off += BLOCK) {
      this.ctr.encryptBlock(q, 0, ks, 0);
      const n = Math.min(BLOCK, out.length - off);
      for (let i = 0; i < n; i++) out[off + i] = (out[off + i] ?? 0) ^ (ks[i] ?? 0);
      for (let i = BLOCK - 1; i >= 0; i--) {
        const c = ((q[i] ?? 0) + 1) & 0xff;
        q[i] = c;
        if (c !== 0) break;
      }
    }
    return out;
  }

  /** Returns V || C (16 + plaintext.length bytes). */
  encrypt(ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
    const v = this.s2v(ad, plaintext);
    const c = this.ctrXor(v, plaintext);
    const out = new Uint8Array(BLOCK + c.length);
    out.set(v);
    out.set(c, BLOCK);
    return out;
  }

  /** Returns the plaintext, or null when the input is shorter than a tag or fails authentication. */
  decrypt(ad: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | null {
    if (sealed.length < BLOCK) return null;
    const v = sealed.subarray(0, BLOCK);
    const p = this.ctrXor(v, sealed.subarray(BLOCK));
    const t = this.s2v(ad, p);
    let diff = 0;
    for (let i = 0; i < BLOCK; i++) diff |= (t[i] ?? 0) ^ (v[i] ?? 0);
    return diff === 0 ? p : null;
  }
}

/** One-shot AES-SIV encryption (see `AesSiv.encrypt`). */
export function sivEncrypt(key: Uint8Array, ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
  return new AesSiv(key).encrypt(ad, plaintext);
}

/** One-shot AES-SIV decryption (see `AesSiv.decrypt`); null on authentication failure. */
export function sivDecrypt(
  key: Uint8Array,
  ad: readonly Uint8Array[],
  sealed: Uint8Array,
): Uint8Array | null {
  return new AesSiv(key).decrypt(ad, sealed);
}
