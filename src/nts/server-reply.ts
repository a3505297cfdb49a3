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
 * Sans-IO: the cookie jar brings the crypto provider, whose AEADs must offer `openRange` and
 * `sealRange` (else `reply` says no); random bytes are written by an injected function.
 */
import { SIV_TAG_LENGTH } from '../wire/crypto.js';
import { HEADER_LENGTH } from '../wire/packet.js';
import type { CookieJar } from './cookie.js';
import { EF, MAX_COOKIES, NONCE_LENGTH, UNIQUE_ID_LENGTH } from './ntp.js';

/** Writes `n` random bytes into `buf` at `at`. */
export type RandomFill = (buf: Uint8Array, at: number, n: number) => void;

const pad4 = (n: number) => (n + 3) & ~3;

/** The longest cookie plaintext handled here (AEAD ID, reserved, two 32-byte keys). */
const MAX_PLAIN = 4 + 2 * 32;

export class NtsInPlace {
  // What `scan` found, as offsets into the request.
  private uidAt = 0;
  private uidLength = 0;
  private cookieAt = 0;
  private cookieLength = 0;
  private placeholders = 0;
  private authAt = 0;
  private nonceAt = 0;
  private nonceLength = 0;
  private sealedAt = 0;
  private sealedLength = 0;
  /** The opened cookie's plaintext (zeroed after each reply). */
  private readonly plain = new Uint8Array(MAX_PLAIN);
  private readonly plains = new Map<number, Uint8Array>();

  /**
   * Whether the `length` bytes of `req` are an NTPv4 client request of the shape handled here
   * (see the module comment); remembers where its fields are, for `reply`.
   */
  scan(req: Uint8Array, length: number): boolean {
    if (length <= HEADER_LENGTH || length > req.length || req[0] === undefined) return false;
    const b0 = req[0];
    if ((b0 & 7) !== 3 || ((b0 >> 3) & 7) !== 4) return false;
    let uids = 0;
    let cookies = 0;
    let placeholders = 0;
    let placeholderLength = -1;
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
        this.uidAt = pos;
        this.uidLength = len;
      } else if (type === EF.COOKIE) {
        cookies++;
        this.cookieAt = pos + 4;
        this.cookieLength = len - 4;
      } else if (type === EF.COOKIE_PLACEHOLDER) {
        placeholders++;
        if (placeholderLength < 0) placeholderLength = len - 4;
        else if (placeholderLength !== len - 4) return false;
      } else if (type === EF.AUTHENTICATOR) auth = pos;
      pos += len;
    }
    if (uids !== 1 || cookies !== 1 || auth < 0 || this.uidLength - 4 < UNIQUE_ID_LENGTH) return false;
    if (placeholders > 0 && placeholderLength !== this.cookieLength) return false;
    // The authenticator: nonce and ciphertext lengths, then both padded; nothing encrypted.
    const body = auth + 4;
    const fieldLength = ((req[auth + 2] as number) << 8) | (req[auth + 3] as number);
    const nl = ((req[body] as number) << 8) | (req[body + 1] as number);
    const cl = ((req[body + 2] as number) << 8) | (req[body + 3] as number);
    if (nl < NONCE_LENGTH || cl !== SIV_TAG_LENGTH || 4 + pad4(nl) + pad4(cl) > fieldLength - 4) return false;
    this.placeholders = placeholders;
    this.authAt = auth;
    this.nonceAt = body + 4;
    this.nonceLength = nl;
    this.sealedAt = body + 4 + pad4(nl);
    this.sealedLength = cl;
    return true;
  }

  /**
   * Verifies the request `scan` accepted (`req`: the same bytes) and writes the NTS part of its
   * reply into `out` after the 48-byte header the caller put there: the Unique Identifier, then
   * the authenticator sealing the new cookies (the header as it is is authenticated: write the
   * transmit timestamp first). Returns the reply's length, or 0: not answered here (the cookie
   * or the authenticator does not verify, the provider cannot work in place, `out` is too short);
   * then `out` beyond the header may have been written, nothing else changed.
   */
  reply(jar: CookieJar, req: Uint8Array, out: Uint8Array, random: RandomFill): number {
    const plain = this.plainFor(this.cookieLength - 4 - 16 - 16);
    if (plain === null) return 0;
    try {
      const aead = jar.openAt(req, this.cookieAt, this.cookieLength, plain);
      if (aead < 0) return 0;
      const keyLength = (plain.length - 4) / 2;
      const aeads = jar.clientAeadsAt(aead, plain, 4, plain, 4 + keyLength);
      const c2s = aeads?.c2s;
      const s2c = aeads?.s2c;
      if (c2s?.openRange === undefined || s2c?.sealRange === undefined) return 0;
      // Nothing is encrypted in the request (scan): the plaintext is empty, `out` is not written.
      const ok = c2s.openRange(
        req,
        0,
        this.authAt,
        this.nonceAt,
        this.nonceLength,
        this.sealedAt,
        this.sealedLength,
        out,
        0,
      );
      if (!ok) return 0;
      const cookieLength = jar.cookieLength(aead);
      if (cookieLength === null) return 0;
      const wanted = Math.min(MAX_COOKIES, 1 + this.placeholders);
      const cookieField = 4 + Math.max(12, pad4(cookieLength));
      const plainLength = wanted * cookieField;
      const uidAt = HEADER_LENGTH;
      const authAt = uidAt + this.uidLength;
      const nonceAt = authAt + 8;
      const tagAt = nonceAt + pad4(NONCE_LENGTH);
      const ptAt = tagAt + SIV_TAG_LENGTH;
      const sealedLength = plainLength + SIV_TAG_LENGTH;
      const total = ptAt + pad4(plainLength);
      if (total > out.length) return 0;
      // The Unique Identifier, as received.
      for (let k = 0; k < this.uidLength; k++) out[uidAt + k] = req[this.uidAt + k] as number;
      // The new cookies, each sealed in place (nonces drawn in the order buildNtsResponseAfter does).
      for (let i = 0, at = ptAt; i < wanted; i++, at += cookieField) {
        putField(out, at, EF.COOKIE, cookieField);
        random(out, at + 8, 16);
        if (!jar.sealAt(plain, out, at + 4)) return 0;
        for (let k = at + 4 + cookieLength; k < at + cookieField; k++) out[k] = 0;
      }
      putField(out, authAt, EF.AUTHENTICATOR, total - authAt);
      out[authAt + 4] = NONCE_LENGTH >>> 8;
      out[authAt + 5] = NONCE_LENGTH & 0xff;
      out[authAt + 6] = sealedLength >>> 8;
      out[authAt + 7] = sealedLength & 0xff;
      random(out, nonceAt, NONCE_LENGTH);
      s2c.sealRange(out, 0, authAt, nonceAt, NONCE_LENGTH, ptAt, plainLength, out, tagAt);
      return total;
    } finally {
      plain.fill(0);
    }
  }

  /** A buffer for a cookie plaintext of `n` bytes (kept per length), or null for one too long. */
  private plainFor(n: number): Uint8Array | null {
    if (n === MAX_PLAIN) return this.plain;
    if (n < 4 || n > MAX_PLAIN) return null;
    let p = this.plains.get(n);
    if (p === undefined) {
      p = new Uint8Array(n);
      this.plains.set(n, p);
    }
    return p;
  }
}

/** An extension field's type and length at `at`. */
function putField(b: Uint8Array, at: number, type: number, length: number): void {
  b[at] = type >>> 8;
  b[at + 1] = type & 0xff;
  b[at + 2] = length >>> 8;
  b[at + 3] = length & 0xff;
}
