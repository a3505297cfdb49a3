/**
 * The two pre-NTP time protocols, as pure encoders/decoders.
 *
 * RFC 868 Time (port 37, TCP and UDP): the server sends one 32-bit big-endian unsigned integer, the
 * seconds since 1900-01-01T00:00:00Z. Like an NTP timestamp it wraps every 2^32 s (first on
 * 2036-02-07T06:28:16Z), so a decoder resolves the era against a local reference within ±68 years.
 *
 * RFC 867 Daytime (port 13): the server sends a line of ASCII text with the current date and time; the
 * RFC leaves the format open. ntpkit sends the RFC's own example style in UTC, e.g.
 *   `Saturday, November 21, 2026 15:04:08-UTC\r\n`
 * and `parseDaytime` accepts the formats servers commonly send: that style, ISO 8601 / RFC 3339,
 * NIST ACTS (`60999 25-11-21 15:04:08 00 0 0  50.0 UTC(NIST) *`), ctime/date(1)
 * (`Sat Nov 21 15:04:08 2026`, `Sat Nov 21 15:04:08 UTC 2026`), RFC 822/2822 and the SMTP-style
 * example of RFC 867 (`21 NOV 26 15:04:08 UTC`, `Sat, 21 Nov 2026 15:04:08 +0000`).
 * Text without a time zone is taken as UTC; two-digit years are resolved against a reference time.
 */

import { civilFromDays, daysFromCivil } from '../time/ntp-time.js';

const NS = 1_000_000_000n;
/** Seconds from 1900-01-01 to 1970-01-01. */
const UNIX_EPOCH_1900 = 2_208_988_800n;
const ERA = 1n << 32n;

/** The 4-byte RFC 868 value for a Unix time (seconds; the fraction is truncated toward -inf). */
export function encodeTime(unixSeconds: bigint): Uint8Array {
  const v = Number(BigInt.asUintN(32, unixSeconds + UNIX_EPOCH_1900));
  return new Uint8Array([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

/** The RFC 868 value as a number (0..2^32-1) from its 4 bytes, or null when not exactly 4 bytes. */
export function timeValue(bytes: Uint8Array): number | null {
  if (bytes.length !== 4) return null;
  return (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;
}

/**
 * Unix seconds from an RFC 868 value, taking the era that puts the result nearest to
 * `referenceUnixSeconds` (so correct within ±68 years of the reference, across 2036).
 */
export function resolveTime(value: number, referenceUnixSeconds: bigint): bigint {
  const ref1900 = referenceUnixSeconds + UNIX_EPOCH_1900;
  const diff = BigInt.asIntN(32, BigInt(value >>> 0) - ref1900);
  return referenceUnixSeconds + diff;
}

export type TimeDecodeResult =
  | { ok: true; unixSeconds: bigint; value: number }
  | { ok: false; error: string };

/** Decodes an RFC 868 reply (exactly 4 bytes) against a reference time. Never throws. */
export function decodeTime(bytes: Uint8Array, referenceUnixSeconds: bigint): TimeDecodeResult {
  const value = timeValue(bytes);
  if (value === null) return { ok: false, error: `an RFC 868 reply is 4 bytes, got ${bytes.length}` };
  return { ok: true, unixSeconds: resolveTime(value, referenceUnixSeconds), value };
}

/** The era (0 from 1900, 1 from 2036-02-07T06:28:16Z, …) of a Unix time in RFC 868 terms. */
export function timeEra(unixSeconds: bigint): bigint {
  const s = unixSeconds + UNIX_EPOCH_1900;
  return s >= 0n ? s / ERA : -((-s + ERA - 1n) / ERA);
}

// ------------------------------------------------------------------------------------------- Daytime

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function civil(unixNs: bigint) {
  const sec = floorDiv(unixNs, NS);
  const days = Number(floorDiv(sec, 86400n));
  const sod = Number(sec - BigInt(days) * 86400n);
  const { year, month, day } = civilFromDays(days);
  const weekday = (((days + 4) % 7) + 7) % 7;
  return {
    year,
    month,
    day,
    weekday,
    hh: Math.floor(sod / 3600),
    mm: Math.floor((sod % 3600) / 60),
    ss: sod % 60,
  };
}

const p2 = (n: number) => String(n).padStart(2, '0');

export type DaytimeStyle = 'rfc867' | 'iso' | 'ctime' | 'nist';

/**
 * A Daytime reply line (with CRLF) for a Unix time in ns. Styles:
 * - 'rfc867' (default): `Saturday, November 21, 2026 15:04:08-UTC`
 * - 'iso': `2026-11-21T15:04:08Z`
 * - 'ctime': `Sat Nov 21 15:04:08 2026` (UTC)
 * - 'nist': `61365 26-11-21 15:04:08 00 0 0   0.0 UTC(NIST) *` (no DST/leap/advance information)
 */
export function formatDaytime(unixNs: bigint, style: DaytimeStyle = 'rfc867'): string {
  const c = civil(unixNs);
  const time = `${p2(c.hh)}:${p2(c.mm)}:${p2(c.ss)}`;
  const wd = WEEKDAYS[c.weekday] ?? '';
  const mon = MONTHS[c.month - 1] ?? '';
  switch (style) {
    case 'rfc867':
      return `${wd}, ${mon} ${c.day}, ${c.year} ${time}-UTC\r\n`;
    case 'iso':
      return `${String(c.year).padStart(4, '0')}-${p2(c.month)}-${p2(c.day)}T${time}Z\r\n`;
    case 'ctime':
      return `${wd.slice(0, 3)} ${mon.slice(0, 3)} ${String(c.day).padStart(2, ' ')} ${time} ${c.year}\r\n`;
    case 'nist': {
      const mjd = daysFromCivil(c.year, c.month, c.day) + 40587;
      return `${mjd} ${p2(((c.year % 100) + 100) % 100)}-${p2(c.month)}-${p2(c.day)} ${time} 00 0 0   0.0 UTC(NIST) *\r\n`;
    }
  }
}

export type DaytimeParseResult =
  | { ok: true; unixNs: bigint; format: 'rfc867' | 'iso' | 'nist' | 'ctime' | 'rfc822' }
  | { ok: false; error: string };

const ZONES: Record<string, number> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
  CET: 60,
  CEST: 120,
};

/** Zone text to minutes east of UTC, or null when unknown. Empty means UTC. */
function zoneMinutes(z: string | undefined): number | null {
  if (z === undefined || z === '') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(z);
  if (m !== null) {
    const v = Number(m[2]) * 60 + Number(m[3]);
    return m[1] === '-' ? -v : v;
  }
  return ZONES[z.toUpperCase()] ?? null;
}

function monthIndex(name: string): number | null {
  const k = name.slice(0, 3).toLowerCase();
  const i = MONTHS.findIndex((m) => m.slice(0, 3).toLowerCase() === k);
  if (i < 0 || (name.length > 3 && !(MONTHS[i] ?? '').toLowerCase().startsWith(name.toLowerCase())))
    return null;
  return i + 1;
}

/** A two-digit year resolved to the century that puts it within 50 years of the reference year. */
function fullYear(y: string, referenceYear: number): number {
  const v = Number(y);
  if (y.length > 2) return v;
  let full = Math.floor(referenceYear / 100) * 100 + v;
  if (full > referenceYear + 50) full -= 100;
  else if (full <= referenceYear - 50) full += 100;
  return full;
}

function fracNs(f: string | undefined): bigint {
  if (f === undefined || f === '') return 0n;
  return BigInt(f.slice(1, 10).padEnd(9, '0'));
}

function build(
  year: number,
  month: number,
  day: number,
  hh: number,
  mm: number,
  ss: number,
  frac: bigint,
  zone: string | undefined,
): { ok: true; unixNs: bigint } | { ok: false; error: string } {
  const off = zoneMinutes(zone);
  if (off === null) return { ok: false, error: `unknown time zone '${zone}'` };
  if (month < 1 || month > 12) return { ok: false, error: `month ${month} out of range` };
  const dim =
    daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) -
    daysFromCivil(year, month, 1);
  if (day < 1 || day > dim) return { ok: false, error: `day ${day} out of range for the month` };
  if (hh > 23 || mm > 59 || ss > 60) return { ok: false, error: `time ${hh}:${mm}:${ss} out of range` };
  const secs = BigInt(daysFromCivil(year, month, day)) * 86400n + BigInt(hh * 3600 + mm * 60 + ss - off * 60);
  return { ok: true, unixNs: secs * NS + frac };
}

/**
 * Parses a Daytime reply in any of the formats listed in the module comment. `referenceUnixNs` (the
 * local clock) resolves two-digit years. Never throws.
 */
export function parseDaytime(text: string, referenceUnixNs: bigint): DaytimeParseResult {
  const s = text.replace(/\0/g, '').trim().replace(/\s+/g, ' ');
  if (s === '') return { ok: false, error: 'the Daytime reply is empty' };
  const refYear = civil(referenceUnixNs).year;
  let m: RegExpExecArray | null;
  // NIST ACTS: JJJJJ YY-MM-DD HH:MM:SS TT L H msADV UTC(NIST) OTM
  m = /^(\d{5}) (\d{2})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\b.*UTC\(NIST\)/.exec(s);
  if (m !== null) {
    const { year, month, day } = civilFromDays(Number(m[1]) - 40587);
    if (year % 100 !== Number(m[2]) || month !== Number(m[3]) || day !== Number(m[4])) {
      return { ok: false, error: 'NIST format: the Modified Julian Date does not match the date' };
    }
    const r = build(year, month, day, Number(m[5]), Number(m[6]), Number(m[7]), 0n, 'UTC');
    return r.ok ? { ...r, format: 'nist' } : r;
  }
  // ISO 8601 / RFC 3339
  m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)? ?(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$/i.exec(s);
  if (m !== null) {
    const r = build(
      Number(m[1]),
      Number(m[2]),
      Number(m[3]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
      fracNs(m[7]),
      m[8],
    );
    return r.ok ? { ...r, format: 'iso' } : r;
  }
  // RFC 867 example style: [Weekday, ]Month Day, Year HH:MM:SS[-ZONE]
  m =
    /^(?:[A-Za-z]+,? )?([A-Za-z]+) (\d{1,2}), ?(\d{2,4}) (\d{1,2}):(\d{2}):(\d{2})(\.\d+)?(?: ?-? ?([A-Za-z]{1,5}|[+-]\d{4}))?$/.exec(
      s,
    );
  if (m !== null) {
    const mon = monthIndex(m[1] ?? '');
    if (mon === null) return { ok: false, error: `unknown month '${m[1]}'` };
    const r = build(
      fullYear(m[3] ?? '', refYear),
      mon,
      Number(m[2]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
      fracNs(m[7]),
      m[8],
    );
    return r.ok ? { ...r, format: 'rfc867' } : r;
  }
  // ctime / date(1): [Www ]Mmm dd HH:MM:SS[.f] [ZONE ]YYYY [ZONE]
  m =
    /^(?:[A-Za-z]{3,9},? )?([A-Za-z]{3,9}) (\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(\.\d+)? (?:([A-Za-z]{1,5}|[+-]\d{4}) )?(\d{4})(?: ([A-Za-z]{1,5}|[+-]\d{4}))?$/.exec(
      s,
    );
  if (m !== null) {
    const mon = monthIndex(m[1] ?? '');
    if (mon === null) return { ok: false, error: `unknown month '${m[1]}'` };
    const r = build(
      Number(m[8]),
      mon,
      Number(m[2]),
      Number(m[3]),
      Number(m[4]),
      Number(m[5]),
      fracNs(m[6]),
      m[7] ?? m[9],
    );
    return r.ok ? { ...r, format: 'ctime' } : r;
  }
  // RFC 822 / 2822 / SMTP: [Www, ]DD Mmm YY[YY] HH:MM[:SS] [ZONE]
  m =
    /^(?:[A-Za-z]{3,9},? )?(\d{1,2})[ -]([A-Za-z]{3,9})[ -](\d{2,4}) (\d{1,2}):(\d{2})(?::(\d{2}))?(\.\d+)?(?: ?([A-Za-z]{1,5}|[+-]\d{4}))?$/.exec(
      s,
    );
  if (m !== null) {
    const mon = monthIndex(m[2] ?? '');
    if (mon === null) return { ok: false, error: `unknown month '${m[2]}'` };
    const r = build(
      fullYear(m[3] ?? '', refYear),
      mon,
      Number(m[1]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6] ?? 0),
      fracNs(m[7]),
      m[8],
    );
    return r.ok ? { ...r, format: 'rfc822' } : r;
  }
  return { ok: false, error: `not a Daytime format ntpkit knows: '${s.slice(0, 80)}'` };
}
