/**
 * NTS Key Establishment records (RFC 8915 section 4): codec and the negotiation logic of both sides.
 *
 * A record is `C(1) | Record Type(15) | Body Length(16) | Body`. A message is a sequence of records
 * ending with End of Message. Decoding never throws: malformed input gives a typed error. The logic
 * (`interpretKeRequest`, `interpretKeResponse`, `buildKeResponse`) is pure; the TLS transport and
 * the key export live in src/io/nts-ke.ts.
 */

import { AEAD_AES_SIV_CMAC_256 } from '../wire/crypto.js';

export const KE_ALPN = 'ntske/1';
export const KE_DEFAULT_PORT = 4460;
/** RFC 8915 section 5.1: the TLS exporter label. */
export const KE_EXPORTER_LABEL = 'EXPORTER-network-time-security';
/** NTS Next Protocol ID of NTPv4. */
export const NEXT_PROTOCOL_NTPV4 = 0;

export const RECORD = {
  END_OF_MESSAGE: 0,
  NEXT_PROTOCOL: 1,
  ERROR: 2,
  WARNING: 3,
  AEAD_ALGORITHM: 4,
  NEW_COOKIE: 5,
  NTPV4_SERVER: 6,
  NTPV4_PORT: 7,
} as const;

/** NTS-KE Error record codes. */
export const KE_ERROR = { UNRECOGNIZED_CRITICAL: 0, BAD_REQUEST: 1, INTERNAL_ERROR: 2 } as const;

/** The AEAD algorithms this implementation supports, in order of preference. */
export const SUPPORTED_AEADS: readonly number[] = [AEAD_AES_SIV_CMAC_256];

/** Key length in bytes of a supported AEAD algorithm, or null. */
export function aeadKeyLength(aead: number): number | null {
  return aead === AEAD_AES_SIV_CMAC_256 ? 32 : null;
}

export interface KeRecord {
  critical: boolean;
  /** Record type, 0..32767. */
  type: number;
  body: Uint8Array;
}

export type KeDecodeErrorCode = 'TRUNCATED' | 'TOO_LONG' | 'NO_END' | 'DATA_AFTER_END' | 'BAD_END';
export interface KeDecodeError {
  code: KeDecodeErrorCode;
  message: string;
}

/** The largest NTS-KE message either side of ours accepts (chrony uses 16 KiB as well). */
export const MAX_KE_MESSAGE = 16384;

/** Encodes records (the caller adds End of Message, or use `encodeKeMessage`). */
export function encodeKeRecords(records: readonly KeRecord[]): Uint8Array {
  let n = 0;
  for (const r of records) {
    if (!Number.isInteger(r.type) || r.type < 0 || r.type > 0x7fff)
      throw new RangeError(`NTS-KE record type ${r.type} out of range`);
    if (r.body.length > 0xffff) throw new RangeError(`NTS-KE record body of ${r.body.length} bytes`);
    n += 4 + r.body.length;
  }
  const out = new Uint8Array(n);
  let pos = 0;
  for (const r of records) {
    const t = (r.critical ? 0x8000 : 0) | r.type;
    out[pos] = t >>> 8;
    out[pos + 1] = t & 0xff;
    out[pos + 2] = r.body.length >>> 8;
    out[pos + 3] = r.body.length & 0xff;
    out.set(r.body, pos + 4);
    pos += 4 + r.body.length;
  }
  return out;
}

/** Encodes a whole message: the records followed by a critical End of Message. */
export function encodeKeMessage(records: readonly KeRecord[]): Uint8Array {
  return encodeKeRecords([
    ...records,
    { critical: true, type: RECORD.END_OF_MESSAGE, body: new Uint8Array(0) },
  ]);
}

export type KeScan =
  | { ok: true; complete: false }
  | { ok: true; complete: true; records: KeRecord[]; length: number }
  | { ok: false; error: KeDecodeError };

/**
 * Looks at the bytes received so far on an NTS-KE stream. `complete: false` means more bytes are
 * needed; `complete: true` returns the records up to and including End of Message and how many bytes
 * they took. Messages over `maxLength` bytes without an End of Message are an error.
 */
export function scanKeMessage(bytes: Uint8Array, maxLength = MAX_KE_MESSAGE): KeScan {
  const records: KeRecord[] = [];
  let pos = 0;
  for (;;) {
    if (pos + 4 > bytes.length) break;
    const t = ((bytes[pos] ?? 0) << 8) | (bytes[pos + 1] ?? 0);
    const len = ((bytes[pos + 2] ?? 0) << 8) | (bytes[pos + 3] ?? 0);
    if (pos + 4 + len > bytes.length) break;
    const rec: KeRecord = {
      critical: (t & 0x8000) !== 0,
      type: t & 0x7fff,
      body: bytes.slice(pos + 4, pos + 4 + len),
    };
    records.push(rec);
    pos += 4 + len;
    if (rec.type === RECORD.END_OF_MESSAGE) {
      if (len !== 0) {
        return {
          ok: false,
          error: { code: 'BAD_END', message: `End of Message record has a ${len}-byte body` },
        };
      }
      return { ok: true, complete: true, records, length: pos };
    }
    if (pos > maxLength) break;
  }
  if (bytes.length > maxLength) {
    return {
      ok: false,
      error: {
        code: 'TOO_LONG',
        message: `NTS-KE message exceeds ${maxLength} bytes without End of Message`,
      },
    };
  }
  return { ok: true, complete: false };
}

export type KeDecodeResult = { ok: true; records: KeRecord[] } | { ok: false; error: KeDecodeError };

/** Decodes one complete message (exactly; nothing may follow End of Message). Never throws. */
export function decodeKeMessage(bytes: Uint8Array): KeDecodeResult {
  const s = scanKeMessage(bytes, Math.max(bytes.length, MAX_KE_MESSAGE));
  if (!s.ok) return s;
  if (!s.complete) {
    const partial = bytes.length > 0 && !endsOnRecordBoundary(bytes);
    return {
      ok: false,
      error: partial
        ? { code: 'TRUNCATED', message: 'the last NTS-KE record is cut short' }
        : { code: 'NO_END', message: 'the NTS-KE message has no End of Message record' },
    };
  }
  if (s.length !== bytes.length) {
    return {
      ok: false,
      error: { code: 'DATA_AFTER_END', message: `${bytes.length - s.length} bytes follow End of Message` },
    };
  }
  return { ok: true, records: s.records };
}

function endsOnRecordBoundary(bytes: Uint8Array): boolean {
  let pos = 0;
  while (pos + 4 <= bytes.length) pos += 4 + (((bytes[pos + 2] ?? 0) << 8) | (bytes[pos + 3] ?? 0));
  return pos === bytes.length;
}

function u16List(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    b[2 * i] = (v >>> 8) & 0xff;
    b[2 * i + 1] = v & 0xff;
  });
  return b;
}

function readU16List(body: Uint8Array): number[] | null {
  if (body.length % 2 !== 0) return null;
  const out: number[] = [];
  for (let i = 0; i < body.length; i += 2) out.push(((body[i] ?? 0) << 8) | (body[i + 1] ?? 0));
  return out;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0x7f);
const fromAscii = (b: Uint8Array) => String.fromCharCode(...b);

export interface KeRequestOptions {
  /** AEAD algorithms to offer, most preferred first. Default: SUPPORTED_AEADS. */
  aeads?: readonly number[];
  /** Ask for this NTP server (NTPv4 Server Negotiation). */
  server?: string;
  /** Ask for this NTP port (NTPv4 Port Negotiation). */
  port?: number;
}

/** The client's request: Next Protocol (NTPv4), AEAD algorithms, optional server/port, End. */
export function buildKeRequest(opts: KeRequestOptions = {}): Uint8Array {
  const recs: KeRecord[] = [
    { critical: true, type: RECORD.NEXT_PROTOCOL, body: u16List([NEXT_PROTOCOL_NTPV4]) },
    { critical: true, type: RECORD.AEAD_ALGORITHM, body: u16List(opts.aeads ?? SUPPORTED_AEADS) },
  ];
  if (opts.server !== undefined)
    recs.push({ critical: false, type: RECORD.NTPV4_SERVER, body: ascii(opts.server) });
  if (opts.port !== undefined)
    recs.push({ critical: false, type: RECORD.NTPV4_PORT, body: u16List([opts.port]) });
  return encodeKeMessage(recs);
}

export type KeProblemCode =
  | 'MALFORMED'
  | 'SERVER_ERROR'
  | 'UNKNOWN_CRITICAL'
  | 'NO_PROTOCOL'
  | 'BAD_PROTOCOL'
  | 'NO_AEAD'
  | 'BAD_AEAD'
  | 'NO_COOKIES'
  | 'BAD_RECORD';

export interface KeProblem {
  code: KeProblemCode;
  message: string;
  /** The server's Error record code, for SERVER_ERROR. */
  errorCode?: number;
}

export interface KeResponseInfo {
  protocol: number;
  aead: number;
  cookies: Uint8Array[];
  /** NTPv4 server to use, when the server named one. */
  server?: string;
  /** NTPv4 port to use, when the server named one. */
  port?: number;
  warnings: number[];
}

const problem = (code: KeProblemCode, message: string): { ok: false; problem: KeProblem } => ({
  ok: false,
  problem: { code, message },
});

/** Interprets a server response (already decoded) per RFC 8915 section 4.1. */
export function interpretKeResponse(
  records: readonly KeRecord[],
  offered: readonly number[] = SUPPORTED_AEADS,
): { ok: true; info: KeResponseInfo } | { ok: false; problem: KeProblem } {
  let protocol: number | undefined;
  let aead: number | undefined;
  const cookies: Uint8Array[] = [];
  const warnings: number[] = [];
  let server: string | undefined;
  let port: number | undefined;
  for (const r of records) {
    switch (r.type) {
      case RECORD.END_OF_MESSAGE:
        break;
      case RECORD.ERROR: {
        const code = r.body.length === 2 ? ((r.body[0] ?? 0) << 8) | (r.body[1] ?? 0) : -1;
        return {
          ok: false,
          problem: { code: 'SERVER_ERROR', message: `the NTS-KE server sent error ${code}`, errorCode: code },
        };
      }
      case RECORD.WARNING:
        if (r.body.length !== 2) return problem('BAD_RECORD', 'Warning record body is not 2 bytes');
        warnings.push(((r.body[0] ?? 0) << 8) | (r.body[1] ?? 0));
        break;
      case RECORD.NEXT_PROTOCOL: {
        const l = readU16List(r.body);
        if (l === null || l.length !== 1)
          return problem('BAD_PROTOCOL', 'the server must select exactly one next protocol');
        if (l[0] !== NEXT_PROTOCOL_NTPV4)
          return problem('BAD_PROTOCOL', `the server selected protocol ${l[0]}`);
        protocol = l[0];
        break;
      }
      case RECORD.AEAD_ALGORITHM: {
        const l = readU16List(r.body);
        if (l === null || l.length !== 1)
          return problem('BAD_AEAD', 'the server must select exactly one AEAD algorithm');
        const a = l[0] ?? -1;
        if (!offered.includes(a) || aeadKeyLength(a) === null)
          return problem('BAD_AEAD', `the server selected AEAD algorithm ${a}, which was not offered`);
        aead = a;
        break;
      }
      case RECORD.NEW_COOKIE:
        if (r.body.length === 0) return problem('BAD_RECORD', 'empty cookie');
        cookies.push(r.body);
        break;
      case RECORD.NTPV4_SERVER:
        if (r.body.length === 0 || r.body.some((c) => c < 0x21 || c > 0x7e))
          return problem('BAD_RECORD', 'NTPv4 Server record is not a printable ASCII name');
        server = fromAscii(r.body);
        break;
      case RECORD.NTPV4_PORT:
        if (r.body.length !== 2) return problem('BAD_RECORD', 'NTPv4 Port record body is not 2 bytes');
        port = ((r.body[0] ?? 0) << 8) | (r.body[1] ?? 0);
        break;
      default:
        if (r.critical) return problem('UNKNOWN_CRITICAL', `unknown critical record type ${r.type}`);
    }
  }
  if (protocol === undefined) return problem('NO_PROTOCOL', 'the server selected no next protocol');
  if (aead === undefined) return problem('NO_AEAD', 'the server selected no AEAD algorithm');
  if (cookies.length === 0) return problem('NO_COOKIES', 'the server sent no cookies');
  const info: KeResponseInfo = { protocol, aead, cookies, warnings };
  if (server !== undefined) info.server = server;
  if (port !== undefined) info.port = port;
  return { ok: true, info };
}

export interface KeRequestInfo {
  /** The AEAD algorithm chosen (the client's most preferred one we support). */
  aead: number;
  server?: string;
  port?: number;
}

/**
 * Interprets a client request on the server side. On failure the problem says which Error record to
 * send (`errorRecordCode`).
 */
export function interpretKeRequest(
  records: readonly KeRecord[],
  supported: readonly number[] = SUPPORTED_AEADS,
): { ok: true; info: KeRequestInfo } | { ok: false; problem: KeProblem; errorRecordCode: number } {
  let protocols: number[] | undefined;
  let aeads: number[] | undefined;
  let server: string | undefined;
  let port: number | undefined;
  const bad = (code: KeProblemCode, message: string, errorRecordCode: number = KE_ERROR.BAD_REQUEST) => ({
    ok: false as const,
    problem: { code, message },
    errorRecordCode,
  });
  for (const r of records) {
    switch (r.type) {
      case RECORD.END_OF_MESSAGE:
        break;
      case RECORD.NEXT_PROTOCOL: {
        if (protocols !== undefined) return bad('BAD_RECORD', 'two Next Protocol records');
        const l = readU16List(r.body);
        if (l === null) return bad('BAD_RECORD', 'Next Protocol record has an odd length');
        protocols = l;
        break;
      }
      case RECORD.AEAD_ALGORITHM: {
        if (aeads !== undefined) return bad('BAD_RECORD', 'two AEAD Algorithm records');
        const l = readU16List(r.body);
        if (l === null) return bad('BAD_RECORD', 'AEAD Algorithm record has an odd length');
        aeads = l;
        break;
      }
      case RECORD.NTPV4_SERVER:
        server = fromAscii(r.body);
        break;
      case RECORD.NTPV4_PORT:
        if (r.body.length !== 2) return bad('BAD_RECORD', 'NTPv4 Port record body is not 2 bytes');
        port = ((r.body[0] ?? 0) << 8) | (r.body[1] ?? 0);
        break;
      case RECORD.ERROR:
      case RECORD.WARNING:
      case RECORD.NEW_COOKIE:
        return bad('BAD_RECORD', `record type ${r.type} is not allowed in a request`);
      default:
        if (r.critical)
          return bad(
            'UNKNOWN_CRITICAL',
            `unknown critical record type ${r.type}`,
            KE_ERROR.UNRECOGNIZED_CRITICAL,
          );
    }
  }
  if (protocols === undefined) return bad('NO_PROTOCOL', 'the request has no Next Protocol record');
  if (!protocols.includes(NEXT_PROTOCOL_NTPV4)) return bad('NO_PROTOCOL', 'the client does not offer NTPv4');
  if (aeads === undefined) return bad('NO_AEAD', 'the request has no AEAD Algorithm record');
  const aead = aeads.find((a) => supported.includes(a));
  if (aead === undefined)
    return bad('NO_AEAD', `none of the AEAD algorithms ${aeads.join(', ')} is supported`);
  const info: KeRequestInfo = { aead };
  if (server !== undefined) info.server = server;
  if (port !== undefined) info.port = port;
  return { ok: true, info };
}

export interface KeResponseOptions {
  aead: number;
  cookies: readonly Uint8Array[];
  /** NTPv4 Server record to send (where clients should send NTP requests). */
  server?: string;
  /** NTPv4 Port record to send. */
  port?: number;
}

/** The server's successful response. */
export function buildKeResponse(o: KeResponseOptions): Uint8Array {
  const recs: KeRecord[] = [
    { critical: true, type: RECORD.NEXT_PROTOCOL, body: u16List([NEXT_PROTOCOL_NTPV4]) },
    { critical: true, type: RECORD.AEAD_ALGORITHM, body: u16List([o.aead]) },
  ];
  if (o.server !== undefined)
    recs.push({ critical: false, type: RECORD.NTPV4_SERVER, body: ascii(o.server) });
  if (o.port !== undefined) recs.push({ critical: false, type: RECORD.NTPV4_PORT, body: u16List([o.port]) });
  for (const c of o.cookies) recs.push({ critical: false, type: RECORD.NEW_COOKIE, body: c });
  return encodeKeMessage(recs);
}

/** A response holding only an Error record. */
export function buildKeError(code: number): Uint8Array {
  return encodeKeMessage([{ critical: true, type: RECORD.ERROR, body: u16List([code]) }]);
}

/**
 * The TLS exporter context of RFC 8915 section 5.1: Protocol ID (u16) | AEAD ID (u16) | 0x00 for the
 * client-to-server key, 0x01 for server-to-client.
 */
export function exporterContext(
  aead: number,
  direction: 'c2s' | 's2c',
  protocol = NEXT_PROTOCOL_NTPV4,
): Uint8Array {
  return Uint8Array.from([
    protocol >>> 8,
    protocol & 0xff,
    aead >>> 8,
    aead & 0xff,
    direction === 'c2s' ? 0 : 1,
  ]);
}
