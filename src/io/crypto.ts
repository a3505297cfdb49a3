/**
 * The host's crypto provider (src/wire/crypto.ts) on node:crypto, that is OpenSSL: constant-time AES
 * (AES-NI where the CPU has it) and the platform's digests.
 *
 * node:crypto offers neither CMAC nor AES-SIV (OpenSSL 3.0 has both, Node does not expose them), so
 * the two are built here as the RFCs define them over OpenSSL's AES:
 * - AES-CMAC (RFC 4493) is a CBC-MAC whose last block is masked with a subkey (K1 for a complete
 *   block, K2 for a padded one; both derived from AES_K(0^128) by doubling in GF(2^128)). The CBC
 *   runs on one long-lived `aes-*-cbc` cipher per key, never finalised: after a message its chaining
 *   value is the last ciphertext block C, so the next message is fed with C xored into its first
 *   block, which is CBC from a zero IV again. One native call per MAC.
 * - AES-SIV (RFC 5297) is S2V (CMAC over the associated data and the plaintext, combined by
 *   doubling) for the synthetic IV V, and AES-CTR from V with bits 31 and 63 cleared. The keystream
 *   is the encryption of the counter blocks with one long-lived `aes-*-ecb` cipher per key.
 * The JavaScript left here only xors, shifts and compares bytes, without branches on secret data.
 */

import {
  type Cipher,
  createCipheriv,
  createHash,
  getCiphers,
  getHashes,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import {
  AEAD_AES_SIV_CMAC_256,
  type Aead,
  CMAC_KEY_LENGTH,
  type Cmac,
  type CmacCipher,
  type CryptoAlgorithm,
  type CryptoProvider,
  type DigestAlgorithm,
} from '../wire/crypto.js';
import { type EvpAes, EvpCmac, EvpSiv, evpAes, sivKeyBits } from './crypto-evp.js';

const BLOCK = 16;
const HASH: Record<DigestAlgorithm, string> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256' };
const AES_BITS: Record<CmacCipher, number> = { AES128: 128, AES256: 256 };

/** A copy as a plain Uint8Array (a Buffer may be a view into Node's shared pool). */
function own(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/** Doubling in GF(2^128) (RFC 4493 / RFC 5297 `dbl`): shift left by one, xor 0x87 if a bit fell out. */
export function dbl(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const v = b[i] as number;
    out[i] = ((v << 1) | carry) & 0xff;
    carry = v >>> 7;
  }
  out[BLOCK - 1] = (out[BLOCK - 1] as number) ^ (0x87 & -carry);
  return out;
}

function ecbCipher(bits: number, key: Uint8Array): Cipher {
  const c = createCipheriv(`aes-${bits}-ecb`, key, null);
  c.setAutoPadding(false);
  return c;
}

function checkKey(bits: number, key: Uint8Array, what: string): void {
  if (key.length * 8 !== bits)
    throw new RangeError(`${what} key must be ${bits / 8} bytes, not ${key.length}`);
}

/**
 * Two scratch buffers shared by every keyed object (typed arrays above 64 bytes are costly to
 * allocate): 0 for the CMAC input, 1 for CTR counter blocks. Safe because every method here is
 * synchronous, uses a buffer only within one call and hands OpenSSL a copy of it.
 */
const scratchBuffers: Uint8Array[] = [new Uint8Array(512), new Uint8Array(512)];

function scratch(which: 0 | 1, len: number): Uint8Array {
  let b = scratchBuffers[which] as Uint8Array;
  if (b.length < len) {
    b = new Uint8Array(Math.max(len, 2 * b.length));
    scratchBuffers[which] = b;
  }
  return b;
}

/** AES-CMAC (RFC 4493) over OpenSSL's AES-CBC. */
export class NodeCmac implements Cmac {
  private readonly cbc: Cipher;
  /** The CBC chaining value left by the previous message (zero at first). */
  private chain: Uint8Array = new Uint8Array(BLOCK);
  private readonly k1: Uint8Array;
  private readonly k2: Uint8Array;

  constructor(bits: number, key: Uint8Array) {
    checkKey(bits, key, `AES-${bits}-CMAC`);
    this.cbc = createCipheriv(`aes-${bits}-cbc`, key, new Uint8Array(BLOCK));
    this.cbc.setAutoPadding(false);
    // L = AES_K(0^128): the first CBC block from the zero IV, which leaves L as the chaining value.
    const l = this.cbc.update(new Uint8Array(BLOCK));
    this.chain = l;
    this.k1 = dbl(l);
    this.k2 = dbl(this.k1);
  }

  /** The subkeys K1 and K2 (RFC 4493 section 2.3), for tests. */
  subkeys(): [Uint8Array, Uint8Array] {
    return [own(this.k1), own(this.k2)];
  }

  /**
   * The CMAC of `msg`; with `xorEnd` (16 bytes, `msg` at least as long), of `msg` with `xorEnd` xored
   * into its last 16 bytes (S2V's xorend, done here to save a copy).
   */
  mac(msg: Uint8Array, xorEnd?: Uint8Array): Uint8Array {
    const n = Math.max(1, Math.ceil(msg.length / BLOCK));
    const len = n * BLOCK;
    const m = scratch(0, len);
    m.set(msg);
    if (xorEnd !== undefined)
      for (let i = 0, at = msg.length - BLOCK; i < BLOCK; i++)
        m[at + i] = (m[at + i] as number) ^ (xorEnd[i] as number);
    const complete = msg.length > 0 && msg.length % BLOCK === 0;
    if (!complete) {
      m[msg.length] = 0x80;
      m.fill(0, msg.length + 1, len);
    }
    const last = len - BLOCK;
    const sub = complete ? this.k1 : this.k2;
    for (let i = 0; i < BLOCK; i++) m[last + i] = (m[last + i] as number) ^ (sub[i] as number);
    for (let i = 0; i < BLOCK; i++) m[i] = (m[i] as number) ^ (this.chain[i] as number);
    const out = this.cbc.update(m.subarray(0, len));
    // `out` is a fresh buffer of this call: its last block is kept as the chaining value, a copy returned.
    this.chain = out.subarray(out.length - BLOCK);
    return own(this.chain);
  }
}

function xorInto(dst: Uint8Array, src: Uint8Array, at = 0): void {
  for (let i = 0; i < src.length; i++) dst[at + i] = (dst[at + i] as number) ^ (src[i] as number);
}

/** AES-SIV (RFC 5297) with a key of twice the AES key length: S2V key first, CTR key second. */
export class NodeSiv implements Aead {
  private readonly cmac: NodeCmac;
  private readonly bits: number;
  private readonly ctrKey: Uint8Array;
  /** The CTR cipher, made on first use (an NTS request's authenticator encrypts nothing). */
  private ctr: Cipher | null = null;
  /** S2V's first value, CMAC(K, 0^128), fixed per key. */
  private readonly d0: Uint8Array;

  constructor(
    readonly id: number,
    key: Uint8Array,
  ) {
    const bits = sivKeyBits(key);
    this.bits = bits;
    this.cmac = new NodeCmac(bits, key.subarray(0, key.length / 2));
    this.ctrKey = Uint8Array.from(key.subarray(key.length / 2));
    this.d0 = this.cmac.mac(new Uint8Array(BLOCK));
  }

  /** S2V (RFC 5297 section 2.4) over the associated-data strings and the plaintext. */
  s2v(ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
    let d = this.d0;
    for (const s of ad) {
      d = dbl(d);
      xorInto(d, this.cmac.mac(s));
    }
    if (plaintext.length >= BLOCK) return this.cmac.mac(plaintext, d);
    const t = dbl(d);
    const padded = new Uint8Array(BLOCK);
    padded.set(plaintext);
    padded[plaintext.length] = 0x80;
    xorInto(t, padded);
    return this.cmac.mac(t);
  }

  /**
   * AES-CTR from the synthetic IV `v` (bits 63 and 31 cleared, RFC 5297 section 2.5): writes
   * `data` xor the keystream into `out` at `at`.
   */
  private ctrXor(v: Uint8Array, data: Uint8Array, out: Uint8Array, at: number): void {
    if (data.length === 0) return;
    const len = Math.ceil(data.length / BLOCK) * BLOCK;
    const counters = scratch(1, len);
    counters.set(v.subarray(0, BLOCK));
    counters[8] = (counters[8] as number) & 0x7f;
    counters[12] = (counters[12] as number) & 0x7f;
    for (let b = BLOCK; b < len; b += BLOCK) {
      // the previous counter plus one, big-endian modulo 2^128
      let carry = 1;
      for (let i = BLOCK - 1; i >= 0; i--) {
        const x = (counters[b - BLOCK + i] as number) + carry;
        counters[b + i] = x & 0xff;
        carry = x >>> 8;
      }
    }
    if (this.ctr === null) this.ctr = ecbCipher(this.bits, this.ctrKey);
    const ks = this.ctr.update(counters.subarray(0, len));
    for (let i = 0; i < data.length; i++) out[at + i] = (data[i] as number) ^ (ks[i] as number);
  }

  seal(ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
    const v = this.s2v(ad, plaintext);
    const out = new Uint8Array(BLOCK + plaintext.length);
    out.set(v);
    this.ctrXor(v, plaintext, out, BLOCK);
    return out;
  }

  open(ad: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | null {
    if (sealed.length < BLOCK) return null;
    const v = sealed.subarray(0, BLOCK);
    const p = new Uint8Array(sealed.length - BLOCK);
    this.ctrXor(v, sealed.subarray(BLOCK), p, 0);
    return timingSafeEqual(this.s2v(ad, p), v) ? p : null;
  }

  sealRange(
    buf: Uint8Array,
    aAt: number,
    aLength: number,
    nAt: number,
    nLength: number,
    pAt: number,
    pLength: number,
    out: Uint8Array,
    outAt: number,
  ): void {
    if (outAt < 0 || outAt + BLOCK + pLength > out.length || pAt < 0 || pAt + pLength > buf.length)
      throw new RangeError('sealRange: out of bounds');
    const plaintext = buf.subarray(pAt, pAt + pLength);
    const v = this.s2v([buf.subarray(aAt, aAt + aLength), buf.subarray(nAt, nAt + nLength)], plaintext);
    // The keystream is made before the data is read, and each byte is written where it was read
    // (in place) or elsewhere: either is safe.
    this.ctrXor(v, plaintext, out, outAt + BLOCK);
    out.set(v, outAt);
  }

  openRange(
    buf: Uint8Array,
    aAt: number,
    aLength: number,
    nAt: number,
    nLength: number,
    cAt: number,
    cLength: number,
    out: Uint8Array,
    outAt: number,
  ): boolean {
    const n = cLength - BLOCK;
    if (n < 0 || cAt < 0 || cAt + cLength > buf.length || outAt < 0 || outAt + n > out.length) return false;
    const v = buf.subarray(cAt, cAt + BLOCK);
    this.ctrXor(v, buf.subarray(cAt + BLOCK, cAt + cLength), out, outAt);
    const p = out.subarray(outAt, outAt + n);
    const ad = [buf.subarray(aAt, aAt + aLength), buf.subarray(nAt, nAt + nLength)];
    if (timingSafeEqual(this.s2v(ad, p), v)) return true;
    p.fill(0);
    return false;
  }
}

/**
 * The EVP binding the default provider uses for AES-CMAC and AES-SIV (src/io/crypto-evp.ts), or
 * null: node:crypto's ciphers (no FFI on this platform, or `NTPKIT_CRYPTO=node` in the environment).
 */
export function defaultEvp(): EvpAes | null {
  return process.env.NTPKIT_CRYPTO === 'node' ? null : evpAes();
}

/**
 * Builds the provider; `available` lists what OpenSSL offers (getHashes/getCiphers by default);
 * `evp`: the FFI binding for AES-CMAC and AES-SIV (null: node:crypto's `Cipher` objects).
 */
export function createNodeCrypto(
  available: { hashes: readonly string[]; ciphers: readonly string[] } = {
    hashes: getHashes(),
    ciphers: getCiphers(),
  },
  evp: EvpAes | null = defaultEvp(),
): CryptoProvider {
  const hashes = new Set(available.hashes.map((h) => h.toLowerCase()));
  const ciphers = new Set(available.ciphers.map((c) => c.toLowerCase()));
  const aes = (bits: number) => ciphers.has(`aes-${bits}-ecb`) && ciphers.has(`aes-${bits}-cbc`);
  const supports = (alg: CryptoAlgorithm): boolean => {
    switch (alg) {
      case 'MD5':
      case 'SHA1':
      case 'SHA256':
        return hashes.has(HASH[alg]);
      case 'AES128-CMAC':
      case 'AEAD_AES_SIV_CMAC_256':
        return aes(128);
      case 'AES256-CMAC':
        return aes(256);
    }
  };
  return {
    name: `node:crypto, OpenSSL ${process.versions.openssl ?? 'unknown'}${evp === null ? '' : `, AES-SIV/CMAC on EVP through FFI (${evp.source})`}`,
    supports,
    digest(alg, ...parts) {
      if (!supports(alg)) throw new RangeError(`${alg} is not available in this build`);
      const h = createHash(HASH[alg]);
      for (const p of parts) h.update(p);
      return own(h.digest());
    },
    cmac(cipher, key) {
      if (!supports(cipher === 'AES128' ? 'AES128-CMAC' : 'AES256-CMAC'))
        throw new RangeError(`AES-CMAC with ${cipher} is not available in this build`);
      if (key.length !== CMAC_KEY_LENGTH[cipher])
        throw new RangeError(
          `an ${cipher} CMAC key must be ${CMAC_KEY_LENGTH[cipher]} bytes, not ${key.length}`,
        );
      return evp === null ? new NodeCmac(AES_BITS[cipher], key) : new EvpCmac(evp, AES_BITS[cipher], key);
    },
    aead(id, key) {
      if (id !== AEAD_AES_SIV_CMAC_256 || key.length !== 32 || !supports('AEAD_AES_SIV_CMAC_256'))
        return null;
      return evp === null ? new NodeSiv(id, key) : new EvpSiv(evp, id, key);
    },
    equal(a, b) {
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}

const POOL = 4096;
let pool = new Uint8Array(0);
let poolAt = 0;

/**
 * Cryptographically strong random bytes (OpenSSL's CSPRNG) for nonces, unique identifiers, cookies
 * and master keys. Small requests are served from a 4 KiB buffer refilled with `randomFillSync`:
 * one call into OpenSSL costs about 1.7 µs, as much as an AES-SIV seal, and an NTS response needs
 * three. Bytes handed out are zeroed in the buffer, so no copy of them stays behind.
 */
export function nodeRandomBytes(n: number): Uint8Array {
  if (n > 256) return new Uint8Array(randomBytes(n));
  if (poolAt + n > pool.length) {
    if (pool.length === 0) pool = new Uint8Array(POOL);
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = pool.slice(poolAt, poolAt + n);
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

/** The provider on this process's node:crypto. */
export const nodeCrypto: CryptoProvider = createNodeCrypto();
