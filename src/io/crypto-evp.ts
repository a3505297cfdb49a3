/**
 * AES-CMAC (RFC 4493) and AES-SIV (RFC 5297) on OpenSSL's EVP block ciphers called through koffi,
 * without node:crypto's per-call costs: a `Cipher.update` allocates a Buffer for its output and
 * crosses Node's C++ binding (about 0.6 µs a call here), and an NTS reply makes ~15 such calls.
 *
 * Every call here takes plain integers: the EVP_CIPHER_CTX's address and addresses inside one
 * arena of memory allocated once through koffi, which JavaScript reads and writes through a
 * Uint8Array over the same memory. A koffi call with integer arguments costs ~0.2 µs; one with
 * pointer or typed-array arguments ~0.7 µs, no better than node:crypto. No allocation per call.
 *
 * The constructions are those of src/io/crypto.ts (CMAC over a never-finalised CBC context whose
 * chaining value is folded into the next message's first block; SIV's CTR as ECB of counter blocks
 * built here), so the two paths give the same bytes (test/nts/crypto-evp.test.ts checks both on
 * the RFC vectors and against each other). The OpenSSL is Node's own (its binary exports libcrypto's
 * symbols, so `dlopen(NULL)` finds them; it is the library node:crypto runs on), else the system's
 * libcrypto.so.3; `evpAes()` is null without either, or without koffi, and the caller falls back to
 * node:crypto. The key schedule lives in the EVP context, freed when its JavaScript object is
 * garbage-collected (FinalizationRegistry).
 */

import type { Aead, Cmac } from '../wire/crypto.js';
import { libc } from './ffi.js';

/** The AES key length (bits) of an AES-SIV key (twice as long: S2V key, then CTR key); throws if neither. */
export function sivKeyBits(key: Uint8Array): 128 | 256 {
  const bits = key.length * 4;
  if (bits !== 128 && bits !== 256)
    throw new RangeError(`AES-SIV key must be 32 or 64 bytes, not ${key.length}`);
  return bits;
}

const BLOCK = 16;
/** Bytes per EVP call; longer messages are fed in chunks (CBC and the counter carry across them). */
const CHUNK = 4096;
const IN = 0;
const OUT = CHUNK;
const OUTL = 2 * CHUNK;
/** A CTR context's next IV (the initial counter block). */
const IV = 2 * CHUNK + 16;
const ARENA = 2 * CHUNK + 32;

type Update = (ctx: number, out: number, outl: number, inp: number, inl: number) => number;

/** OpenSSL's AES block ciphers over one arena (see the module comment). */
export interface EvpAes {
  /** Where the library was found: 'node' (Node's own OpenSSL) or the file name loaded. */
  readonly source: string;
  /** The arena: input at IN, output at OUT, each CHUNK bytes. */
  readonly mem: Uint8Array;
  /** The same arena as 32-bit words (xors of whole blocks; byte order does not matter for them). */
  readonly mem32: Int32Array;
  /** An encryption context for `AES-<bits>-<mode>` under `key` (zero IV), padding off; its address. */
  context(mode: 'CBC' | 'ECB' | 'CTR', bits: number, key: Uint8Array): number;
  /** Restarts a CTR context from the counter block at the arena's IV offset (the key is kept). */
  restart(ctx: number): void;
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
  const reinit = f<(c: number, ci: number, k: number, iv: number, e: number, p: number) => number>(
    'EVP_CipherInit_ex2',
    'int',
    ['uintptr_t', 'uintptr_t', 'uintptr_t', 'uintptr_t', 'int', 'uintptr_t'],
  );
  const update = f<Update>('EVP_EncryptUpdate', 'int', [
    'uintptr_t',
    'uintptr_t',
    'uintptr_t',
    'uintptr_t',
    'int',
  ]);
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
      if (len % BLOCK !== 0 || len > CHUNK) throw new RangeError(`bad EVP length ${len}`);
      // Keep `ptr` reachable as long as this object is: the arena is freed with it.
      if (update(ctx, base + OUT, base + OUTL, base + IN, len) !== 1 || ptr === null)
        throw new Error('EVP_EncryptUpdate failed');
    },
    restart(ctx) {
      if (reinit(ctx, 0, 0, base + IV, 1, 0) !== 1) throw new Error('EVP_CipherInit_ex2 (IV) failed');
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

/** AES-128(0^128 key) of 0^128 (FIPS 197 / the well-known value), so a broken binding is never used. */
function selfTest(evp: EvpAes): void {
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
    this.macInto(msg, null, out);
    return out;
  }

  /**
   * The CMAC of `msg` into `out` (16 bytes); with `xorEnd` (16 bytes, `msg` at least as long), of
   * `msg` with `xorEnd` xored into its last 16 bytes (S2V's xorend).
   */
  macInto(msg: Uint8Array, xorEnd: Uint8Array | null, out: Uint8Array): void {
    const m = this.evp.mem;
    const w = this.evp.mem32;
    const n = msg.length;
    const len = Math.max(1, Math.ceil(n / BLOCK)) * BLOCK;
    const complete = n > 0 && n % BLOCK === 0;
    const sub = complete ? this.k132 : this.k232;
    const chain = this.chain32;
    const xorFrom = n - BLOCK;
    for (let start = 0; start < len; start += CHUNK) {
      const end = Math.min(len, start + CHUNK);
      const have = Math.min(n, end) - start;
      if (have === n) m.set(msg, IN);
      else if (have > 0) m.set(msg.subarray(start, start + have), IN);
      if (end === len) {
        // the last chunk: padding, then the subkey over the last block
        if (!complete) {
          m[IN + n - start] = 0x80;
          m.fill(0, IN + n - start + 1, IN + len - start);
        }
        const at = (IN + len - start - BLOCK) >> 2;
        w[at] = (w[at] as number) ^ (sub[0] as number);
        w[at + 1] = (w[at + 1] as number) ^ (sub[1] as number);
        w[at + 2] = (w[at + 2] as number) ^ (sub[2] as number);
        w[at + 3] = (w[at + 3] as number) ^ (sub[3] as number);
      }
      if (xorEnd !== null)
        for (let i = Math.max(start, xorFrom); i < Math.min(end, n); i++)
          m[IN + i - start] = (m[IN + i - start] as number) ^ (xorEnd[i - xorFrom] as number);
      if (start === 0) {
        const at = IN >> 2;
        w[at] = (w[at] as number) ^ (chain[0] as number);
        w[at + 1] = (w[at + 1] as number) ^ (chain[1] as number);
        w[at + 2] = (w[at + 2] as number) ^ (chain[2] as number);
        w[at + 3] = (w[at + 3] as number) ^ (chain[3] as number);
      }
      this.evp.update(this.ctx, end - start);
      if (end < len) {
        // the CBC context chains into the next chunk by itself
        continue;
      }
      const last = (OUT + end - start - BLOCK) >> 2;
      chain[0] = w[last] as number;
      chain[1] = w[last + 1] as number;
      chain[2] = w[last + 2] as number;
      chain[3] = w[last + 3] as number;
      out.set(this.chain);
    }
  }
}

/** AES-SIV (RFC 5297) with a key of twice the AES key length: S2V key first, CTR key second. */
export class EvpSiv implements Aead {
  private readonly cmac: EvpCmac;
  private readonly bits: number;
  private readonly ctrKey: Uint8Array;
  /** The CTR (ECB) context, made on first use (an NTS request's authenticator encrypts nothing). */
  private ctr = 0;
  /** S2V's first value, CMAC(K, 0^128), fixed per key. */
  private readonly d0 = new Uint8Array(BLOCK);
  private readonly d = new Uint8Array(BLOCK);
  private readonly t = new Uint8Array(BLOCK);
  private readonly counter = new Uint8Array(BLOCK);
  private readonly v = new Uint8Array(BLOCK);
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
    this.ctrKey = Uint8Array.from(key.subarray(key.length / 2));
    this.cmac.macInto(new Uint8Array(BLOCK), null, this.d0);
  }

  /** S2V (RFC 5297 section 2.4) over the associated-data strings and the plaintext, into `v`. */
  s2v(ad: readonly Uint8Array[], plaintext: Uint8Array, v: Uint8Array = new Uint8Array(BLOCK)): Uint8Array {
    const d = this.d;
    const t = this.t;
    d.set(this.d0);
    let from = 0;
    const first = ad[0];
    if (first !== undefined && first.length <= BLOCK) {
      from = 1;
      let same = first.length === this.ad0Length;
      for (let i = 0; same && i < first.length; i++) same = first[i] === this.ad0[i];
      if (same) d.set(this.d1);
      else {
        dblInPlace(d);
        this.cmac.macInto(first, null, t);
        for (let i = 0; i < BLOCK; i++) d[i] = (d[i] as number) ^ (t[i] as number);
        this.ad0.set(first);
        this.ad0Length = first.length;
        this.d1.set(d);
      }
    }
    for (let j = from; j < ad.length; j++) {
      dblInPlace(d);
      this.cmac.macInto(ad[j] as Uint8Array, null, t);
      for (let i = 0; i < BLOCK; i++) d[i] = (d[i] as number) ^ (t[i] as number);
    }
    if (plaintext.length >= BLOCK) {
      this.cmac.macInto(plaintext, d, v);
      return v;
    }
    dblInPlace(d);
    for (let i = 0; i < plaintext.length; i++) d[i] = (d[i] as number) ^ (plaintext[i] as number);
    d[plaintext.length] = (d[plaintext.length] as number) ^ 0x80;
    this.cmac.macInto(d, null, v);
    return v;
  }

  /**
   * `data` xor the AES-CTR keystream from `v` (bits 63 and 31 cleared, RFC 5297 section 2.5) into
   * `out` at `at`: OpenSSL's CTR mode (a 128-bit big-endian counter, as RFC 5297), restarted from
   * the IV for each message.
   */
  private ctrXor(v: Uint8Array, data: Uint8Array, out: Uint8Array, at: number): void {
    if (data.length === 0) return;
    const evp = this.evp;
    if (this.ctr === 0) {
      this.ctr = evp.context('CTR', this.bits, this.ctrKey);
      contexts.register(this, { evp, ctx: this.ctr });
    }
    const m = evp.mem;
    m.set(v, IV);
    m[IV + 8] = (m[IV + 8] as number) & 0x7f;
    m[IV + 12] = (m[IV + 12] as number) & 0x7f;
    evp.restart(this.ctr);
    for (let start = 0; start < data.length; start += CHUNK) {
      const n = Math.min(CHUNK, data.length - start);
      const len = Math.ceil(n / BLOCK) * BLOCK;
      if (n === data.length) m.set(data, IN);
      else m.set(data.subarray(start, start + n), IN);
      // a partial last block: CTR encrypts whatever stands after the data, only n bytes are used
      evp.update(this.ctr, len);
      out.set(m.subarray(OUT, OUT + n), at + start);
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
    out.set(v, at);
    this.ctrXor(v, plaintext, out, at + BLOCK);
  }

  open(ad: readonly Uint8Array[], sealed: Uint8Array): Uint8Array | null {
    if (sealed.length < BLOCK) return null;
    const p = new Uint8Array(sealed.length - BLOCK);
    return this.openTo(ad, sealed, p, 0) ? p : null;
  }

  openTo(ad: readonly Uint8Array[], sealed: Uint8Array, out: Uint8Array, at: number): boolean {
    const n = sealed.length - BLOCK;
    if (n < 0 || at < 0 || at + n > out.length) return false;
    const v = sealed.subarray(0, BLOCK);
    const p = out.subarray(at, at + n);
    this.ctrXor(v, sealed.subarray(BLOCK), p, 0);
    const w = this.s2v(ad, p, this.counter);
    let diff = 0;
    for (let i = 0; i < BLOCK; i++) diff |= (w[i] as number) ^ (v[i] as number);
    if (diff === 0) return true;
    p.fill(0);
    return false;
  }
}
