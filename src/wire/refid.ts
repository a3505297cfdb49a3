/**
 * Reference identifiers (RFC 5905 section 7.3). At stratum 0 (kiss-o'-death) and 1 (reference clock)
 * the refid is a four-character ASCII code, left-justified and zero-padded ("GPS", "PPS", "RATE").
 * Above stratum 1 it identifies the upstream server: its IPv4 address, or for an IPv6 server the first
 * four octets of the MD5 hash of its 16-byte address.
 */

import type { CryptoProvider } from './crypto.js';

/** Parses a dotted-quad IPv4 address to 4 bytes, or null. */
export function parseIPv4(addr: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (m === null) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** Parses an IPv6 address (with `::`, an embedded IPv4 tail, an optional `%zone`) to 16 bytes, or null. */
export function parseIPv6(addr: string): Uint8Array | null {
  let s = addr;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const groups: number[] = [];
  let tail4: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.slice(lastColon + 1).includes('.')) {
    tail4 = parseIPv4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (head === null || rest === null) return null;
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return null;
    groups.push(...head, ...new Array<number>(fill).fill(0), ...rest);
  } else {
    if (head.length !== 8) return null;
    groups.push(...head);
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail4 !== null) out.set(tail4, 12);
  return out;
}

function be32(b: Uint8Array): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

/** Refid of an IPv4 server: its address as a u32. Throws on a malformed address. */
export function refidFromIPv4(addr: string): number {
  const b = parseIPv4(addr);
  if (b === null) throw new RangeError(`not an IPv4 address: ${addr}`);
  return be32(b);
}

/** Refid of an IPv6 address: first four octets of MD5 over the 16-byte address (RFC 5905). */
export function refidFromIPv6Bytes(addr16: Uint8Array, crypto: Pick<CryptoProvider, 'digest'>): number {
  return be32(crypto.digest('MD5', addr16));
}

/**
 * Refid of a server address: IPv4 as is; IPv4-mapped IPv6 (::ffff:a.b.c.d) as its IPv4 address;
 * other IPv6 addresses by the MD5 hash. Throws on something that is not an IP address.
 */
export function refidFromAddress(addr: string, crypto: Pick<CryptoProvider, 'digest'>): number {
  const v4 = parseIPv4(addr);
  if (v4 !== null) return be32(v4);
  const v6 = parseIPv6(addr);
  if (v6 === null) throw new RangeError(`not an IP address: ${addr}`);
  const mapped = v6.slice(0, 10).every((x) => x === 0) && v6[10] === 0xff && v6[11] === 0xff;
  if (mapped) return be32(v6.slice(12));
  return refidFromIPv6Bytes(v6, crypto);
}

/** Refid from a code of up to four ASCII characters, zero-padded ('GPS' → 0x47505300). */
export function refidFromString(code: string): number {
  if (code.length > 4 || !/^[\x20-\x7e]*$/.test(code)) throw new RangeError(`not a refid code: ${code}`);
  let v = 0;
  for (let i = 0; i < 4; i++) v = (v << 8) | (i < code.length ? code.charCodeAt(i) : 0);
  return v >>> 0;
}

/** The four refid bytes as text: trailing NULs dropped, other non-printables as `\xNN`. */
export function refidToString(refid: number): string {
  const bytes = [(refid >>> 24) & 0xff, (refid >>> 16) & 0xff, (refid >>> 8) & 0xff, refid & 0xff];
  while (bytes.length > 0 && bytes[bytes.length - 1] === 0) bytes.pop();
  return bytes
    .map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`))
    .join('');
}

/** Dotted-quad rendering of a refid. */
export function refidToIPv4(refid: number): string {
  return [(refid >>> 24) & 0xff, (refid >>> 16) & 0xff, (refid >>> 8) & 0xff, refid & 0xff].join('.');
}

/** True when the refid is printable ASCII followed by zero or more NUL bytes (a kiss/refclock code). */
export function isAsciiRefid(refid: number): boolean {
  const bytes = [(refid >>> 24) & 0xff, (refid >>> 16) & 0xff, (refid >>> 8) & 0xff, refid & 0xff];
  let seenNul = false;
  for (const c of bytes) {
    if (c === 0) seenNul = true;
    else if (seenNul || c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/**
 * Renders a refid as users expect: at stratum 0/1 the four-character code ('GPS', 'RATE'); above, a
 * dotted IPv4 address (which for an IPv6 upstream is the hash, not an address). A stratum-1 refid
 * that is not printable ASCII (chrony's local reference 0x7F7F0101) is shown dotted too.
 */
export function renderRefid(refid: number, stratum: number): string {
  return stratum <= 1 && isAsciiRefid(refid) ? refidToString(refid) : refidToIPv4(refid);
}
