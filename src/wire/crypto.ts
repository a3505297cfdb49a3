/**
 * The cryptography the core needs, as an interface its host implements and injects, as it injects
 * randomness: the core itself holds no cryptographic primitive. The daemon, the CLI and the tests pass
 * `nodeCrypto` (src/io/crypto.ts: node:crypto, that is OpenSSL); the simulator uses whatever provider
 * its host hands it.
 *
 * Three things are asked of a provider: message digests (the legacy NTP MAC H(key || packet) of
 * RFC 5905, the MD5 reference ID of an IPv6 server), AES-CMAC (RFC 4493; NTP MACs by RFC 8573), and
 * AEAD algorithms by IANA number (NTS, RFC 8915: AEAD_AES_SIV_CMAC_256 of RFC 5297). Keyed objects
 * (`Cmac`, `Aead`) keep whatever the provider derives from a key (AES key schedules, CMAC subkeys),
 * so a caller that uses a key often should keep the object.
 *
 * Every method is synchronous. Inputs are never modified; outputs are fresh arrays the caller owns.
 */

export type DigestAlgorithm = 'MD5' | 'SHA1' | 'SHA256';

/** Digest lengths in bytes. */
export const DIGEST_LENGTH: Record<DigestAlgorithm, number> = { MD5: 16, SHA1: 20, SHA256: 32 };

/** The block ciphers AES-CMAC is used with: AES-128 (RFC 8573) and AES-256 (chrony's `AES256`). */
export type CmacCipher = 'AES128' | 'AES256';

/** Key length in bytes of each CMAC cipher. */
export const CMAC_KEY_LENGTH: Record<CmacCipher, number> = { AES128: 16, AES256: 32 };

/** Length of an AES-CMAC in bytes (one AES block). */
export const CMAC_LENGTH = 16;

/** IANA "AEAD Algorithms" number of AEAD_AES_SIV_CMAC_256 (RFC 5297 section 6.1), the NTS default. */
export const AEAD_AES_SIV_CMAC_256 = 15;

/** Key length of AEAD_AES_SIV_CMAC_256 in bytes (16 for S2V/CMAC, then 16 for CTR). */
export const SIV_CMAC_256_KEY_LENGTH = 32;

/** Length of the synthetic IV that AES-SIV puts before the ciphertext. */
export const SIV_TAG_LENGTH = 16;

/** Names for `CryptoProvider.supports`. */
export type CryptoAlgorithm = DigestAlgorithm | 'AES128-CMAC' | 'AES256-CMAC' | 'AEAD_AES_SIV_CMAC_256';

/** AES-CMAC (RFC 4493) under one key. */
export interface Cmac {
  /** The 16-byte CMAC of `msg` (any length, including 0). */
  mac(msg: Uint8Array): Uint8Array;
}

/**
 * An AEAD under one key, with a vector of associated-data strings as AES-SIV takes them (RFC 5297
 * section 2.6): in the AEAD interface of RFC 5297 section 6 the nonce is the last string, so NTS
 * seals with `[ad, nonce]`. For AES-SIV the sealed form is the 16-byte synthetic IV followed by the
 * ciphertext, as long as the plaintext.
 */
export interface Aead {
  /** The IANA AEAD number. */
  readonly id: number;
  seal(ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array;
  /**
   * `seal` written into `out` at `at` (the sealed length: 16 + the plaintext's) instead of a new
   * array; optional (callers fall back to `seal`). `out` may not overlap `plaintext` or `ad`.
   */
  sealTo?(ad: readonly Uint8Array[], plaintext: Uint8Array, out: Uint8Array, at: number): void;
  /** The plaintext, or null when `sealed` is too short or does not authenticate. Never throws. */
  open(ad: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | null;
  /**
   * `open` with the plaintext written into `out` at `at` (room for `sealed.length - 16` bytes,
   * not overlapping `sealed` or `ad`); false, and `out` zeroed there, when it does not
   * authenticate or does not fit. Optional (callers fall back to `open`). Never throws.
   */
  openTo?(ad: readonly Uint8Array[], sealed: Uint8Array, out: Uint8Array, at: number): boolean;
  /**
   * `sealTo` with associated data `[a, n]` (RFC 5297 section 6's AEAD: associated data, then the
   * nonce) and the plaintext given as byte ranges of `buf`: a = `aLength` bytes at `aAt`, n =
   * `nLength` bytes at `nAt`, plaintext `pLength` bytes at `pAt`; the sealed form goes to `out` at
   * `outAt`. In place is allowed (`out` is `buf` and `outAt + 16` is `pAt`); no other overlap
   * with the plaintext. Optional: what an NTS server uses to make no views per packet. Throws a
   * RangeError when a range does not fit.
   */
  sealRange?(
    buf: Uint8Array,
    aAt: number,
    aLength: number,
    nAt: number,
    nLength: number,
    pAt: number,
    pLength: number,
    out: Uint8Array,
    outAt: number,
  ): void;
  /**
   * `openTo` with associated data `[a, n]` and the sealed form (`cLength` bytes at `cAt`) as byte
   * ranges of `buf` (see `sealRange`); the plaintext goes to `out` at `outAt` (not overlapping
   * `buf`'s ranges). False, and `out` zeroed there, when it does not authenticate or a range does
   * not fit. Optional. Never throws.
   */
  openRange?(
    buf: Uint8Array,
    aAt: number,
    aLength: number,
    nAt: number,
    nLength: number,
    cAt: number,
    cLength: number,
    out: Uint8Array,
    outAt: number,
  ): boolean;
  /**
   * `openRange` for `count` messages at once (an NTS server's cookies of one batch, under its
   * master key): message j is laid out as a | n | sealed (`aLength`, `nLength`, `cLength` bytes)
   * at ats[j] of bufs[j]; its plaintext goes to `out` at outAts[j]; ok[j] = 1 when it
   * authenticates, else 0 and its plaintext zeroed. Optional (a provider that can run the AES of
   * many messages in one call offers it). Throws a RangeError when a range does not fit.
   */
  openMany?(
    bufs: readonly Uint8Array[],
    ats: Int32Array,
    count: number,
    aLength: number,
    nLength: number,
    cLength: number,
    out: Uint8Array,
    outAts: Int32Array,
    ok: Uint8Array,
  ): void;
  /**
   * `sealRange` in place for `count` messages at once: message j is laid out as a | n | room for
   * the 16-byte tag | plaintext (`aLength`, `nLength`, 16, `pLength` bytes) at ats[j] of bufs[j],
   * and is sealed where it is. Optional, as `openMany`.
   */
  sealMany?(
    bufs: readonly Uint8Array[],
    ats: Int32Array,
    count: number,
    aLength: number,
    nLength: number,
    pLength: number,
  ): void;
}

export interface CryptoProvider {
  /** What implements it, for logs and `--version` (e.g. "node:crypto, OpenSSL 3.0.19"). */
  readonly name: string;
  /** Whether this build can do `alg` (an OpenSSL in FIPS mode has no MD5, for example). */
  supports(alg: CryptoAlgorithm): boolean;
  /** The digest of the concatenation of `parts`. Throws when `supports(alg)` is false. */
  digest(alg: DigestAlgorithm, ...parts: Uint8Array[]): Uint8Array;
  /** AES-CMAC keyed with `key` (16 bytes for AES128, 32 for AES256); throws a RangeError otherwise. */
  cmac(cipher: CmacCipher, key: Uint8Array): Cmac;
  /** The AEAD numbered `id` keyed with `key`; null when unsupported or the key length is wrong. */
  aead(id: number, key: Uint8Array): Aead | null;
  /** Constant-time comparison of two byte strings (false when the lengths differ). */
  equal(a: Uint8Array, b: Uint8Array): boolean;
}
