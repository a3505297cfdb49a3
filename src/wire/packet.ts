/**
 * The NTP packet codec (RFC 5905 section 7.3, RFC 7822 extension fields, legacy MAC trailer).
 *
 * Layout: a 48-byte header, then (NTPv4 only) zero or more extension fields, then an optional MAC.
 *
 *   0: LI(2) VN(3) Mode(3) | Stratum | Poll (int8) | Precision (int8)
 *   4: Root Delay (u32, 16.16)    8: Root Dispersion (u32, 16.16)   12: Reference ID (u32)
 *  16: Reference Timestamp  24: Origin Timestamp  32: Receive Timestamp  40: Transmit Timestamp
 *  48: extension fields: Field Type (u16) | Length (u16, whole field incl. padding) | Value+padding
 *      MAC: Key Identifier (u32) | Digest (16 bytes MD5, 20 bytes SHA-1; 0 bytes = crypto-NAK)
 *
 * Telling a MAC from an extension field (RFC 7822 section 7.5): after the header, while more than
 * 24 octets (the longest NTPv4 MAC) remain, the next item is an extension field; 24 or fewer
 * remaining octets are the MAC. Hence every extension field is at least 16 octets, a multiple of 4,
 * and, when no MAC follows, the last one must be at least 28 octets. Versions 1–3 have no extension
 * fields: everything after the header is a MAC (4 octets = crypto-NAK, or key ID + 16..64 octets).
 *
 * `decodePacket` never throws: malformed input yields a typed error. The decoded packet keeps the raw
 * field values, so for every accepted input `encodePacket(decodePacket(b).packet)` equals `b`.
 */

import type { NtpTimestamp } from '../time/ntp-time.js';

export interface ExtensionField {
  /** Field Type (u16). */
  type: number;
  /** Value bytes including any padding, as on the wire; the wire length is 4 + body.length. */
  body: Uint8Array;
}

export interface Mac {
  keyId: number;
  /** Digest bytes; length 0 means a crypto-NAK (the 4-byte MAC holding only a key ID). */
  digest: Uint8Array;
}

export interface NtpPacket {
  leap: number;
  version: number;
  mode: number;
  stratum: number;
  /** Signed log2 seconds (int8). */
  poll: number;
  /** Signed log2 seconds (int8). */
  precision: number;
  /** Raw u32 NTP short format (use shortToSeconds). */
  rootDelay: number;
  /** Raw u32 NTP short format (use shortToSeconds). */
  rootDispersion: number;
  /** u32. */
  referenceId: number;
  referenceTimestamp: NtpTimestamp;
  originTimestamp: NtpTimestamp;
  receiveTimestamp: NtpTimestamp;
  transmitTimestamp: NtpTimestamp;
  extensions: ExtensionField[];
  mac: Mac | null;
}

export type DecodeErrorCode =
  | 'TOO_SHORT'
  | 'BAD_VERSION'
  | 'BAD_EXTENSION_LENGTH'
  | 'TRUNCATED_EXTENSION'
  | 'TRUNCATED_MAC'
  | 'BAD_MAC_LENGTH'
  | 'TRAILING_BYTES';

export type DecodeError = { code: DecodeErrorCode; message: string };
export type DecodeResult = { ok: true; packet: NtpPacket } | { ok: false; error: DecodeError };

export const MODE = {
  RESERVED: 0,
  SYMMETRIC_ACTIVE: 1,
  SYMMETRIC_PASSIVE: 2,
  CLIENT: 3,
  SERVER: 4,
  BROADCAST: 5,
  CONTROL: 6,
  PRIVATE: 7,
} as const;

export const LEAP = { NONE: 0, ADD: 1, DEL: 2, UNSYNC: 3 } as const;

export const HEADER_LENGTH = 48;
/** Smallest extension field (RFC 7822). */
export const MIN_EXTENSION_LENGTH = 16;
/** Smallest last extension field when no MAC follows (RFC 7822). */
export const MIN_LAST_EXTENSION_LENGTH = 28;
/** Longest MAC in an NTPv4 packet (key ID + 160-bit digest, RFC 7822). */
export const MAX_V4_MAC_LENGTH = 24;
/** Longest MAC accepted in NTPv1–3 packets (key ID + 512-bit digest, as chrony). */
export const MAX_LEGACY_MAC_LENGTH = 68;
/** Length of a crypto-NAK (key ID only). */
export const CRYPTO_NAK_LENGTH = 4;

/** A packet with every field zero except version 4 (mode 0, no extensions, no MAC). */
export function emptyPacket(): NtpPacket {
  return {
    leap: 0,
    version: 4,
    mode: 0,
    stratum: 0,
    poll: 0,
    precision: 0,
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: 0,
    referenceTimestamp: 0n,
    originTimestamp: 0n,
    receiveTimestamp: 0n,
    transmitTimestamp: 0n,
    extensions: [],
    mac: null,
  };
}

function fail(code: DecodeErrorCode, message: string): DecodeResult {
  return { ok: false, error: { code, message } };
}

function u32(b: Uint8Array, o: number): number {
  return (
    ((b[o] ?? 0) * 0x1000000 + (((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0))) >>> 0
  );
}

function u16(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

function u64(b: Uint8Array, o: number): bigint {
  return (BigInt(u32(b, o)) << 32n) | BigInt(u32(b, o + 4));
}

function int8(v: number): number {
  return v >= 128 ? v - 256 : v;
}

function isLegacyMacLength(r: number): boolean {
  return r === CRYPTO_NAK_LENGTH || (r >= 20 && r <= MAX_LEGACY_MAC_LENGTH && r % 4 === 0);
}

function readMac(bytes: Uint8Array, at: number): Mac {
  return { keyId: u32(bytes, at), digest: bytes.slice(at + 4) };
}

/** Decodes an NTP packet. Never throws; see the module comment for the rules. */
export function decodePacket(bytes: Uint8Array): DecodeResult {
  if (bytes.length < HEADER_LENGTH) {
    return fail('TOO_SHORT', `packet has ${bytes.length} bytes, an NTP header needs ${HEADER_LENGTH}`);
  }
  const b0 = bytes[0] ?? 0;
  const version = (b0 >> 3) & 7;
  if (version < 1 || version > 4) return fail('BAD_VERSION', `unknown NTP version ${version}`);
  const packet: NtpPacket = {
    leap: b0 >> 6,
    version,
    mode: b0 & 7,
    stratum: bytes[1] ?? 0,
    poll: int8(bytes[2] ?? 0),
    precision: int8(bytes[3] ?? 0),
    rootDelay: u32(bytes, 4),
    rootDispersion: u32(bytes, 8),
    referenceId: u32(bytes, 12),
    referenceTimestamp: u64(bytes, 16),
    originTimestamp: u64(bytes, 24),
    receiveTimestamp: u64(bytes, 32),
    transmitTimestamp: u64(bytes, 40),
    extensions: [],
    mac: null,
  };
  let pos = HEADER_LENGTH;
  if (version < 4) {
    const r = bytes.length - pos;
    if (r === 0) return { ok: true, packet };
    if (r < CRYPTO_NAK_LENGTH) return fail('TRAILING_BYTES', `${r} stray bytes after the header`);
    if (!isLegacyMacLength(r)) {
      return fail(
        r < 20 ? 'TRUNCATED_MAC' : 'BAD_MAC_LENGTH',
        `NTPv${version} packet has ${r} bytes after the header, which is not a valid MAC length`,
      );
    }
    packet.mac = readMac(bytes, pos);
    return { ok: true, packet };
  }
  for (;;) {
    const r = bytes.length - pos;
    if (r === 0) return { ok: true, packet };
    if (r <= MAX_V4_MAC_LENGTH) {
      if (r === CRYPTO_NAK_LENGTH || r === 20 || r === 24) {
        packet.mac = readMac(bytes, pos);
        return { ok: true, packet };
      }
      if (r < CRYPTO_NAK_LENGTH) return fail('TRAILING_BYTES', `${r} stray bytes at offset ${pos}`);
      return fail(
        'TRUNCATED_MAC',
        `${r} bytes at offset ${pos}: too short for an extension field and not a MAC`,
      );
    }
    const len = u16(bytes, pos + 2);
    if (len < MIN_EXTENSION_LENGTH || len % 4 !== 0) {
      return fail(
        'BAD_EXTENSION_LENGTH',
        `extension field at offset ${pos} has length ${len} (must be a multiple of 4 and at least 16)`,
      );
    }
    if (len > r) {
      return fail(
        'TRUNCATED_EXTENSION',
        `extension field at offset ${pos} claims ${len} bytes, only ${r} remain`,
      );
    }
    if (len === r && len < MIN_LAST_EXTENSION_LENGTH) {
      // Unreachable given the MAC rule above (r > 24 here), kept for clarity.
      return fail('BAD_EXTENSION_LENGTH', `last extension field without MAC is ${len} bytes (< 28)`);
    }
    packet.extensions.push({ type: u16(bytes, pos), body: bytes.slice(pos + 4, pos + len) });
    pos += len;
  }
}

/** The number of bytes `encodePacket` produces for `p`. */
export function encodedLength(p: NtpPacket): number {
  let n = HEADER_LENGTH;
  for (const e of p.extensions) n += 4 + e.body.length;
  if (p.mac !== null) n += 4 + p.mac.digest.length;
  return n;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function put64(b: Uint8Array, o: number, v: bigint): void {
  const x = BigInt.asUintN(64, v);
  put32(b, o, Number(x >> 32n));
  put32(b, o + 4, Number(x & 0xffffffffn));
}

/**
 * Encodes a packet. Integer fields are masked to their wire width. Throws a RangeError only for a
 * structurally impossible extension field (body not a multiple of 4, field shorter than 16 or longer
 * than 65535 bytes); use `layoutProblem` to check the RFC 7822 MAC/last-field rules beforehand.
 */
export function encodePacket(p: NtpPacket): Uint8Array {
  const out = new Uint8Array(encodedLength(p));
  out[0] = ((p.leap & 3) << 6) | ((p.version & 7) << 3) | (p.mode & 7);
  out[1] = p.stratum & 0xff;
  out[2] = p.poll & 0xff;
  out[3] = p.precision & 0xff;
  put32(out, 4, p.rootDelay >>> 0);
  put32(out, 8, p.rootDispersion >>> 0);
  put32(out, 12, p.referenceId >>> 0);
  put64(out, 16, p.referenceTimestamp);
  put64(out, 24, p.originTimestamp);
  put64(out, 32, p.receiveTimestamp);
  put64(out, 40, p.transmitTimestamp);
  let pos = HEADER_LENGTH;
  for (const e of p.extensions) {
    const len = 4 + e.body.length;
    if (len % 4 !== 0 || len < MIN_EXTENSION_LENGTH || len > 0xffff) {
      throw new RangeError(`extension field of ${len} bytes cannot be encoded`);
    }
    out[pos] = (e.type >>> 8) & 0xff;
    out[pos + 1] = e.type & 0xff;
    out[pos + 2] = len >>> 8;
    out[pos + 3] = len & 0xff;
    out.set(e.body, pos + 4);
    pos += len;
  }
  if (p.mac !== null) {
    put32(out, pos, p.mac.keyId >>> 0);
    out.set(p.mac.digest, pos + 4);
  }
  return out;
}

/**
 * Why `encodePacket(p)` would not decode back to `p` (RFC 7822 layout rules), or null when it would.
 * Checks field ranges, extension sizes, the last-field rule and MAC lengths.
 */
export function layoutProblem(p: NtpPacket): string | null {
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!intIn(p.version, 1, 4)) return `version ${p.version} is not 1..4`;
  if (!intIn(p.leap, 0, 3) || !intIn(p.mode, 0, 7) || !intIn(p.stratum, 0, 255))
    return 'leap/mode/stratum out of range';
  if (!intIn(p.poll, -128, 127) || !intIn(p.precision, -128, 127)) return 'poll/precision out of int8 range';
  for (const v of [p.rootDelay, p.rootDispersion, p.referenceId])
    if (!intIn(v, 0, 0xffffffff)) return 'u32 field out of range';
  for (const t of [p.referenceTimestamp, p.originTimestamp, p.receiveTimestamp, p.transmitTimestamp]) {
    if (t < 0n || t >= 1n << 64n) return 'timestamp out of 64-bit range';
  }
  if (p.version < 4 && p.extensions.length > 0) return `NTPv${p.version} packets carry no extension fields`;
  for (const [i, e] of p.extensions.entries()) {
    const len = 4 + e.body.length;
    if (!intIn(e.type, 0, 0xffff)) return `extension ${i}: type ${e.type} out of range`;
    if (len % 4 !== 0 || len < MIN_EXTENSION_LENGTH || len > 0xffff)
      return `extension ${i}: bad length ${len}`;
  }
  const macLen = p.mac === null ? 0 : 4 + p.mac.digest.length;
  if (p.mac !== null) {
    if (!intIn(p.mac.keyId, 0, 0xffffffff)) return 'MAC key ID out of range';
    if (p.version === 4 ? ![4, 20, 24].includes(macLen) : !isLegacyMacLength(macLen)) {
      return `a MAC of ${macLen} bytes is not valid in NTPv${p.version}`;
    }
  }
  // A receiver takes anything of 24 bytes or less at the end for a MAC, so every extension field
  // plus what follows it must exceed 24 bytes (hence a last field ≥ 28 bytes without MAC).
  let tail = macLen;
  for (let i = p.extensions.length - 1; i >= 0; i--) {
    tail += 4 + (p.extensions[i]?.body.length ?? 0);
    if (tail <= MAX_V4_MAC_LENGTH) {
      return p.mac === null
        ? 'the last extension field must be at least 28 bytes when no MAC follows'
        : `extension field ${i} and the MAC after it total ${tail} bytes, which a receiver would take for a MAC`;
    }
  }
  return null;
}

/** Pads an extension value with zero bytes to a valid body (multiple of 4, field ≥ minLength). */
export function makeExtension(
  type: number,
  value: Uint8Array,
  minLength = MIN_EXTENSION_LENGTH,
): ExtensionField {
  const len = Math.max(minLength, 4 + Math.ceil(value.length / 4) * 4);
  const body = new Uint8Array(len - 4);
  body.set(value);
  return { type, body };
}

/** The bytes covered by a legacy MAC: header plus extension fields (the packet without its MAC). */
export function macInput(p: NtpPacket): Uint8Array {
  return encodePacket({ ...p, mac: null });
}

/** Deep copy of a packet (byte arrays copied). */
export function clonePacket(p: NtpPacket): NtpPacket {
  return {
    ...p,
    extensions: p.extensions.map((e) => ({ type: e.type, body: e.body.slice() })),
    mac: p.mac === null ? null : { keyId: p.mac.keyId, digest: p.mac.digest.slice() },
  };
}
