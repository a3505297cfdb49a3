/**
 * The NTS server's common case answered in place (RFC 8915 section 5): a well-formed request (one
 * Unique Identifier, one cookie, placeholders of its length, the authenticator last, nothing
 * encrypted in it, no MAC) is read where it was received and its reply written where it will be
 * sent, with no decoded packet, no views and no copies beyond the bytes the reply carries. The
 * same checks as `verifyNtsRequest` and the same bytes as `buildNtsResponseAfter` (src/nts/ntp.ts;
 * test/nts/server-reply.test.ts compares the two byte for byte); anything else, including every
 * request that earns an NTS NAK, is left to them (`scan` or `reply` says no and changes nothing
 * the caller sees).
 *
 * Batched: `prepare` scans a whole recvmmsg batch and opens the cookies of the requests it takes
 * together (`CookieJar.openMany`: one AES pass per block over all of them under a master key);
 * `reply` checks one request's authenticator and writes its reply with the new cookies' plaintexts
 * in place; `finish` seals all those cookies together (`CookieJar.sealPrepared`), then each reply
 * under its client's key. Between `reply` and `finish` the cookies' plaintexts (client keys) are
 * in the reply slots: `finish` runs before anything is sent.
 *
 * Sans-IO: the cookie jar brings the crypto provider, whose AEADs must offer `openRange` and
 * `sealRange` (else `reply` says no); random bytes are written by an injected function.
 */
import { type Aead, SIV_TAG_LENGTH } from '../wire/crypto.js';
import { HEADER_LENGTH } from '../wire/packet.js';
import type { CookieJar } from './cookie.js';
import { EF, MAX_COOKIES, NONCE_LENGTH, UNIQUE_ID_LENGTH } from './ntp.js';

/** Writes `n` random bytes into `buf` at `at`. */
export type RandomFill = (buf: Uint8Array, at: number, n: number) => void;

const pad4 = (n: number) => (n + 3) & ~3;

/** The cookie plaintext handled here: AEAD ID, reserved, two 32-byte keys (AEAD_AES_SIV_CMAC_256). */
const PLAIN = 4 + 2 * 32;
/** Its cookie: key ID, nonce, tag, plaintext. */
const COOKIE = 4 + 16 + 16 + PLAIN;

/** A received datagram: its first `length` bytes of `data`. */
export interface Datagram {
  readonly data: Uint8Array;
  readonly length: number;
}

export class NtsInPlace {
  private capacity = 0;
  /** The jar of the batch: its cookies are sealed under its current master key. */
  private jar: CookieJar | null = null;
  private count = 0;
  // What `prepare` found in request i, as offsets into it.
  private uidAt = new Int32Array(0);
  private uidLength = new Int32Array(0);
  private cookieAt = new Int32Array(0);
  private placeholders = new Int32Array(0);
  private authAt = new Int32Array(0);
  private nonceAt = new Int32Array(0);
  private nonceLength = new Int32Array(0);
  /** The opened cookie's AEAD, -1: not taken. */
  private aead = new Int32Array(0);
  private cookieLengths = new Int32Array(0);
  /** The opened cookies' plaintexts, PLAIN bytes each (zeroed by `finish`). */
  private plain = new Uint8Array(0);
  private plainAts = new Int32Array(0);
  private reqs: Uint8Array[] = [];
  // What `finish` seals: new cookies (in reply slots), then replies.
  private cookieBufs: Uint8Array[] = [];
  private cookieAts = new Int32Array(0);
  private cookies = 0;
  private replyBufs: Uint8Array[] = [];
  private replyAeads: Aead[] = [];
  private replyAuthAt = new Int32Array(0);
  private replyPlain = new Int32Array(0);
  private replies = 0;

  private grow(n: number): void {
    if (n <= this.capacity) return;
    const c = Math.max(n, 64);
    this.capacity = c;
    this.uidAt = new Int32Array(c);
    this.uidLength = new Int32Array(c);
    this.cookieAt = new Int32Array(c);
    this.placeholders = new Int32Array(c);
    this.authAt = new Int32Array(c);
    this.nonceAt = new Int32Array(c);
    this.nonceLength = new Int32Array(c);
    this.aead = new Int32Array(c);
    this.cookieLengths = new Int32Array(c);
    this.plain = new Uint8Array(c * PLAIN);
    this.plainAts = Int32Array.from({ length: c }, (_, i) => i * PLAIN);
    this.cookieAts = new Int32Array(c * MAX_COOKIES);
    this.replyAuthAt = new Int32Array(c);
    this.replyPlain = new Int32Array(c);
  }

  /**
   * Scans `count` datagrams for requests of the shape handled here and opens their cookies, all
   * under each master key together; `taken(i)` says which. Requests that ask for interleaved mode
   * (origin set, receive and transmit timestamps differing) are not taken.
   */
  prepare(jar: CookieJar, datagrams: ReadonlyArray<Datagram | undefined>, count: number): void {
    this.forget();
    this.grow(count);
    this.count = count;
    this.jar = jar;
    let k = 0;
    for (let i = 0; i < count; i++) {
      const d = datagrams[i];
      this.aead[i] = -1;
      if (d === undefined || !this.scan(d.data, d.length, i)) continue;
      this.reqs[i] = d.data;
      k++;
    }
    if (k === 0) return;
    for (let i = 0; i < count; i++) this.cookieLengths[i] = this.aead[i] === 0 ? COOKIE : 0;
    jar.openMany(
      this.reqs,
      this.cookieAt,
      this.cookieLengths,
      count,
      this.plain,
      this.plainAts,
      PLAIN,
      this.aead,
    );
  }

  /** Whether request i of the batch `prepare` saw is answered here (its cookie opened). */
  taken(i: number): boolean {
    return i < this.count && (this.aead[i] as number) >= 0;
  }

  /** Request i's fields; its aead slot 0 when taken, -1 otherwise. */
  private scan(req: Uint8Array, length: number, i: number): boolean {
    if (length <= HEADER_LENGTH || length > req.length) return false;
    const b0 = req[0] as number;
    if ((b0 & 7) !== 3 || ((b0 >> 3) & 7) !== 4) return false;
    let origin = 0;
    for (let k = 24; k < 32; k++) origin |= req[k] as number;
    if (origin !== 0) for (let k = 32; k < 40; k++) if (req[k] !== req[k + 8]) return false;
    let uids = 0;
    let cookies = 0;
    let placeholders = 0;
    let auth = -1;
    let pos = HEADER_LENGTH;
    while (pos < length) {
      // What decodePacket would take for a MAC (24 bytes or less at the end) is not handled here.
      if (length - pos <= 24 || auth >= 0) return false;
      const type = ((req[pos] as number) << 8) | (req[pos + 1] as number);
      const len = ((req[pos + 2] as number) << 8) | (req[pos + 3] as number);
      if (len < 16 || len % 4 !== 0 || len > length - pos) return false;
      if (type === EF.UNIQUE_ID) {
        uids++;
        this.uidAt[i] = pos;
        this.uidLength[i] = len;
      } else if (type === EF.COOKIE) {
        if (len - 4 !== COOKIE) return false;
        cookies++;
        this.cookieAt[i] = pos + 4;
      } else if (type === EF.COOKIE_PLACEHOLDER) {
        if (len - 4 !== COOKIE) return false;
        placeholders++;
      } else if (type === EF.AUTHENTICATOR) auth = pos;
      pos += len;
    }
    if (uids !== 1 || cookies !== 1 || auth < 0 || (this.uidLength[i] as number) - 4 < UNIQUE_ID_LENGTH)
      return false;
    // The authenticator: nonce and ciphertext lengths, then both padded; nothing encrypted.
    const body = auth + 4;
    const fieldLength = ((req[auth + 2] as number) << 8) | (req[auth + 3] as number);
    const nl = ((req[body] as number) << 8) | (req[body + 1] as number);
    const cl = ((req[body + 2] as number) << 8) | (req[body + 3] as number);
    if (nl < NONCE_LENGTH || cl !== SIV_TAG_LENGTH || 4 + pad4(nl) + pad4(cl) > fieldLength - 4) return false;
    this.placeholders[i] = placeholders;
    this.authAt[i] = auth;
    this.nonceAt[i] = body + 4;
    this.nonceLength[i] = nl;
    this.aead[i] = 0;
    return true;
  }

  /**
   * Verifies request i (`taken`; `req`: its bytes) and writes the NTS part of its reply into `out`
   * after the 48-byte header the caller put there: the Unique Identifier, then the authenticator
   * with the new cookies, sealed by `finish` (the header is authenticated as it is then: write the
   * transmit timestamp first). Returns the reply's length, or 0: not answered here (the
   * authenticator does not verify, the provider cannot work in place, `out` is too short); then
   * `out` beyond the header may have been written, nothing else changed.
   */
  reply(i: number, req: Uint8Array, out: Uint8Array, random: RandomFill): number {
    const jar = this.jar;
    if (jar === null || !this.taken(i) || !jar.sealsInPlace()) return 0;
    const aead = this.aead[i] as number;
    const pa = this.plainAts[i] as number;
    const plain = this.plain;
    const aeads = jar.clientAeadsAt(aead, plain, pa + 4, plain, pa + 4 + (PLAIN - 4) / 2);
    const c2s = aeads?.c2s;
    const s2c = aeads?.s2c;
    if (c2s?.openRange === undefined || s2c?.sealRange === undefined) return 0;
    const authAt = this.authAt[i] as number;
    const nonceAt = this.nonceAt[i] as number;
    const nl = this.nonceLength[i] as number;
    // Nothing is encrypted in the request (scan): the plaintext is empty, `out` is not written.
    if (!c2s.openRange(req, 0, authAt, nonceAt, nl, nonceAt + pad4(nl), SIV_TAG_LENGTH, out, 0)) return 0;
    const wanted = Math.min(MAX_COOKIES, 1 + (this.placeholders[i] as number));
    const cookieField = 4 + COOKIE;
    const plainLength = wanted * cookieField;
    const uidLength = this.uidLength[i] as number;
    const uidAt = this.uidAt[i] as number;
    const at0 = HEADER_LENGTH + uidLength;
    const ptAt = at0 + 8 + NONCE_LENGTH + SIV_TAG_LENGTH;
    const total = ptAt + plainLength;
    if (total > out.length) return 0;
    // The Unique Identifier, as received.
    for (let k = 0; k < uidLength; k++) out[HEADER_LENGTH + k] = req[uidAt + k] as number;
    // The new cookies' fields: nonce and plaintext now (nonces drawn in the order
    // buildNtsResponseAfter draws them), sealed by `finish`.
    for (let c = 0, at = ptAt; c < wanted; c++, at += cookieField) {
      putField(out, at, EF.COOKIE, cookieField);
      random(out, at + 8, 16);
      for (let k = 0; k < PLAIN; k++) out[at + 40 + k] = plain[pa + k] as number;
      this.cookieBufs[this.cookies] = out;
      this.cookieAts[this.cookies++] = at + 4;
    }
    const sealedLength = plainLength + SIV_TAG_LENGTH;
    putField(out, at0, EF.AUTHENTICATOR, total - at0);
    out[at0 + 4] = NONCE_LENGTH >>> 8;
    out[at0 + 5] = NONCE_LENGTH & 0xff;
    out[at0 + 6] = sealedLength >>> 8;
    out[at0 + 7] = sealedLength & 0xff;
    random(out, at0 + 8, NONCE_LENGTH);
    const r = this.replies++;
    this.replyBufs[r] = out;
    this.replyAeads[r] = s2c;
    this.replyAuthAt[r] = at0;
    this.replyPlain[r] = plainLength;
    return total;
  }

  /** Seals what `reply` wrote (the cookies together, then each reply), and forgets the batch. */
  finish(): void {
    const jar = this.jar;
    if (jar !== null && this.cookies > 0)
      jar.sealPrepared(this.cookieBufs, this.cookieAts, this.cookies, PLAIN);
    for (let r = 0; r < this.replies; r++) {
      const out = this.replyBufs[r] as Uint8Array;
      const at0 = this.replyAuthAt[r] as number;
      const ptAt = at0 + 8 + NONCE_LENGTH + SIV_TAG_LENGTH;
      const n = this.replyPlain[r] as number;
      (this.replyAeads[r] as Aead).sealRange?.(out, 0, at0, at0 + 8, NONCE_LENGTH, ptAt, n, out, ptAt - 16);
    }
    this.forget();
  }

  /** Drops the batch: plaintexts zeroed, nothing left to seal (call `finish` for what `reply` wrote). */
  forget(): void {
    this.jar = null;
    this.plain.fill(0, 0, this.count * PLAIN);
    this.cookies = 0;
    this.replies = 0;
    this.count = 0;
  }
}

/** An extension field's type and length at `at`. */
function putField(b: Uint8Array, at: number, type: number, length: number): void {
  b[at] = type >>> 8;
  b[at + 1] = type & 0xff;
  b[at + 2] = length >>> 8;
  b[at + 3] = length & 0xff;
}
