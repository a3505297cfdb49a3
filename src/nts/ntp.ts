/**
 * The NTS extension fields for NTPv4 (RFC 8915 section 5) and the client and server processing of
 * NTS-protected packets, on top of the src/wire codec.
 *
 *   0x0104 Unique Identifier           random ≥ 32 bytes, echoed by the server (replay protection)
 *   0x0204 NTS Cookie                  one cookie from the KE server / previous responses
 *   0x0304 NTS Cookie Placeholder      as long as the cookie; asks for one more cookie each
 *   0x0404 NTS Authenticator and Encrypted Extension Fields
 *          Nonce Length (u16) | Ciphertext Length (u16) | Nonce, padded | Ciphertext, padded
 *          The AEAD's associated data is the packet from its first byte up to this field; its
 *          plaintext is a sequence of extension fields (the server puts the new cookies there).
 *
 * Everything here is pure: randomness comes from an injected `RandomBytes` and the AEAD from an
 * injected `CryptoProvider` (the client passes one; the server uses its cookie jar's), nothing reads
 * a clock. Functions that take bytes from the network never throw; they return typed errors.
 */

import { type Aead, type CryptoProvider, SIV_TAG_LENGTH } from '../wire/crypto.js';
import {
  decodePacket,
  type ExtensionField,
  encodePacket,
  HEADER_LENGTH,
  type NtpPacket,
} from '../wire/packet.js';
import type { CookieJar, NtsKeys, RandomBytes } from './cookie.js';
import { aeadKeyLength } from './ke.js';

export const EF = {
  UNIQUE_ID: 0x0104,
  COOKIE: 0x0204,
  COOKIE_PLACEHOLDER: 0x0304,
  AUTHENTICATOR: 0x0404,
} as const;

export const UNIQUE_ID_LENGTH = 32;
export const NONCE_LENGTH = 16;
/** At most this many cookies are requested or sent in one packet. */
export const MAX_COOKIES = 8;
/** The kiss code of an NTS NAK (RFC 8915 section 5.7). */
export const NTS_NAK_KISS = 0x4e54534e; // 'NTSN'

const pad4 = (n: number) => (n + 3) & ~3;

/** An extension field holding `value` padded to a multiple of 4 (and at least 16 bytes in total). */
export function ntsField(type: number, value: Uint8Array): ExtensionField {
  const body = new Uint8Array(Math.max(12, pad4(value.length)));
  body.set(value);
  return { type, body };
}

/** Serializes extension fields (for the encrypted part of an authenticator). */
export function encodeInnerFields(fields: readonly ExtensionField[]): Uint8Array {
  let n = 0;
  for (const f of fields) n += 4 + f.body.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const f of fields) {
    const len = 4 + f.body.length;
    out.set([f.type >>> 8, f.type & 0xff, len >>> 8, len & 0xff], pos);
    out.set(f.body, pos + 4);
    pos += len;
  }
  return out;
}

/** Parses the decrypted extension fields; null when they are malformed. */
export function decodeInnerFields(bytes: Uint8Array): ExtensionField[] | null {
  const out: ExtensionField[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (pos + 4 > bytes.length) return null;
    const type = ((bytes[pos] ?? 0) << 8) | (bytes[pos + 1] ?? 0);
    const len = ((bytes[pos + 2] ?? 0) << 8) | (bytes[pos + 3] ?? 0);
    if (len < 4 || len % 4 !== 0 || pos + len > bytes.length) return null;
    out.push({ type, body: bytes.slice(pos + 4, pos + len) });
    pos += len;
  }
  return out;
}

/** The AEAD for an NTS key, or null when the algorithm is not one NTS-KE negotiates or the key does not fit. */
function aeadFor(crypto: CryptoProvider, aead: number, key: Uint8Array): Aead | null {
  if (aeadKeyLength(aead) !== key.length) return null;
  return crypto.aead(aead, key);
}

/** Builds the authenticator field sealing `plaintext` with associated data `ad`. */
export function buildAuthenticator(
  aead: Aead,
  ad: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
): ExtensionField {
  const ct = aead.seal([ad, nonce], plaintext);
  const body = new Uint8Array(4 + pad4(nonce.length) + pad4(ct.length));
  body.set([nonce.length >>> 8, nonce.length & 0xff, ct.length >>> 8, ct.length & 0xff]);
  body.set(nonce, 4);
  body.set(ct, 4 + pad4(nonce.length));
  return { type: EF.AUTHENTICATOR, body };
}

/**
 * Splits an authenticator body into views of `body` (no copies: use them before `body` changes);
 * null when the lengths do not fit.
 */
export function parseAuthenticator(body: Uint8Array): { nonce: Uint8Array; ciphertext: Uint8Array } | null {
  if (body.length < 4) return null;
  const nl = ((body[0] ?? 0) << 8) | (body[1] ?? 0);
  const cl = ((body[2] ?? 0) << 8) | (body[3] ?? 0);
  if (nl === 0 || cl < SIV_TAG_LENGTH || 4 + pad4(nl) + pad4(cl) > body.length) return null;
  return { nonce: body.subarray(4, 4 + nl), ciphertext: body.subarray(4 + pad4(nl), 4 + pad4(nl) + cl) };
}

/**
 * The bytes the authenticator at extension index `idx` of `p` (decoded from `bytes`) covers: the
 * header and the fields before it, as received.
 */
function associatedData(bytes: Uint8Array, p: NtpPacket, idx: number): Uint8Array {
  let end = HEADER_LENGTH;
  for (let i = 0; i < idx; i++) end += 4 + (p.extensions[i]?.body.length ?? 0);
  return bytes.subarray(0, end);
}

// ------------------------------------------------------------------------------------------- client

export interface NtsRequestOptions {
  aead: number;
  /** Client-to-server key from NTS-KE. */
  c2s: Uint8Array;
  /** The cookie to spend. */
  cookie: Uint8Array;
  /** How many extra cookies to ask for (placeholders), 0..7. */
  placeholders: number;
  random: RandomBytes;
  crypto: CryptoProvider;
  /** The C2S key's AEAD when the caller keeps one (a session sends many requests with one key). */
  sealer?: Aead;
}

export interface NtsRequest {
  packet: NtpPacket;
  bytes: Uint8Array;
  uniqueId: Uint8Array;
}

/** Adds the NTS fields to a client request (`base` has no extension fields and no MAC). */
export function buildNtsRequest(base: NtpPacket, o: NtsRequestOptions): NtsRequest {
  const siv = o.sealer ?? aeadFor(o.crypto, o.aead, o.c2s);
  if (siv === null) throw new RangeError(`unsupported AEAD ${o.aead} or bad key length`);
  const uniqueId = o.random(UNIQUE_ID_LENGTH);
  const fields: ExtensionField[] = [ntsField(EF.UNIQUE_ID, uniqueId), ntsField(EF.COOKIE, o.cookie)];
  const n = Math.max(0, Math.min(MAX_COOKIES - 1, Math.floor(o.placeholders)));
  for (let i = 0; i < n; i++) fields.push(ntsField(EF.COOKIE_PLACEHOLDER, new Uint8Array(o.cookie.length)));
  const packet: NtpPacket = { ...base, extensions: fields, mac: null };
  const ad = encodePacket(packet);
  packet.extensions = [...fields, buildAuthenticator(siv, ad, o.random(NONCE_LENGTH), new Uint8Array(0))];
  return { packet, bytes: encodePacket(packet), uniqueId };
}

export type NtsResponseProblemCode =
  | 'UNDECODABLE'
  | 'NO_UNIQUE_ID'
  | 'UNIQUE_ID_MISMATCH'
  | 'NTS_NAK'
  | 'NO_AUTHENTICATOR'
  | 'BAD_AUTHENTICATOR'
  | 'AUTH_FAILED'
  | 'UNAUTHENTICATED_FIELDS'
  | 'BAD_INNER_FIELDS';

export type NtsResponseCheck =
  | { ok: true; packet: NtpPacket; cookies: Uint8Array[] }
  | { ok: false; code: NtsResponseProblemCode; message: string };

function findUniqueId(p: NtpPacket): ExtensionField[] {
  return p.extensions.filter((e) => e.type === EF.UNIQUE_ID);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}

/**
 * Verifies an NTS-protected server response: Unique Identifier echoed, exactly one authenticator,
 * last in the packet, which decrypts with the S2C key; returns the new cookies found inside.
 * (The usual NTP checks, origin timestamp etc., are the caller's, e.g. wire/validate.ts.)
 */
export function verifyNtsResponse(
  bytes: Uint8Array,
  o: {
    aead: number;
    s2c: Uint8Array;
    uniqueId: Uint8Array;
    crypto: CryptoProvider;
    /** The S2C key's AEAD when the caller keeps one. */
    opener?: Aead;
  },
): NtsResponseCheck {
  const fail = (code: NtsResponseProblemCode, message: string): NtsResponseCheck => ({
    ok: false,
    code,
    message,
  });
  const d = decodePacket(bytes);
  if (!d.ok) return fail('UNDECODABLE', d.error.message);
  const p = d.packet;
  const uids = findUniqueId(p);
  if (uids.length === 0) return fail('NO_UNIQUE_ID', 'the response has no Unique Identifier field');
  if (
    uids.length > 1 ||
    !sameBytes(uids[0]?.body ?? new Uint8Array(0), ntsField(EF.UNIQUE_ID, o.uniqueId).body)
  )
    return fail('UNIQUE_ID_MISMATCH', 'the Unique Identifier does not match the request');
  const authIdx = p.extensions.findIndex((e) => e.type === EF.AUTHENTICATOR);
  if (authIdx < 0) {
    if (p.stratum === 0 && p.referenceId === NTS_NAK_KISS)
      return fail('NTS_NAK', 'the server sent an NTS NAK (it could not use our cookie)');
    return fail('NO_AUTHENTICATOR', 'the response has no NTS Authenticator');
  }
  if (authIdx !== p.extensions.length - 1 || p.mac !== null)
    return fail('UNAUTHENTICATED_FIELDS', 'data follows the NTS Authenticator');
  const auth = parseAuthenticator(p.extensions[authIdx]?.body ?? new Uint8Array(0));
  if (auth === null) return fail('BAD_AUTHENTICATOR', 'the NTS Authenticator field is malformed');
  const siv = o.opener ?? aeadFor(o.crypto, o.aead, o.s2c);
  if (siv === null) return fail('AUTH_FAILED', `unsupported AEAD ${o.aead}`);
  const plain = siv.open([associatedData(bytes, p, authIdx), auth.nonce], auth.ciphertext);
  if (plain === null)
    return fail('AUTH_FAILED', 'the NTS Authenticator does not verify (forged or corrupted)');
  const inner = decodeInnerFields(plain);
  if (inner === null) return fail('BAD_INNER_FIELDS', 'the encrypted extension fields are malformed');
  const cookies = inner.filter((e) => e.type === EF.COOKIE).map((e) => e.body);
  return { ok: true, packet: p, cookies };
}

// ------------------------------------------------------------------------------------------- server

export type NtsRequestProblemCode =
  | 'UNDECODABLE'
  | 'NOT_NTS'
  | 'NO_UNIQUE_ID'
  | 'NO_COOKIE'
  | 'BAD_COOKIE'
  | 'NO_AUTHENTICATOR'
  | 'BAD_AUTHENTICATOR'
  | 'AUTH_FAILED'
  | 'BAD_PLACEHOLDER';

export interface NtsServerContext {
  packet: NtpPacket;
  uniqueId: Uint8Array;
  keys: NtsKeys;
  /** 1 + number of placeholders (capped at MAX_COOKIES). */
  cookiesWanted: number;
  /** Length of the spent cookie (new cookies must not make the response larger than the request). */
  cookieLength: number;
  /** Extension fields the client sent encrypted. */
  innerFields: ExtensionField[];
  /** The client keys' AEADs from the jar (`CookieJar.clientAeads`), so the response does not look them up again. */
  aeads?: { c2s: Aead; s2c: Aead };
}

export type NtsRequestCheck =
  | { ok: true; context: NtsServerContext }
  | {
      ok: false;
      code: NtsRequestProblemCode;
      message: string;
      /** When set, answer with `buildNtsNak` echoing this Unique Identifier (RFC 8915 section 5.7). */
      nakUniqueId?: Uint8Array;
    };

/** Whether a decoded packet carries NTS fields (a cookie or an authenticator). */
export function hasNtsFields(p: NtpPacket): boolean {
  return p.extensions.some((e) => e.type === EF.COOKIE || e.type === EF.AUTHENTICATOR);
}

/**
 * Checks an NTS-protected client request on the server: decrypts the cookie with the jar, then the
 * authenticator with the recovered C2S key (with the jar's crypto provider). `NOT_NTS` means a plain NTP request (no cookie, no
 * authenticator): the caller may serve it unauthenticated. `decoded`: `bytes` already decoded.
 */
export function verifyNtsRequest(bytes: Uint8Array, jar: CookieJar, decoded?: NtpPacket): NtsRequestCheck {
  let p = decoded;
  if (p === undefined) {
    const d = decodePacket(bytes);
    if (!d.ok) return { ok: false, code: 'UNDECODABLE', message: d.error.message };
    p = d.packet;
  }
  // One pass over the fields: the unique identifiers, cookies, placeholders and the authenticator.
  const ext = p.extensions;
  let uid: Uint8Array | undefined;
  let uids = 0;
  let cookieField: ExtensionField | undefined;
  let cookies = 0;
  let placeholders = 0;
  let placeholderLength = -1;
  let badPlaceholder = false;
  let authIdx = -1;
  for (let i = 0; i < ext.length; i++) {
    const e = ext[i] as ExtensionField;
    if (e.type === EF.UNIQUE_ID) {
      if (uids++ === 0) uid = e.body;
    } else if (e.type === EF.COOKIE) {
      if (cookies++ === 0) cookieField = e;
    } else if (e.type === EF.COOKIE_PLACEHOLDER) {
      placeholders++;
      if (placeholderLength < 0) placeholderLength = e.body.length;
      else if (e.body.length !== placeholderLength) badPlaceholder = true;
    } else if (e.type === EF.AUTHENTICATOR && authIdx < 0) authIdx = i;
  }
  if (cookies === 0 && authIdx < 0)
    return { ok: false, code: 'NOT_NTS', message: 'the request carries no NTS fields' };
  if (uids !== 1 || uid === undefined || uid.length < UNIQUE_ID_LENGTH)
    return {
      ok: false,
      code: 'NO_UNIQUE_ID',
      message: 'the request needs exactly one Unique Identifier of ≥ 32 bytes',
    };
  if (cookies !== 1 || cookieField === undefined)
    return { ok: false, code: 'NO_COOKIE', message: 'the request needs exactly one NTS Cookie' };
  if (authIdx < 0 || authIdx !== ext.length - 1 || p.mac !== null)
    return { ok: false, code: 'NO_AUTHENTICATOR', message: 'the NTS Authenticator must be the last field' };
  const opened = jar.open(cookieField.body);
  if (!opened.ok)
    return { ok: false, code: 'BAD_COOKIE', message: `cookie rejected: ${opened.error}`, nakUniqueId: uid };
  const auth = parseAuthenticator(ext[authIdx]?.body ?? new Uint8Array(0));
  if (auth === null || auth.nonce.length < NONCE_LENGTH)
    return { ok: false, code: 'BAD_AUTHENTICATOR', message: 'the NTS Authenticator field is malformed' };
  const aeads = jar.clientAeads(opened.keys);
  if (aeads === null)
    return { ok: false, code: 'BAD_COOKIE', message: 'cookie names an unsupported AEAD', nakUniqueId: uid };
  const plain = aeads.c2s.open([associatedData(bytes, p, authIdx), auth.nonce], auth.ciphertext);
  if (plain === null)
    return {
      ok: false,
      code: 'AUTH_FAILED',
      message: 'the NTS Authenticator does not verify',
      nakUniqueId: uid,
    };
  const inner = plain.length === 0 ? [] : decodeInnerFields(plain);
  if (inner === null)
    return { ok: false, code: 'AUTH_FAILED', message: 'the encrypted fields are malformed' };
  if (badPlaceholder || (placeholders > 0 && placeholderLength !== cookieField.body.length))
    return {
      ok: false,
      code: 'BAD_PLACEHOLDER',
      message: 'a cookie placeholder differs in length from the cookie',
    };
  return {
    ok: true,
    context: {
      packet: p,
      uniqueId: uid,
      keys: opened.keys,
      cookiesWanted: Math.min(MAX_COOKIES, 1 + placeholders),
      cookieLength: cookieField.body.length,
      innerFields: inner,
      aeads,
    },
  };
}

/**
 * Builds the NTS-protected response: `header` (the NTP response the server would send unprotected,
 * its extension fields and MAC are replaced) + Unique Identifier + authenticator holding fresh cookies,
 * sealed with the jar's crypto provider.
 */
export function buildNtsResponse(
  header: NtpPacket,
  ctx: NtsServerContext,
  jar: CookieJar,
  random: RandomBytes,
): Uint8Array {
  return buildNtsResponseAfter(
    encodePacket({ ...header, extensions: [], mac: null }).subarray(0, HEADER_LENGTH),
    ctx,
    jar,
    random,
  );
}

/**
 * `buildNtsResponse` from the response's 48 header bytes as encoded (a server's unprotected
 * response, whose extension fields and MAC, if any, are not looked at): the same bytes, without
 * decoding and encoding the header again.
 */
export function buildNtsResponseAfter(
  header: Uint8Array,
  ctx: NtsServerContext,
  jar: CookieJar,
  random: RandomBytes,
): Uint8Array {
  const siv = ctx.aeads?.s2c ?? jar.clientAeads(ctx.keys)?.s2c ?? null;
  if (siv === null) throw new RangeError(`unsupported AEAD ${ctx.keys.aead}`);
  // The plaintext: the fresh cookies as extension fields, sealed in place.
  const cookieLength = jar.cookieLength(ctx.keys.aead);
  if (cookieLength === null) throw new RangeError(`unsupported AEAD ${ctx.keys.aead}`);
  const cookieField = 4 + Math.max(12, pad4(cookieLength));
  const plain = plainScratch(ctx.cookiesWanted * cookieField);
  for (let i = 0, pos = 0; i < ctx.cookiesWanted; i++, pos += cookieField) {
    putField(plain, pos, EF.COOKIE, cookieField);
    jar.sealInto(ctx.keys, plain, pos + 4);
  }
  const nonce = random(NONCE_LENGTH);
  // The packet: header, Unique Identifier (the associated data), then the authenticator field.
  const uid = ctx.uniqueId;
  const uidLength = 4 + uid.length;
  const adLength = HEADER_LENGTH + uidLength;
  const sealedLength = plain.length + SIV_TAG_LENGTH;
  const fieldLength = 8 + pad4(nonce.length) + pad4(sealedLength);
  const out = new Uint8Array(adLength + fieldLength);
  out.set(header.subarray(0, HEADER_LENGTH));
  putField(out, HEADER_LENGTH, EF.UNIQUE_ID, uidLength);
  out.set(uid, HEADER_LENGTH + 4);
  let at = adLength;
  putField(out, at, EF.AUTHENTICATOR, fieldLength);
  out[at + 4] = nonce.length >>> 8;
  out[at + 5] = nonce.length & 0xff;
  out[at + 6] = sealedLength >>> 8;
  out[at + 7] = sealedLength & 0xff;
  at += 8;
  out.set(nonce, at);
  const ad = [out.subarray(0, adLength), nonce];
  try {
    if (siv.sealTo !== undefined) siv.sealTo(ad, plain, out, at + pad4(nonce.length));
    else {
      const ct = siv.seal(ad, plain);
      if (ct.length !== sealedLength) throw new Error('the AEAD changed the length');
      out.set(ct, at + pad4(nonce.length));
    }
  } finally {
    plain.fill(0);
  }
  return out;
}

/** The plaintext of a response being built (its new cookies): one buffer, reused, zeroed after use. */
let scratch = new Uint8Array(MAX_COOKIES * 112);

function plainScratch(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(n);
  return scratch.subarray(0, n);
}

/** An extension field's type and length at `at`. */
function putField(b: Uint8Array, at: number, type: number, length: number): void {
  b[at] = type >>> 8;
  b[at + 1] = type & 0xff;
  b[at + 2] = length >>> 8;
  b[at + 3] = length & 0xff;
}

/** An NTS NAK: a kiss-o'-death 'NTSN' echoing the Unique Identifier, unauthenticated. */
export function buildNtsNak(header: NtpPacket, uniqueId: Uint8Array): Uint8Array {
  return encodePacket({
    ...header,
    leap: 3,
    stratum: 0,
    referenceId: NTS_NAK_KISS,
    extensions: [{ type: EF.UNIQUE_ID, body: Uint8Array.from(uniqueId) }],
    mac: null,
  });
}

// ----------------------------------------------------------------------------------- client session

/**
 * The client's NTS state for one server: keys and a cookie pool. Each request spends one cookie and asks
 * for enough placeholders to refill the pool to `target` (default 8).
 */
export class NtsClientSession {
  readonly cookies: Uint8Array[];
  /** The AEADs of the session's two keys, made on first use and kept. */
  private sealer: Aead | null = null;
  private opener: Aead | null = null;

  constructor(
    private readonly crypto: CryptoProvider,
    readonly keys: NtsKeys,
    cookies: readonly Uint8Array[],
    private readonly target = MAX_COOKIES,
  ) {
    this.cookies = [...cookies];
  }

  /** Builds a request, or returns null when no cookie is left (run NTS-KE again). */
  request(base: NtpPacket, random: RandomBytes): NtsRequest | null {
    const cookie = this.cookies.shift();
    if (cookie === undefined) return null;
    this.sealer ??= aeadFor(this.crypto, this.keys.aead, this.keys.c2s);
    const o: NtsRequestOptions = {
      aead: this.keys.aead,
      c2s: this.keys.c2s,
      cookie,
      placeholders: Math.max(0, this.target - this.cookies.length - 1),
      random,
      crypto: this.crypto,
    };
    if (this.sealer !== null) o.sealer = this.sealer;
    return buildNtsRequest(base, o);
  }

  /** Verifies a response to `req`; on success stores the new cookies. */
  response(bytes: Uint8Array, req: NtsRequest): NtsResponseCheck {
    this.opener ??= aeadFor(this.crypto, this.keys.aead, this.keys.s2c);
    const o: Parameters<typeof verifyNtsResponse>[1] = {
      aead: this.keys.aead,
      s2c: this.keys.s2c,
      uniqueId: req.uniqueId,
      crypto: this.crypto,
    };
    if (this.opener !== null) o.opener = this.opener;
    const r = verifyNtsResponse(bytes, o);
    if (r.ok) for (const c of r.cookies) if (this.cookies.length < this.target) this.cookies.push(c);
    return r;
  }
}
