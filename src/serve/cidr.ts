/**
 * Addresses and CIDR prefixes, IPv4 and IPv6, parsed and matched in pure TypeScript (no node:net).
 *
 * - IPv4 is held as an unsigned 32-bit `number`, IPv6 as an unsigned 128-bit `bigint`.
 * - An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4
 *   peer) is treated as the IPv4 address it carries, for matching and for the client table.
 * - A zone index (`fe80::1%eth0`) is ignored.
 *
 * Bad input from the network never throws (`parseAddress` returns null); bad configuration does
 * (`parseCidr` throws a `CidrError` naming the text).
 */

export type IpAddress = { family: 4; v4: number } | { family: 6; v6: bigint };

export type Cidr =
  | { family: 4; network: number; mask: number; prefix: number }
  | { family: 6; network: bigint; mask: bigint; prefix: number };

export class CidrError extends Error {
  readonly code = 'NTPKIT_BAD_CIDR';
  constructor(
    readonly text: string,
    why: string,
  ) {
    super(`invalid address or CIDR '${text}': ${why}`);
    this.name = 'CidrError';
  }
}

const MASK128 = (1n << 128n) - 1n;

function parseV4(text: string): number | null {
  // A hand-written scanner: this runs for every request the server receives.
  const n = text.length;
  if (n < 7 || n > 15) return null;
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return null;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
      if (dots > 3) return null;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return null;
    // Reject leading zeros ("010" is octal to some parsers: ambiguous, so refuse).
    if (digits === 0) leadingZero = d === 0;
    else if (leadingZero) return null;
    part = part * 10 + d;
    if (++digits > 3 || part > 255) return null;
  }
  if (dots !== 3 || digits === 0) return null;
  return (v * 256 + part) >>> 0;
}

function parseHextet(h: string): number | null {
  if (h.length === 0 || h.length > 4) return null;
  let n = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return null;
    n = n * 16 + d;
  }
  return n;
}

function parseV6(input: string): bigint | null {
  let text = input;
  const pct = text.indexOf('%');
  if (pct >= 0) text = text.slice(0, pct);
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (text.length < 2) return null;
  // An embedded IPv4 tail takes the last two hextets.
  const words: number[] = [];
  let tailV4: number | null = null;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return null;
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    tailV4 = parseV4(tail);
    if (tailV4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}`;
    // "::1.2.3.4" → head "::"; "a:b::1.2.3.4" → "a:b::"; "a:b:c:d:e:f:1.2.3.4" → "a:b:c:d:e:f:"
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const groupsWanted = tailV4 === null ? 8 : 6;
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return null;
  const parseList = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const h of s.split(':')) {
      const n = parseHextet(h);
      if (n === null) return null;
      out.push(n);
    }
    return out;
  };
  if (dbl >= 0) {
    const head = parseList(text.slice(0, dbl));
    const rest = parseList(text.slice(dbl + 2));
    if (head === null || rest === null) return null;
    const fill = groupsWanted - head.length - rest.length;
    if (fill < 1) return null;
    words.push(...head);
    for (let i = 0; i < fill; i++) words.push(0);
    words.push(...rest);
  } else {
    const all = parseList(text);
    if (all === null || all.length !== groupsWanted) return null;
    words.push(...all);
  }
  let v = 0n;
  for (const w of words) v = (v << 16n) | BigInt(w);
  if (tailV4 !== null) v = (v << 32n) | BigInt(tailV4);
  return v;
}

/** Parses an IPv4 or IPv6 address (as node:dgram reports it). Null when it is not one. */
export function parseAddress(text: string): IpAddress | null {
  if (text.includes(':')) {
    const v6 = parseV6(text);
    if (v6 === null) return null;
    if (v6 >> 32n === 0xffffn) return { family: 4, v4: Number(v6 & 0xffffffffn) };
    return { family: 6, v6 };
  }
  const v4 = parseV4(text);
  return v4 === null ? null : { family: 4, v4 };
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function v6Mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (MASK128 << BigInt(128 - prefix)) & MASK128;
}

/**
 * Parses `ADDR` or `ADDR/PREFIX`. Host bits beyond the prefix are cleared (`10.1.2.3/8` is
 * `10.0.0.0/8`). Without a prefix the whole address is matched (/32 or /128). An IPv4-mapped IPv6
 * prefix of length ≥ 96 (`::ffff:10.0.0.0/104`) becomes the IPv4 prefix it denotes.
 */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash >= 0 ? t.slice(0, slash) : t;
  const prefixText = slash >= 0 ? t.slice(slash + 1) : null;
  if (addrText.includes('%')) throw new CidrError(text, 'a zone index is not allowed in a prefix');
  let prefix: number | null = null;
  if (prefixText !== null) {
    if (!/^\d{1,3}$/.test(prefixText)) throw new CidrError(text, 'prefix length is not a number');
    prefix = Number(prefixText);
  }
  if (addrText.includes(':')) {
    const v6 = parseV6(addrText);
    if (v6 === null) throw new CidrError(text, 'not an IPv6 address');
    const p = prefix ?? 128;
    if (p > 128) throw new CidrError(text, 'IPv6 prefix length above 128');
    if (v6 >> 32n === 0xffffn && p >= 96) {
      const p4 = p - 96;
      const m = v4Mask(p4);
      return { family: 4, network: (Number(v6 & 0xffffffffn) & m) >>> 0, mask: m, prefix: p4 };
    }
    const mask = v6Mask(p);
    return { family: 6, network: v6 & mask, mask, prefix: p };
  }
  const v4 = parseV4(addrText);
  if (v4 === null) throw new CidrError(text, 'not an IPv4 address');
  const p = prefix ?? 32;
  if (p > 32) throw new CidrError(text, 'IPv4 prefix length above 32');
  const mask = v4Mask(p);
  return { family: 4, network: (v4 & mask) >>> 0, mask, prefix: p };
}

/** True when the address lies inside the prefix (families must agree). */
export function cidrContains(c: Cidr, a: IpAddress): boolean {
  if (c.family === 4) return a.family === 4 && (a.v4 & c.mask) >>> 0 === c.network;
  return a.family === 6 && (a.v6 & c.mask) === c.network;
}

/** Canonical text of a parsed address (RFC 5952 for IPv6: lower case, longest zero run as `::`). */
export function formatAddress(a: IpAddress): string {
  if (a.family === 4) return formatV4(a.v4);
  return formatV6(a.v6);
}

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function formatV6(v: bigint): string {
  const w: number[] = [];
  for (let i = 7; i >= 0; i--) w.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // Longest run of ≥ 2 zero words (first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** Canonical text of a prefix, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
export function formatCidr(c: Cidr): string {
  return c.family === 4 ? `${formatV4(c.network)}/${c.prefix}` : `${formatV6(c.network)}/${c.prefix}`;
}

/** An access rule: the first rule whose prefix contains the address decides. */
export interface AccessRule {
  action: 'allow' | 'deny';
  /** `ADDR`, `ADDR/PREFIX`, or `all` (every IPv4 and IPv6 address). */
  cidr: string;
}

interface CompiledRule {
  allow: boolean;
  cidr: Cidr;
  text: string;
  decision: AccessDecision;
}

/** The outcome of an access check, with the rule that decided (for logs and `reason`). */
export interface AccessDecision {
  allowed: boolean;
  /** The matching rule as `allow 10.0.0.0/8`, or `default allow` / `default deny`. */
  rule: string;
}

/**
 * An ordered access list with first-match semantics. Rules are tried in order; the first whose
 * prefix contains the address decides. An address no rule matches gets `defaultAllow`.
 */
export class AccessList {
  private readonly v4: CompiledRule[] = [];
  private readonly v6: CompiledRule[] = [];
  readonly size: number;
  private readonly defaultDecision: AccessDecision;

  constructor(
    rules: readonly AccessRule[],
    readonly defaultAllow: boolean,
  ) {
    for (const r of rules) {
      const allow = r.action === 'allow';
      const texts = r.cidr.trim().toLowerCase() === 'all' ? ['0.0.0.0/0', '::/0'] : [r.cidr];
      for (const t of texts) {
        const cidr = parseCidr(t);
        const text = `${r.action} ${formatCidr(cidr)}`;
        const compiled = { allow, cidr, text, decision: Object.freeze({ allowed: allow, rule: text }) };
        (cidr.family === 4 ? this.v4 : this.v6).push(compiled);
      }
    }
    this.size = this.v4.length + this.v6.length;
    this.defaultDecision = Object.freeze({
      allowed: defaultAllow,
      rule: defaultAllow ? 'default allow' : 'default deny',
    });
  }

  check(a: IpAddress): AccessDecision {
    if (a.family === 4) {
      const x = a.v4;
      for (const r of this.v4) {
        const c = r.cidr as { network: number; mask: number };
        if ((x & c.mask) >>> 0 === c.network) return { allowed: r.allow, rule: r.text };
      }
    } else {
      for (const r of this.v6) {
        if (cidrContains(r.cidr, a)) return r.decision;
      }
    }
    return this.defaultDecision;
  }
}

/**
 * The key under which a client is tracked: IPv4 addresses whole, IPv6 addresses truncated to
 * `v6Prefix` bits (default /64 in the guard: one end site gets one record, so an attacker cannot
 * escape the rate limit by cycling through the 2^64 addresses of its own subnet).
 */
export function clientKey(a: IpAddress, v6Prefix: number): string {
  if (a.family === 4) return formatV4(a.v4);
  if (v6Prefix >= 128) return formatV6(a.v6);
  return `${formatV6(a.v6 & v6Mask(v6Prefix))}/${v6Prefix}`;
}
