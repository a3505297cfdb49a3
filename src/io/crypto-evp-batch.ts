/**
 * AES-SIV (RFC 5297) for many short messages under one key at once, over the EVP binding of
 * src/io/crypto-evp.ts: an NTS server's master key seals and opens the cookies of a whole recvmmsg
 * batch. A message's CMAC is a chain of AES calls, one per block, but the chains of different
 * messages are independent: each EVP call here encrypts (ECB) one block of every message, so S2V
 * over m messages of b blocks takes b calls instead of m, and their CTR keystreams one call. One
 * EVP call costs far more than the AES inside it (~0.15 µs against a few ns a block), so a batch of
 * 64 cookies (opened, and as many new ones sealed) costs 18 calls instead of 384.
 *
 * The arithmetic is that of crypto-evp.ts (CMAC from a zero IV: each block xored with the last
 * output, the last block padded and masked with K1 or K2; CTR from V with bits 63 and 31 cleared,
 * only the low 32-bit word counting), on 32-bit words of the arena; test/nts/server-reply.test.ts
 * checks the bytes against `sealRange`/`openRange` on both providers. Limits: associated-data and
 * nonce strings of at most one block, plaintexts of one block to STRIDE bytes, at most MANY
 * messages a call (the caller groups, or uses the one-message forms).
 */
import type { EvpAes } from './crypto-evp.js';

export const BLOCK = 16;
/** Bytes per EVP call; longer messages are fed in chunks. */
export const CHUNK = 4096;
export const IN = 0;
export const OUT = CHUNK;
/** Where CTR's data is xored with the keystream (whole 32-bit words). */
export const DATA = 2 * CHUNK;
/** Messages staged for their CMAC, one every STRIDE bytes. */
const STAGE = 3 * CHUNK;
/** The longest plaintext of a batched message. */
export const STRIDE = 128;
/** Messages per batched call (one block each fills the input). */
export const MANY = CHUNK / BLOCK;
export const ARENA = STAGE + MANY * STRIDE;

/** AES-128(0^128 key) of 0^128 (FIPS 197 / the well-known value), so a broken binding is never used. */
export function selfTest(evp: EvpAes): void {
  const c = evp.context('ECB', 128, new Uint8Array(16));
  try {
    evp.mem.fill(0, IN, IN + BLOCK);
    evp.update(c, BLOCK);
    const hex = Array.from(evp.mem.subarray(OUT, OUT + BLOCK), (b) => b.toString(16).padStart(2, '0')).join(
      '',
    );
    if (hex !== '66e94bd4ef8a2c3b884cfa59ca342b2e') throw new Error('EVP self-test failed');
  } finally {
    evp.free(c);
  }
}

/** What the batch needs of an EvpSiv: its contexts and S2V's constants. */
export interface SivParts {
  readonly evp: EvpAes;
  /** ECB context on the S2V (CMAC) key. */
  readonly macEcb: number;
  /** CMAC's subkeys K1 and K2 as words. */
  readonly k1: Int32Array;
  readonly k2: Int32Array;
  /** CMAC(K, 0^128): S2V's first value. */
  readonly d0: Uint8Array;
  /** ECB context on the CTR key. */
  readonly ctr: number;
}

/** S2V's running values D, the tags V (given or made) and the CMACs to compare, 16 bytes a message. */
const ds = new Uint8Array(MANY * BLOCK);
const ds32 = new Int32Array(ds.buffer);
const tags = new Uint8Array(MANY * BLOCK);
const tags32 = new Int32Array(tags.buffer);
const checks = new Uint8Array(MANY * BLOCK);
const checks32 = new Int32Array(checks.buffer);
/** The destination list when all plaintexts go to one buffer. */
const outs: Uint8Array[] = [];

/** A 32-bit word with its bytes reversed (big-endian counter <-> little-endian word). */
function swap32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

function dblAt(b: Uint8Array, at: number): void {
  const top = (b[at] as number) >>> 7;
  for (let i = at; i < at + BLOCK - 1; i++)
    b[i] = (((b[i] as number) << 1) | ((b[i + 1] as number) >>> 7)) & 0xff;
  b[at + BLOCK - 1] = (((b[at + BLOCK - 1] as number) << 1) & 0xff) ^ (0x87 & -top);
}

/** D_j = dbl(D_j) xor CMAC(s_j), s_j the `n` (≤ 16) bytes of bufs[j] at ats[j] + off; one call. */
function addShort(
  p: SivParts,
  bufs: readonly Uint8Array[],
  ats: Int32Array,
  off: number,
  n: number,
  count: number,
): void {
  const m = p.evp.mem;
  const w = p.evp.mem32;
  const sub = n === BLOCK ? p.k1 : p.k2;
  for (let j = 0; j < count; j++) {
    const b = bufs[j] as Uint8Array;
    const at = (ats[j] as number) + off;
    const to = IN + j * BLOCK;
    for (let i = 0; i < n; i++) m[to + i] = b[at + i] as number;
    if (n < BLOCK) {
      m[to + n] = 0x80;
      for (let i = to + n + 1; i < to + BLOCK; i++) m[i] = 0;
    }
    const q = to >> 2;
    for (let k = 0; k < 4; k++) w[q + k] = (w[q + k] as number) ^ (sub[k] as number);
  }
  p.evp.update(p.macEcb, count * BLOCK);
  for (let j = 0; j < count; j++) {
    dblAt(ds, j * BLOCK);
    const o = (OUT >> 2) + 4 * j;
    for (let k = 0; k < 4; k++) ds32[4 * j + k] = (ds32[4 * j + k] as number) ^ (w[o + k] as number);
  }
}

/**
 * CMAC(P_j xorend D_j) into `res` (16 bytes a message), P_j the `n` bytes (BLOCK ≤ n ≤ STRIDE) of
 * bufs[j] at ats[j] + off: staged, padded and masked, then one ECB call per block of all of them.
 */
function finalMac(
  p: SivParts,
  bufs: readonly Uint8Array[],
  ats: Int32Array,
  off: number,
  n: number,
  count: number,
  res: Int32Array,
): void {
  const m = p.evp.mem;
  const w = p.evp.mem32;
  const len = (n + BLOCK - 1) & ~(BLOCK - 1);
  const complete = n === len;
  const sub = complete ? p.k1 : p.k2;
  for (let j = 0; j < count; j++) {
    const st = STAGE + j * STRIDE;
    const at = (ats[j] as number) + off;
    m.set((bufs[j] as Uint8Array).subarray(at, at + n), st);
    const e = st + n - BLOCK;
    if ((n & 3) === 0)
      for (let k = 0, q = e >> 2; k < 4; k++) w[q + k] = (w[q + k] as number) ^ (ds32[4 * j + k] as number);
    else for (let i = 0; i < BLOCK; i++) m[e + i] = (m[e + i] as number) ^ (ds[j * BLOCK + i] as number);
    if (!complete) {
      m[st + n] = 0x80;
      for (let i = st + n + 1; i < st + len; i++) m[i] = 0;
    }
    const q = (st + len - BLOCK) >> 2;
    for (let k = 0; k < 4; k++) w[q + k] = (w[q + k] as number) ^ (sub[k] as number);
  }
  const o = OUT >> 2;
  for (let s = 0; s < len; s += BLOCK) {
    for (let j = 0; j < count; j++) {
      const i = 4 * j;
      const sw = (STAGE + j * STRIDE + s) >> 2;
      if (s === 0) for (let k = 0; k < 4; k++) w[i + k] = w[sw + k] as number;
      else for (let k = 0; k < 4; k++) w[i + k] = (w[sw + k] as number) ^ (w[o + i + k] as number);
    }
    p.evp.update(p.macEcb, count * BLOCK);
  }
  for (let i = 0; i < 4 * count; i++) res[i] = w[o + i] as number;
}

/**
 * CTR under the tags: the `n` bytes of src[j] at srcAts[j] + srcOff xor the keystream from V_j
 * (`tags`), into dst[j] at dstAts[j] + dstOff (in place allowed); as few calls as the input allows.
 */
function ctrMany(
  p: SivParts,
  count: number,
  n: number,
  src: readonly Uint8Array[],
  srcAts: Int32Array,
  srcOff: number,
  dst: readonly Uint8Array[],
  dstAts: Int32Array,
  dstOff: number,
): void {
  const m = p.evp.mem;
  const w = p.evp.mem32;
  const len = (n + BLOCK - 1) & ~(BLOCK - 1);
  const blocks = len / BLOCK;
  const group = Math.floor(MANY / blocks);
  for (let g = 0; g < count; g += group) {
    const end = Math.min(count, g + group);
    for (let j = g; j < end; j++) {
      // Q = V with bits 63 and 31 cleared (the top bits of bytes 8 and 12: the low bytes of words
      // 2 and 3 here, little-endian); the counter, big-endian in bytes 12-15, counts in word 3.
      const t = 4 * j;
      const q0 = tags32[t] as number;
      const q1 = tags32[t + 1] as number;
      const q2 = (tags32[t + 2] as number) & ~0x80;
      const q3 = (tags32[t + 3] as number) & ~0x80;
      const low = swap32(q3) >>> 0;
      for (let b = 0, at = (IN >> 2) + (j - g) * blocks * 4; b < blocks; b++, at += 4) {
        w[at] = q0;
        w[at + 1] = q1;
        w[at + 2] = q2;
        w[at + 3] = swap32((low + b) >>> 0);
      }
    }
    p.evp.update(p.ctr, (end - g) * len);
    for (let j = g; j < end; j++) {
      const d = DATA + (j - g) * len;
      const s = (srcAts[j] as number) + srcOff;
      m.set((src[j] as Uint8Array).subarray(s, s + n), d);
      for (let i = d >> 2, o = (OUT + (j - g) * len) >> 2; i < (d + n + 3) >> 2; i++, o++)
        w[i] = (w[i] as number) ^ (w[o] as number);
      (dst[j] as Uint8Array).set(m.subarray(d, d + n), (dstAts[j] as number) + dstOff);
    }
  }
}

/**
 * Copies `n` bytes of `src` at `at` into the arena at `to`: a byte loop for a block or less, else
 * one `set` (a native copy; from a view when only part of `src` is wanted, which costs less than
 * copying more than a block byte by byte).
 */
export function toArena(m: Uint8Array, to: number, src: Uint8Array, at: number, n: number): void {
  if (n <= BLOCK) for (let i = 0; i < n; i++) m[to + i] = src[at + i] as number;
  else if (at === 0 && n === src.length) m.set(src, to);
  else m.set(src.subarray(at, at + n), to);
}

/** Whether messages of these lengths can be batched (see the module comment). */
export function batchable(count: number, aLength: number, nLength: number, pLength: number): boolean {
  return count <= MANY && aLength <= BLOCK && nLength <= BLOCK && pLength >= BLOCK && pLength <= STRIDE;
}

/**
 * Opens `count` messages, message j laid out as a | n | V | ciphertext at ats[j] of bufs[j]
 * (`aLength`, `nLength`, 16, `cLength` - 16 bytes); the plaintexts go to `out` at outAts[j];
 * ok[j] = 1 when message j authenticates, else 0 and its plaintext zeroed. `batchable` first.
 */
export function openMany(
  p: SivParts,
  bufs: readonly Uint8Array[],
  ats: Int32Array,
  count: number,
  aLength: number,
  nLength: number,
  cLength: number,
  out: Uint8Array,
  outAts: Int32Array,
  ok: Uint8Array,
): void {
  const n = cLength - BLOCK;
  const vOff = aLength + nLength;
  for (let j = 0; j < count; j++) {
    const b = bufs[j] as Uint8Array;
    const at = (ats[j] as number) + vOff;
    for (let i = 0; i < BLOCK; i++) tags[j * BLOCK + i] = b[at + i] as number;
    ds.set(p.d0, j * BLOCK);
  }
  for (let j = 0; j < count; j++) outs[j] = out;
  ctrMany(p, count, n, bufs, ats, vOff + BLOCK, outs, outAts, 0);
  addShort(p, bufs, ats, 0, aLength, count);
  addShort(p, bufs, ats, aLength, nLength, count);
  finalMac(p, outs, outAts, 0, n, count, checks32);
  for (let j = 0; j < count; j++) {
    let diff = 0;
    for (let k = 4 * j; k < 4 * j + 4; k++) diff |= (checks32[k] as number) ^ (tags32[k] as number);
    ok[j] = diff === 0 ? 1 : 0;
    if (diff !== 0) out.fill(0, outAts[j] as number, (outAts[j] as number) + n);
  }
}

/**
 * Seals `count` messages in place, message j laid out as a | n | (V) | plaintext at ats[j] of
 * bufs[j] (`aLength`, `nLength`, 16, `pLength` bytes): V and the ciphertext replace the tag's
 * room and the plaintext. `batchable` first.
 */
export function sealMany(
  p: SivParts,
  bufs: readonly Uint8Array[],
  ats: Int32Array,
  count: number,
  aLength: number,
  nLength: number,
  pLength: number,
): void {
  for (let j = 0; j < count; j++) ds.set(p.d0, j * BLOCK);
  addShort(p, bufs, ats, 0, aLength, count);
  addShort(p, bufs, ats, aLength, nLength, count);
  const pOff = aLength + nLength + BLOCK;
  finalMac(p, bufs, ats, pOff, pLength, count, tags32);
  ctrMany(p, count, pLength, bufs, ats, pOff, bufs, ats, pOff);
  for (let j = 0; j < count; j++) {
    const b = bufs[j] as Uint8Array;
    const at = (ats[j] as number) + aLength + nLength;
    for (let i = 0; i < BLOCK; i++) b[at + i] = tags[j * BLOCK + i] as number;
  }
}
