/**
 * AES-CMAC (RFC 4493) and AES-SIV (RFC 5297) on OpenSSL's EVP block ciphers called through koffi,
 * without node:crypto's per-call costs: a `Cipher.update` allocates a Buffer for its output and
 * crosses Node's C++ binding (about 0.6 µs a call here), and an NTS reply makes ~15 such calls.
 *
 * Every call here takes plain integers: the EVP_CIPHER_CTX's address and addresses inside one
 * arena of memory allocated once through koffi, which JavaScript reads and writes through a
 * Uint8Array over the same memory. A koffi call with integer arguments costs ~0.15 µs
 * (`EVP_Cipher`, the EVP entry with the fewest checks); one with pointer or typed-array arguments
 * ~0.7 µs, no better than node:crypto. No allocation per call.
 *
 * The constructions are those of src/io/crypto.ts (CMAC over a never-finalised CBC context whose
 * chaining value is folded into the next message's first block; SIV's CTR as ECB of counter blocks
 * built here: one call per message, where a CTR context would need a second, costly, re-init for
 * its IV), so the two paths give the same bytes (test/nts/crypto-evp.test.ts checks both on the
 * RFC vectors and against each other). The OpenSSL is Node's own (its binary exports libcrypto's
 * symbols, so `dlopen(NULL)` finds them; it is the library node:crypto runs on), else the system's
 * libcrypto.so.3; `evpAes()` is null without either, or without koffi, and the caller falls back to
 * node:crypto. The key schedule lives in the EVP context, freed when its JavaScript object is
 * garbage-collected (FinalizationRegistry). `EvpSiv.sealRange`/`openRange` work on byte ranges of
 * one buffer (an NTS packet, a cookie), so the NTS server makes no views per reply.
 */

import type { Aead, Cmac } from '../wire/crypto.js';
import {
  ARENA,
  BLOCK,
  batchable,
  CHUNK,
  DATA,
  IN,
  MANY,
  OUT,
  openMany,
  type SivParts,
  sealMany,
  selfTest,
  toArena,
} from './crypto-evp-batch.js';
import { libc } from './ffi.js';

/** The AES key length (bits) of an AES-SIV key (twice as long: S2V key, then CTR key); throws if neither. */
export function sivKeyBits(key: Uint8Array): 128 | 256 {
  const bits = key.length * 4;
  if (bits !== 128 && bits !== 256)
    throw new RangeError(`AES-SIV key must be 32 or 64 bytes, not ${key.length}`);
  return bits;
}

type Cipher = (ctx: number, out: number, inp: number, inl: number) => number;

/** OpenSSL's AES block ciphers over one arena (see the module comment). */
export interface EvpAes {
  /** Where the library was found: 'node' (Node's own OpenSSL) or the file name loaded. */
  readonly source: string;
  /** The arena: input at IN, output at OUT, each CHUNK bytes. */
  readonly mem: Uint8Array;
  /** The same arena as 32-bit words (xors of whole blocks; byte order does not matter for them). */
  readonly mem32: Int32Array;
  /** An encryption context for `AES-<bits>-<mode>` under `key` (zero IV), padding off; its address. */
  context(mode: 'CBC' | 'ECB', bits: number, key: Uint8Array): number;
  /** Encrypts `len` bytes (a multiple of 16, ≤ CHUNK) from the arena's input to its output. */
  update(ctx: number, len: number): void;
  free(ctx: number): void;
}

let loaded: EvpAes | null | undefined;

function bind(source: string, lib: { func(...a: unknown[]): unknown }, koffi: KoffiMem): EvpAes {
  const f = <T>(name: string, ret: string, args: string[]) => lib.func(name, ret, args) as T;
  const fetch = f<(l: null, alg: string, p: null) => unknown>('EVP_CIPHER_fetch', 'void *', [
    'void *',
    'str',
    'str',
  ]);
  const ctxNew = f<() => number>('EVP_CIPHER_CTX_new', 'uintptr_t', []);
  const ctxFree = f<(c: number) => void>('EVP_CIPHER_CTX_free', 'void', ['uintptr_t']);
  const init = f<
    (c: number, ci: unknown, k: Uint8Array, iv: Uint8Array | null, e: number, p: null) => number
  >('EVP_CipherInit_ex2', 'int', ['uintptr_t', 'void *', 'uint8_t *', 'uint8_t *', 'int', 'void *']);
  const padding = f<(c: number, pad: number) => number>('EVP_CIPHER_CTX_set_padding', 'int', [
    'uintptr_t',
    'int',
  ]);
  // EVP_Cipher: for a provider's cipher, its one-shot `cipher` function (no partial-block
  // buffering, which padding off and whole blocks do not need); returns the length done.
  const cipherCall = f<Cipher>('EVP_Cipher', 'int', ['uintptr_t', 'uintptr_t', 'uintptr_t', 'uint32_t']);
  const ciphers = new Map<string, unknown>();
  const cipher = (name: string): unknown => {
    let c = ciphers.get(name);
    if (c === undefined) {
      c = fetch(null, name, null);
      if (c === null) throw new Error(`OpenSSL has no ${name}`);
      ciphers.set(name, c);
    }
    return c;
  };
  const ptr = koffi.alloc('uint8_t', ARENA);
  const buffer = koffi.view(ptr, ARENA);
  const mem = new Uint8Array(buffer);
  const mem32 = new Int32Array(buffer);
  const base = Number(koffi.address(ptr));
  const zeroIv = new Uint8Array(BLOCK);
  return {
    source,
    mem,
    mem32,
    context(mode, bits, key) {
      const c = ctxNew();
      if (c === 0) throw new Error('EVP_CIPHER_CTX_new failed');
      if (init(c, cipher(`AES-${bits}-${mode}`), key, mode === 'ECB' ? null : zeroIv, 1, null) !== 1) {
        ctxFree(c);
        throw new Error(`EVP_CipherInit_ex2(AES-${bits}-${mode}) failed`);
      }
      padding(c, 0);
      return c;
    },
    update(ctx, len) {
      if (len % BLOCK !== 0 || len > CHUNK || len <= 0) throw new RangeError(`bad EVP length ${len}`);
      // Keep `ptr` reachable as long as this object is: the arena is freed with it.
      if (cipherCall(ctx, base + OUT, base + IN, len) !== len || ptr === null)
        throw new Error('EVP_Cipher failed');
    },
    free: (ctx) => ctxFree(ctx),
  };
}

interface KoffiMem {
  load(path: string | null): { func(...a: unknown[]): unknown };
  alloc(type: string, count: number): unknown;
  view(ptr: unknown, len: number): ArrayBuffer;
  address(ptr: unknown): bigint;
}

/** The EVP binding, or null where koffi or OpenSSL's EVP API (3.0 or later) cannot be reached. */
export function evpAes(): EvpAes | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const k = libc()?.koffi as unknown as KoffiMem | undefined;
  if (k === undefined) return loaded;
  for (const [source, path] of [
    ['node', null],
    ['libcrypto.so.3', 'libcrypto.so.3'],
  ] as const) {
    try {
      const evp = bind(source, k.load(path), k);
      selfTest(evp);
      loaded = evp;
      return loaded;
    } catch {
      // not here: the next one, then node:crypto
    }
  }
  return loaded;
}

/** Frees an EVP context when the object holding it is collected. */
const contexts = new FinalizationRegistry<{ evp: EvpAes; ctx: number }>((h) => h.evp.free(h.ctx));

/** Doubling in GF(2^128) in place (RFC 4493 / RFC 5297 `dbl`), constant time. */
function dblInPlace(b: Uint8Array): void {
  const top = (b[0] as number) >>> 7;
  for (let i = 0; i < BLOCK - 1; i++) b[i] = (((b[i] as number) << 1) | ((b[i + 1] as number) >>> 7)) & 0xff;
  b[BLOCK - 1] = (((b[BLOCK - 1] as number) << 1) & 0xff) ^ (0x87 & -top);
}

/** AES-CMAC (RFC 4493) over an EVP AES-CBC context. */
export class EvpCmac implements Cmac {
  private readonly ctx: number;
  /** The CBC chaining value left by the previous message (zero at first), as bytes and words. */
  private readonly chain = new Uint8Array(BLOCK);
  private readonly chain32 = new Int32Array(this.chain.buffer);
  private readonly k1 = new Uint8Array(BLOCK);
  private readonly k2 = new Uint8Array(BLOCK);
  private readonly k132 = new Int32Array(this.k1.buffer);
  private readonly k232 = new Int32Array(this.k2.buffer);

  constructor(
    private readonly evp: EvpAes,
    bits: number,
    key: Uint8Array,
  ) {
    if (key.length * 8 !== bits) throw new RangeError(`AES-${bits}-CMAC key must be ${bits / 8} bytes`);
    this.ctx = evp.context('CBC', bits, key);
    contexts.register(this, { evp, ctx: this.ctx });
    // L = AES_K(0^128), the first CBC block from the zero IV; it is the chaining value after.
    const m = evp.mem;
    m.fill(0, IN, IN + BLOCK);
    evp.update(this.ctx, BLOCK);
    this.chain.set(m.subarray(OUT, OUT + BLOCK));
    this.k1.set(this.chain);
    dblInPlace(this.k1);
    this.k2.set(this.k1);
    dblInPlace(this.k2);
  }

  mac(msg: Uint8Array): Uint8Array {
    const out = new Uint8Array(BLOCK);
    this.macAt(msg, 0, msg.length, null, out, 0);
    return out;
  }

  /** K1 and K2 as 32-bit words (the batch forms mask with them). */
  subkeyWords(): [Int32Array, Int32Array] {
    return [this.k132, this.k232];
  }

  /**
   * The CMAC of `msg` into `out` (16 bytes); with `xorEnd` (16 bytes, `msg` at least as long), of
   * `msg` with `xorEnd` xored into its last 16 bytes (S2V's xorend).
   */
  macInto(msg: Uint8Array, xorEnd: Uint8Array | null, out: Uint8Array): void {
    this.macAt(msg, 0, msg.length, xorEnd, out, 0);
  }

  /** `macInto` of the `n` bytes of `buf` at `at`, into `out` at `outAt`. */
  macAt(
    buf: Uint8Array,
    at: number,
    n: number,
    xorEnd: Uint8Array | null,
    out: Uint8Array,
    outAt: number,
  ): void {
    const m = this.evp.mem;
    const w = this.evp.mem32;
    const len = n === 0 ? BLOCK : (n + BLOCK - 1) & ~(BLOCK - 1);
    const complete = n > 0 && (n & (BLOCK - 1)) === 0;
    const sub = complete ? this.k132 : this.k232;
    const chain = this.chain32;
    const xorFrom = n - BLOCK;
    for (let start = 0; start < len; start += CHUNK) {
      const end = len - start > CHUNK ? start + CHUNK : len;
      const have = (n < end ? n : end) - start;
      if (have > 0) toArena(m, IN, buf, at + start, have);
      if (end === len) {
        // the last chunk: padding, then the subkey over the last block
        if (!complete) {
          m[IN + n - start] = 0x80;
          for (let i = IN + n - start + 1; i < IN + len - start; i++) m[i] = 0;
        }
        const q = (IN + len - start - BLOCK) >> 2;
        w[q] = (w[q] as number) ^ (sub[0] as number);
        w[q + 1] = (w[q + 1] as number) ^ (sub[1] as number);
        w[q + 2] = (w[q + 2] as number) ^ (sub[2] as number);
        w[q + 3] = (w[q + 3] as number) ^ (sub[3] as number);
      }
      if (xorEnd !== null)
        for (let i = xorFrom > start ? xorFrom : start; i < (n < end ? n : end); i++)
          m[IN + i - start] = (m[IN + i - start] as number) ^ (xorEnd[i - xorFrom] as number);
      if (start === 0) {
        w[0] = (w[0] as number) ^ (chain[0] as number);
        w[1] = (w[1] as number) ^ (chain[1] as number);
        w[2] = (w[2] as number) ^ (chain[2] as number);
        w[3] = (w[3] as number) ^ (chain[3] as number);
      }
      this.evp.update(this.ctx, end - start);
    }
    // the CBC context chained across chunks by itself; its last block is the MAC
    const lastChunk = len - Math.floor((len - 1) / CHUNK) * CHUNK;
    const last = OUT + lastChunk - BLOCK;
    const q = last >> 2;
    chain[0] = w[q] as number;
    chain[1] = w[q + 1] as number;
    chain[2] = w[q + 2] as number;
    chain[3] = w[q + 3] as number;
    const c = this.chain;
    for (let i = 0; i < BLOCK; i++) out[outAt + i] = c[i] as number;
  }
}

/** AES-SIV (RFC 5297) with a key of twice the AES key length: S2V key first, CTR key second. */
export class EvpSiv implements Aead {
  private readonly cmac: EvpCmac;
  private readonly bits: number;
  private readonly ctrKey: Uint8Array;
  private readonly macKey: Uint8Array;
  /** The batch forms' contexts and constants (`openMany`, `sealMany`), made on first use. */
  private batch: SivParts | null = null;
  /** The CTR key's ECB context (the keystream: counter blocks encrypted), made on first use. */
  private ctr = 0;
  /** S2V's first value, CMAC(K, 0^128), fixed per key. */
  private readonly d0 = new Uint8Array(BLOCK);
  /** S2V's running value and the number of strings in it. */
  private readonly d = new Uint8Array(BLOCK);
  private strings = 0;
  private readonly t = new Uint8Array(BLOCK);
  private readonly check = new Uint8Array(BLOCK);
  private readonly v = new Uint8Array(BLOCK);
  /** The first counter block, Q (RFC 5297 section 2.6). */
  private readonly q = new Uint8Array(BLOCK);
  private readonly q32 = new Int32Array(this.q.buffer);
  /**
   * The last first associated-data string of at most 16 bytes and S2V's value after it: a cookie's
   * first string is its master key's ID, the same in every cookie (associated data is public, so
   * the comparison may take the time it likes).
   */
  private readonly ad0 = new Uint8Array(BLOCK);
  private ad0Length = -1;
  private readonly d1 = new Uint8Array(BLOCK);

  constructor(
    private readonly evp: EvpAes,
    readonly id: number,
    key: Uint8Array,
  ) {
    const bits = sivKeyBits(key);
    this.bits = bits;
    this.cmac = new EvpCmac(evp, bits, key.subarray(0, key.length / 2));
    this.macKey = Uint8Array.from(key.subarray(0, key.length / 2));
    this.ctrKey = Uint8Array.from(key.subarray(key.length / 2));
    this.cmac.macInto(new Uint8Array(BLOCK), null, this.d0);
  }

  /** S2V (RFC 5297 section 2.4) over the associated-data strings and the plaintext, into `v`. */
  s2v(ad: readonly Uint8Array[], plaintext: Uint8Array, v: Uint8Array = new Uint8Array(BLOCK)): Uint8Array {
    this.d.set(this.d0);
    this.strings = 0;
    for (const s of ad) this.addString(s, 0, s.length);
    this.finish(plaintext, 0, plaintext.length, v, 0);
    return v;
  }

  /** One associated-data string into S2V's running value. */
  private addString(buf: Uint8Array, at: number, n: number): void {
    const d = this.d;
    const t = this.t;
    if (this.strings++ === 0 && n <= BLOCK) {
      let same = n === this.ad0Length;
      for (let i = 0; same && i < n; i++) same = buf[at + i] === this.ad0[i];
      if (same) {
        d.set(this.d1);
        return;
      }
      dblInPlace(d);
      this.cmac.macAt(buf, at, n, null, t, 0);
      for (let i = 0; i < BLOCK; i++) d[i] = (d[i] as number) ^ (t[i] as number);
      for (let i = 0; i < n; i++) this.ad0[i] = buf[at + i] as number;
      this.ad0Length = n;
      this.d1.set(d);
      return;
    }
    dblInPlace(d);
    this.cmac.macAt(buf, at, n, null, t, 0);
    for (let i = 0; i < BLOCK; i++) d[i] = (d[i] as number) ^ (t[i] as number);
  }

  /** S2V's last step over the plaintext (`n` bytes of `buf` at `at`): V into `v` at `vAt`. */
  private finish(buf: Uint8Array, at: number, n: number, v: Uint8Array, vAt: number): void {
    const d = this.d;
    if (n >= BLOCK) {
      this.cmac.macAt(buf, at, n, d, v, vAt);
      return;
    }
    dblInPlace(d);
    for (let i = 0; i < n; i++) d[i] = (d[i] as number) ^ (buf[at + i] as number);
    d[n] = (d[n] as number) ^ 0x80;
    this.cmac.macAt(d, 0, BLOCK, null, v, vAt);
  }

  /**
   * The `n` bytes of `src` at `at` xor the AES-CTR keystream from V (16 bytes of `v` at `vAt`,
   * bits 63 and 31 cleared, RFC 5297 section 2.5) into `dst` at `dstAt` (which may be `src` at
   * `at`). The counter is 128-bit big-endian; with bit 31 cleared, its low 32-bit word cannot
   * carry for messages under 2^31 blocks, so only that word is incremented. V is read first.
   */
  private ctrXor(
    v: Uint8Array,
    vAt: number,
    src: Uint8Array,
    at: number,
    n: number,
    dst: Uint8Array,
    dstAt: number,
  ): void {
    if (n === 0) return;
    const evp = this.evp;
    if (this.ctr === 0) this.ctr = this.ecb(this.ctrKey);
    const m = evp.mem;
    const w = evp.mem32;
    const q = this.q;
    for (let i = 0; i < BLOCK; i++) q[i] = v[vAt + i] as number;
    q[8] = (q[8] as number) & 0x7f;
    q[12] = (q[12] as number) & 0x7f;
    const q32 = this.q32;
    const low =
      (((q[12] as number) << 24) |
        ((q[13] as number) << 16) |
        ((q[14] as number) << 8) |
        (q[15] as number)) >>>
      0;
    let block = 0;
    for (let start = 0; start < n; start += CHUNK) {
      const k = n - start < CHUNK ? n - start : CHUNK;
      const len = (k + BLOCK - 1) & ~(BLOCK - 1);
      for (let b = IN >> 2; b < (IN + len) >> 2; b += 4, block++) {
        w[b] = q32[0] as number;
        w[b + 1] = q32[1] as number;
        w[b + 2] = q32[2] as number;
        const c = (low + block) >>> 0;
        const at4 = (b << 2) + 12;
        m[at4] = c >>> 24;
        m[at4 + 1] = (c >>> 16) & 0xff;
        m[at4 + 2] = (c >>> 8) & 0xff;
        m[at4 + 3] = c & 0xff;
      }
      evp.update(this.ctr, len);
      toArena(m, DATA, src, at + start, k);
      for (let j = DATA >> 2, o = OUT >> 2; j < (DATA + k + 3) >> 2; j++, o++)
        w[j] = (w[j] as number) ^ (w[o] as number);
      if (k <= BLOCK) for (let i = 0; i < k; i++) dst[dstAt + start + i] = m[DATA + i] as number;
      else dst.set(m.subarray(DATA, DATA + k), dstAt + start);
    }
  }

  seal(ad: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
    const out = new Uint8Array(BLOCK + plaintext.length);
    this.sealTo(ad, plaintext, out, 0);
    return out;
  }

  sealTo(ad: readonly Uint8Array[], plaintext: Uint8Array, out: Uint8Array, at: number): void {
    if (at < 0 || at + BLOCK + plaintext.length > out.length)
      throw new RangeError('sealTo: out is too short');
    const v = this.s2v(ad, plaintext, this.v);
    this.ctrXor(v, 0, plaintext, 0, plaintext.length, out, at + BLOCK);
    out.set(v, at);
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
    if (outAt < 0 || outAt + BLOCK + pLength > out.length || pAt + pLength > buf.length)
      throw new RangeError('sealRange: out of bounds');
    this.d.set(this.d0);
    this.strings = 0;
    this.addString(buf, aAt, aLength);
    this.addString(buf, nAt, nLength);
    const v = this.v;
    this.finish(buf, pAt, pLength, v, 0);
    this.ctrXor(v, 0, buf, pAt, pLength, out, outAt + BLOCK);
    for (let i = 0; i < BLOCK; i++) out[outAt + i] = v[i] as number;
  }

  open(ad: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | null {
    if (sealed.length < BLOCK) return null;
    const p = new Uint8Array(sealed.length - BLOCK);
    return this.openTo(ad, sealed, p, 0) ? p : null;
  }

  openTo(ad: readonly Uint8Array[], sealed: Uint8Array, out: Uint8Array, at: number): boolean {
    const n = sealed.length - BLOCK;
    if (n < 0 || at < 0 || at + n > out.length) return false;
    this.ctrXor(sealed, 0, sealed, BLOCK, n, out, at);
    this.d.set(this.d0);
    this.strings = 0;
    for (const s of ad) this.addString(s, 0, s.length);
    return this.verify(sealed, 0, out, at, n);
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
    if (n < 0 || outAt < 0 || outAt + n > out.length || cAt + cLength > buf.length) return false;
    this.ctrXor(buf, cAt, buf, cAt + BLOCK, n, out, outAt);
    this.d.set(this.d0);
    this.strings = 0;
    this.addString(buf, aAt, aLength);
    this.addString(buf, nAt, nLength);
    return this.verify(buf, cAt, out, outAt, n);
  }

  /** An ECB context under `key`, freed with this object. */
  private ecb(key: Uint8Array): number {
    const ctx = this.evp.context('ECB', this.bits, key);
    contexts.register(this, { evp: this.evp, ctx });
    return ctx;
  }

  private parts(): SivParts {
    if (this.batch === null) {
      if (this.ctr === 0) this.ctr = this.ecb(this.ctrKey);
      const [k1, k2] = this.cmac.subkeyWords();
      this.batch = { evp: this.evp, macEcb: this.ecb(this.macKey), k1, k2, d0: this.d0, ctr: this.ctr };
    }
    return this.batch;
  }

  openMany(
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
    for (let j = 0; j < count; j++) {
      const b = bufs[j] as Uint8Array;
      const at = ats[j] as number;
      const to = outAts[j] as number;
      if (
        at < 0 ||
        at + aLength + nLength + cLength > b.length ||
        to < 0 ||
        to + cLength - BLOCK > out.length
      )
        throw new RangeError('openMany: out of bounds');
    }
    if (count > MANY)
      for (let j = 0; j < count; j += MANY) {
        const e = Math.min(count, j + MANY);
        const sub = bufs.slice(j, e);
        this.openMany(
          sub,
          ats.subarray(j, e),
          e - j,
          aLength,
          nLength,
          cLength,
          out,
          outAts.subarray(j, e),
          ok.subarray(j, e),
        );
      }
    else if (count > 1 && batchable(count, aLength, nLength, cLength - BLOCK))
      openMany(this.parts(), bufs, ats, count, aLength, nLength, cLength, out, outAts, ok);
    else
      for (let j = 0; j < count; j++) {
        const b = bufs[j] as Uint8Array;
        const at = ats[j] as number;
        const c = at + aLength + nLength;
        ok[j] = this.openRange(b, at, aLength, at + aLength, nLength, c, cLength, out, outAts[j] as number)
          ? 1
          : 0;
      }
  }

  sealMany(
    bufs: readonly Uint8Array[],
    ats: Int32Array,
    count: number,
    aLength: number,
    nLength: number,
    pLength: number,
  ): void {
    for (let j = 0; j < count; j++) {
      const at = ats[j] as number;
      if (at < 0 || at + aLength + nLength + BLOCK + pLength > (bufs[j] as Uint8Array).length)
        throw new RangeError('sealMany: out of bounds');
    }
    if (count > MANY) {
      for (let j = 0; j < count; j += MANY) {
        const e = Math.min(count, j + MANY);
        this.sealMany(bufs.slice(j, e), ats.subarray(j, e), e - j, aLength, nLength, pLength);
      }
      return;
    }
    if (count > 1 && batchable(count, aLength, nLength, pLength)) {
      sealMany(this.parts(), bufs, ats, count, aLength, nLength, pLength);
      return;
    }
    for (let j = 0; j < count; j++) {
      const b = bufs[j] as Uint8Array;
      const at = ats[j] as number;
      const p = at + aLength + nLength + BLOCK;
      this.sealRange(b, at, aLength, at + aLength, nLength, p, pLength, b, p - BLOCK);
    }
  }

  /** S2V's last step over the decrypted `n` bytes of `p` at `pAt`, compared with V (`v` at `vAt`). */
  private verify(v: Uint8Array, vAt: number, p: Uint8Array, pAt: number, n: number): boolean {
    const w = this.check;
    this.finish(p, pAt, n, w, 0);
    let diff = 0;
    for (let i = 0; i < BLOCK; i++) diff |= (w[i] as number) ^ (v[vAt + i] as number);
    if (diff === 0) return true;
    p.fill(0, pAt, pAt + n);
    return false;
  }
}
