/**
 * Server-side NTS cookies (RFC 8915 section 6 recommends this shape): the server keeps no per-client
 * state; each cookie carries the client's AEAD keys sealed under a server master key.
 *
 *   cookie = Key ID (u32) | Nonce (16) | AES-SIV(master[Key ID], ad = [Key ID, Nonce])(plaintext)
 *   plaintext = AEAD ID (u16) | reserved (u16, 0) | C2S key | S2C key
 *
 * For AEAD_AES_SIV_CMAC_256 a cookie is 4 + 16 + 16 + 68 = 104 bytes (a multiple of 4, which keeps
 * placeholders and padding simple). Master keys rotate: `rotate()` adds a fresh key and keeps the
 * previous `keep - 1` so that cookies issued shortly before a rotation still work. The caller decides
 * when to rotate (e.g. daily); the jar never reads a clock. Randomness and the AEAD (the host's
 * `CryptoProvider`) are injected; the NTS server code (src/nts/ntp.ts) uses the jar's provider.
 */

import { AEAD_AES_SIV_CMAC_256, type Aead, type CryptoProvider } from '../wire/crypto.js';
import { aeadKeyLength } from './ke.js';

/** Returns `n` cryptographically random bytes (node: `crypto.randomBytes`). */
export type RandomBytes = (n: number) => Uint8Array;

export const COOKIE_NONCE_LENGTH = 16;
export const MASTER_KEY_LENGTH = 32;
/** Clients whose two AEADs (C2S, S2C) the jar keeps made (`clientAeads`), oldest dropped first. */
export const CLIENT_AEAD_CACHE = 1024;

export interface NtsKeys {
  aead: number;
  c2s: Uint8Array;
  s2c: Uint8Array;
}

export type CookieOpenError = 'TOO_SHORT' | 'UNKNOWN_KEY' | 'AUTH_FAILED' | 'BAD_CONTENT';

function u32at(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

/** Whether `b` equals `a.length` bytes of `buf` at `at` (keys: constant time). */
function sameBytesAt(a: Uint8Array, buf: Uint8Array, at: number): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (buf[at + i] ?? 0x100);
  return d === 0;
}

function u32be(v: number): Uint8Array {
  return Uint8Array.from([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

/** A master key with its ID, as kept in a key file (see `CookieJar.exportKeys`). */
export interface MasterKey {
  id: number;
  key: Uint8Array;
}

export class CookieJar {
  private readonly keys = new Map<number, Aead>();
  private readonly raw = new Map<number, Uint8Array>();
  private readonly order: number[] = [];
  private nextId: number;
  private readonly listeners: Array<(keys: MasterKey[]) => void> = [];
  /** A client's AEADs by its keys (a client sends many requests with one pair of keys). */
  private readonly clients = new Map<
    number,
    { c2s: Aead; s2c: Aead; c2sKey: Uint8Array; s2cKey: Uint8Array }
  >();
  /** The plaintext of a cookie being sealed (AEAD_AES_SIV_CMAC_256 keys), zeroed after use. */
  private readonly plain = new Uint8Array(4 + 2 * 32);
  /** The current master key's ID as bytes (the cookie's first associated-data string). */
  private currentIdBytes: Uint8Array = new Uint8Array(4);

  /**
   * @param crypto the AEAD for sealing cookies (AEAD_AES_SIV_CMAC_256 under each master key)
   * @param random source of random bytes (master keys, nonces)
   * @param keep how many master keys are valid at once (current + previous), default 3
   */
  constructor(
    readonly crypto: CryptoProvider,
    private readonly random: RandomBytes,
    private readonly keep = 3,
  ) {
    const id = random(4);
    this.nextId = (((id[0] ?? 0) << 24) | ((id[1] ?? 0) << 16) | ((id[2] ?? 0) << 8) | (id[3] ?? 0)) >>> 0;
    this.rotate();
  }

  /** Adds a master key (random unless given) and makes it current; forgets keys beyond `keep`. */
  rotate(masterKey?: Uint8Array): number {
    const key = masterKey ?? this.random(MASTER_KEY_LENGTH);
    if (key.length !== MASTER_KEY_LENGTH)
      throw new RangeError(`master key must be ${MASTER_KEY_LENGTH} bytes`);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    this.keys.set(id, this.masterAead(key));
    this.raw.set(id, Uint8Array.from(key));
    this.order.push(id);
    while (this.order.length > this.keep) {
      const old = this.order.shift();
      if (old !== undefined) {
        this.keys.delete(old);
        this.raw.delete(old);
      }
    }
    this.currentIdBytes = u32be(id);
    this.changed();
    return id;
  }

  /**
   * Calls `listener` with the master keys (as `exportKeys`) after every change (rotation, import):
   * the host hands them on, e.g. to server workers that answer NTS requests with a jar of their
   * own. Returns the function that removes the listener.
   */
  onChange(listener: (keys: MasterKey[]) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private changed(): void {
    if (this.listeners.length === 0) return;
    const keys = this.exportKeys();
    for (const l of this.listeners) l(keys);
  }

  private masterAead(key: Uint8Array): Aead {
    const a = this.crypto.aead(AEAD_AES_SIV_CMAC_256, key);
    if (a === null) throw new RangeError(`${this.crypto.name} has no AEAD_AES_SIV_CMAC_256`);
    return a;
  }

  /** The master keys, oldest first (the last one is current): what a key file keeps across restarts. */
  exportKeys(): MasterKey[] {
    return this.order.map((id) => ({ id, key: Uint8Array.from(this.raw.get(id) ?? new Uint8Array(0)) }));
  }

  /**
   * Replaces the master keys by saved ones (oldest first; the last becomes current), so that cookies
   * issued before a restart stay valid. Throws on an empty list or a key of the wrong length.
   */
  importKeys(list: readonly MasterKey[]): void {
    if (list.length === 0) throw new RangeError('no master keys');
    for (const k of list) {
      if (k.key.length !== MASTER_KEY_LENGTH)
        throw new RangeError(`master key must be ${MASTER_KEY_LENGTH} bytes`);
      if (!Number.isInteger(k.id) || k.id < 0 || k.id > 0xffffffff) throw new RangeError('bad master key id');
    }
    this.keys.clear();
    this.raw.clear();
    this.order.length = 0;
    for (const k of list.slice(-this.keep)) {
      this.keys.set(k.id, this.masterAead(k.key));
      this.raw.set(k.id, Uint8Array.from(k.key));
      this.order.push(k.id);
    }
    this.nextId = ((list[list.length - 1]?.id ?? 0) + 1) >>> 0;
    this.currentIdBytes = u32be(this.currentKeyId());
    this.changed();
  }

  /**
   * The AEADs of a client's keys (C2S opens its requests, S2C seals the replies), made once per
   * pair of keys and kept for the last CLIENT_AEAD_CACHE clients: making them costs more than
   * using them, and every cookie of an NTS-KE session carries the same keys. Null when the
   * provider has no AEAD for them.
   */
  clientAeads(k: NtsKeys): { c2s: Aead; s2c: Aead } | null {
    const len = aeadKeyLength(k.aead);
    if (len === null || k.c2s.length !== len || k.s2c.length !== len) return null;
    return this.clientAeadsIn(k.aead, k.c2s, 0, k.s2c, 0, len);
  }

  /**
   * `clientAeads` for keys given in place: C2S at `c2sAt` of `c2s`, S2C at `s2cAt` of `s2c`, each
   * as long as AEAD `aead` wants (a cookie's plaintext from `openAt` holds both: 4 and 4 + length).
   */
  clientAeadsAt(
    aead: number,
    c2s: Uint8Array,
    c2sAt: number,
    s2c: Uint8Array,
    s2cAt: number,
  ): { c2s: Aead; s2c: Aead } | null {
    const len = aeadKeyLength(aead);
    if (len === null || c2sAt < 0 || s2cAt < 0 || c2sAt + len > c2s.length || s2cAt + len > s2c.length)
      return null;
    return this.clientAeadsIn(aead, c2s, c2sAt, s2c, s2cAt, len);
  }

  private clientAeadsIn(
    aead: number,
    c2sBuf: Uint8Array,
    c2sAt: number,
    s2cBuf: Uint8Array,
    s2cAt: number,
    len: number,
  ): { c2s: Aead; s2c: Aead } | null {
    // Looked up by a few bytes of the keys (a number: no string made per request), then the
    // whole keys compared; a colliding client replaces the entry.
    const id = (u32at(c2sBuf, c2sAt) ^ u32at(s2cBuf, s2cAt + 4) ^ (aead << 16)) >>> 0;
    const hit = this.clients.get(id);
    if (
      hit !== undefined &&
      hit.c2sKey.length === len &&
      sameBytesAt(hit.c2sKey, c2sBuf, c2sAt) &&
      sameBytesAt(hit.s2cKey, s2cBuf, s2cAt)
    )
      return hit;
    const k = { aead, c2s: c2sBuf.slice(c2sAt, c2sAt + len), s2c: s2cBuf.slice(s2cAt, s2cAt + len) };
    const c2s = this.crypto.aead(aead, k.c2s);
    const s2c = this.crypto.aead(aead, k.s2c);
    if (c2s === null || s2c === null) return null;
    if (this.clients.size >= CLIENT_AEAD_CACHE) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
    const pair = { c2s, s2c, c2sKey: Uint8Array.from(k.c2s), s2cKey: Uint8Array.from(k.s2c) };
    this.clients.delete(id);
    this.clients.set(id, pair);
    return pair;
  }

  /** The ID of the current master key. */
  currentKeyId(): number {
    return this.order[this.order.length - 1] ?? 0;
  }

  /** Seals a client's keys into a new cookie under the current master key. */
  seal(k: NtsKeys): Uint8Array {
    const out = new Uint8Array(this.cookieLength(k.aead) ?? 0);
    this.sealInto(k, out, 0);
    return out;
  }

  /** The length of a cookie holding keys of AEAD `aead` (null: not one the jar can seal). */
  cookieLength(aead: number): number | null {
    const len = aeadKeyLength(aead);
    return len === null ? null : 4 + COOKIE_NONCE_LENGTH + 16 + 4 + 2 * len;
  }

  /** `seal` written into `out` at `at` (`cookieLength` bytes). */
  sealInto(k: NtsKeys, out: Uint8Array, at: number): void {
    const len = aeadKeyLength(k.aead);
    if (len === null || k.c2s.length !== len || k.s2c.length !== len) {
      throw new RangeError(`keys do not fit AEAD algorithm ${k.aead}`);
    }
    const id = this.currentKeyId();
    const siv = this.keys.get(id);
    if (siv === undefined) throw new Error('no master key');
    const nonce = this.random(COOKIE_NONCE_LENGTH);
    const plain = this.plain.length === 4 + 2 * len ? this.plain : new Uint8Array(4 + 2 * len);
    plain[0] = k.aead >>> 8;
    plain[1] = k.aead & 0xff;
    plain.set(k.c2s, 4);
    plain.set(k.s2c, 4 + len);
    const idb = this.currentIdBytes;
    if (at < 0 || at + 4 + COOKIE_NONCE_LENGTH + 16 + plain.length > out.length)
      throw new RangeError('no room for the cookie');
    out.set(idb, at);
    out.set(nonce, at + 4);
    if (siv.sealTo !== undefined) siv.sealTo([idb, nonce], plain, out, at + 4 + COOKIE_NONCE_LENGTH);
    else out.set(siv.seal([idb, nonce], plain), at + 4 + COOKIE_NONCE_LENGTH);
    plain.fill(0);
  }

  /**
   * Seals a cookie in place, for a server that builds its reply where it sends it: `out` holds
   * the cookie's nonce (16 random bytes) at `at + 4`; the key ID is written before it and the
   * sealed plaintext after it. `plain` is the plaintext, AEAD ID (u16) | reserved (u16) | C2S |
   * S2C, as `openAt` leaves it. False (nothing sealed) when the current master key's AEAD has no
   * `sealRange` or `plain` is not the plaintext of a cookie the jar can seal.
   */
  sealAt(plain: Uint8Array, out: Uint8Array, at: number): boolean {
    const siv = this.keys.get(this.currentKeyId());
    const len = aeadKeyLength(((plain[0] ?? 0) << 8) | (plain[1] ?? 0));
    if (siv?.sealRange === undefined || len === null || plain.length !== 4 + 2 * len) return false;
    const p = at + 4 + COOKIE_NONCE_LENGTH + 16;
    if (at < 0 || p + plain.length > out.length) throw new RangeError('no room for the cookie');
    out.set(this.currentIdBytes, at);
    out.set(plain, p);
    out[p + 2] = 0;
    out[p + 3] = 0;
    siv.sealRange(out, at, 4, at + 4, COOKIE_NONCE_LENGTH, p, plain.length, out, p - 16);
    return true;
  }

  /**
   * Opens the `length`-byte cookie at `at` of `buf` in place: its plaintext (AEAD ID, reserved,
   * C2S key, S2C key) goes to `plain` (as long as that plaintext; the caller zeroes it after use).
   * Returns the AEAD ID, or -1 when the cookie does not open (too short, unknown key, forged, bad
   * content: `open` says which), -2 when the master key's AEAD has no `openRange`. Never throws.
   */
  openAt(buf: Uint8Array, at: number, length: number, plain: Uint8Array): number {
    if (length < 4 + COOKIE_NONCE_LENGTH + 16 + 4 || length - 20 - 16 !== plain.length) return -1;
    const siv = this.keys.get(u32at(buf, at));
    if (siv === undefined) return -1;
    if (siv.openRange === undefined) return -2;
    if (!siv.openRange(buf, at, 4, at + 4, COOKIE_NONCE_LENGTH, at + 20, length - 20, plain, 0)) return -1;
    const aead = ((plain[0] as number) << 8) | (plain[1] as number);
    const len = aeadKeyLength(aead);
    if (len !== null && plain.length === 4 + 2 * len) return aead;
    plain.fill(0);
    return -1;
  }

  /**
   * `openAt` for `count` cookies at once (a server's batch of requests): cookie j is the
   * lengths[j] bytes at ats[j] of bufs[j], its plaintext goes to `plain` at plainAts[j] (`plainLength`
   * bytes each); results[j] = its AEAD ID or -1 (-2: the AEAD cannot open in place). The cookies of
   * each master key are opened together where its AEAD has `openMany`. Never throws.
   */
  openMany(
    bufs: readonly Uint8Array[],
    ats: Int32Array,
    lengths: Int32Array,
    count: number,
    plain: Uint8Array,
    plainAts: Int32Array,
    plainLength: number,
    results: Int32Array,
  ): void {
    const g = this.group(count);
    results.fill(-1, 0, count);
    for (const [id, siv] of this.keys) {
      let k = 0;
      for (let j = 0; j < count; j++) {
        const b = bufs[j] as Uint8Array;
        const at = ats[j] as number;
        const to = plainAts[j] as number;
        if (
          lengths[j] !== 36 + plainLength ||
          u32at(b, at) !== id ||
          at < 0 ||
          at + 36 + plainLength > b.length
        )
          continue;
        if (to < 0 || to + plainLength > plain.length) continue;
        g.bufs[k] = b;
        g.ats[k] = at;
        g.outAts[k] = to;
        g.index[k++] = j;
      }
      if (k === 0) continue;
      if (siv.openMany !== undefined)
        siv.openMany(g.bufs, g.ats, k, 4, COOKIE_NONCE_LENGTH, 16 + plainLength, plain, g.outAts, g.ok);
      else if (siv.openRange !== undefined)
        for (let i = 0; i < k; i++) {
          const at = g.ats[i] as number;
          const b = g.bufs[i] as Uint8Array;
          g.ok[i] = siv.openRange(
            b,
            at,
            4,
            at + 4,
            16,
            at + 20,
            16 + plainLength,
            plain,
            g.outAts[i] as number,
          )
            ? 1
            : 0;
        }
      else {
        for (let i = 0; i < k; i++) results[g.index[i] as number] = -2;
        continue;
      }
      for (let i = 0; i < k; i++) {
        const to = g.outAts[i] as number;
        const aead = ((plain[to] as number) << 8) | (plain[to + 1] as number);
        const len = aeadKeyLength(aead);
        if (g.ok[i] === 1 && len !== null && plainLength === 4 + 2 * len)
          results[g.index[i] as number] = aead;
        else plain.fill(0, to, to + plainLength);
      }
    }
  }

  /**
   * Seals `count` cookies in place under the current master key (a server's batch of replies):
   * cookie j at ats[j] of bufs[j] has its nonce at +4 and its plaintext (`plainLength` bytes, as
   * `openMany` left it) at +36, written by the caller; the key ID, the reserved bytes and the
   * sealed form are written here. False (nothing sealed) when the AEAD has neither `sealMany` nor
   * `sealRange`.
   */
  sealPrepared(bufs: readonly Uint8Array[], ats: Int32Array, count: number, plainLength: number): boolean {
    const siv = this.keys.get(this.currentKeyId());
    if (siv === undefined || (siv.sealMany === undefined && siv.sealRange === undefined)) return false;
    const idb = this.currentIdBytes;
    for (let j = 0; j < count; j++) {
      const b = bufs[j] as Uint8Array;
      const at = ats[j] as number;
      if (at < 0 || at + 36 + plainLength > b.length) throw new RangeError('no room for the cookie');
      for (let i = 0; i < 4; i++) b[at + i] = idb[i] as number;
      b[at + 38] = 0;
      b[at + 39] = 0;
    }
    if (siv.sealMany !== undefined) siv.sealMany(bufs, ats, count, 4, COOKIE_NONCE_LENGTH, plainLength);
    else
      for (let j = 0; j < count; j++) {
        const b = bufs[j] as Uint8Array;
        const at = ats[j] as number;
        siv.sealRange?.(b, at, 4, at + 4, 16, at + 36, plainLength, b, at + 20);
      }
    return true;
  }

  /** Whether the current master key's AEAD seals in place (`sealPrepared` can work). */
  sealsInPlace(): boolean {
    const siv = this.keys.get(this.currentKeyId());
    return siv !== undefined && (siv.sealMany !== undefined || siv.sealRange !== undefined);
  }

  /** The jar's scratch lists for `openMany`, room for `count`. */
  private group(count: number) {
    if (this.groups.ats.length < count) {
      const n = Math.max(count, 2 * this.groups.ats.length);
      this.groups = {
        bufs: [],
        ats: new Int32Array(n),
        outAts: new Int32Array(n),
        index: new Int32Array(n),
        ok: new Uint8Array(n),
      };
    }
    return this.groups;
  }

  private groups = {
    bufs: [] as Uint8Array[],
    ats: new Int32Array(64),
    outAts: new Int32Array(64),
    index: new Int32Array(64),
    ok: new Uint8Array(64),
  };

  /** Opens a cookie; never throws. */
  open(
    cookie: Uint8Array,
  ): { ok: true; keys: NtsKeys; keyId: number } | { ok: false; error: CookieOpenError } {
    if (cookie.length < 4 + COOKIE_NONCE_LENGTH + 16 + 4) return { ok: false, error: 'TOO_SHORT' };
    const id =
      (((cookie[0] ?? 0) << 24) | ((cookie[1] ?? 0) << 16) | ((cookie[2] ?? 0) << 8) | (cookie[3] ?? 0)) >>>
      0;
    const siv = this.keys.get(id);
    if (siv === undefined) return { ok: false, error: 'UNKNOWN_KEY' };
    const nonce = cookie.subarray(4, 4 + COOKIE_NONCE_LENGTH);
    const ad = [cookie.subarray(0, 4), nonce];
    const sealed = cookie.subarray(4 + COOKIE_NONCE_LENGTH);
    let plain: Uint8Array | null;
    if (siv.openTo !== undefined && sealed.length - 16 === this.plain.length)
      plain = siv.openTo(ad, sealed, this.plain, 0) ? this.plain : null;
    else plain = siv.open(ad, sealed);
    if (plain === null) return { ok: false, error: 'AUTH_FAILED' };
    const aead = ((plain[0] ?? 0) << 8) | (plain[1] ?? 0);
    const len = aeadKeyLength(aead);
    const ok = len !== null && plain.length === 4 + 2 * len;
    const keys = ok ? { aead, c2s: plain.slice(4, 4 + len), s2c: plain.slice(4 + len) } : null;
    if (plain === this.plain) plain.fill(0);
    if (keys === null) return { ok: false, error: 'BAD_CONTENT' };
    return { ok: true, keyId: id, keys };
  }
}
