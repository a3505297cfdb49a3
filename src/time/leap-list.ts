/**
 * The IERS/IETF `leap-seconds.list` format: parsed, its `#h` hash verified with the host's SHA-1, its
 * expiry and TAI−UTC offsets queried. Sans-IO: the host reads the file (bounded) and passes the text.
 *
 * Format: data lines `NTPSECONDS TAIUTC # comment` (TAI−UTC from that instant on), `#$ NTPSECONDS`
 * (last update), `#@ NTPSECONDS` (expiry), `#h W W W W W` (SHA-1, five 32-bit words in hex, of the
 * digits of the `#$` line, the `#@` line and the first two fields of every data line, concatenated).
 */
import type { CryptoProvider } from '../wire/crypto.js';
import type { NtpTime } from './ntp-time.js';

/** Lines and bytes a leap-second list may have (the real file has about 120 lines, 5 KiB). */
export const LEAP_LIST_MAX_BYTES = 256 * 1024;
const MAX_ENTRIES = 1000;

export interface LeapListEntry {
  /** From this instant on (NTP time, era-extended, always a UTC midnight) TAI−UTC is `taiUtc`. */
  at: NtpTime;
  taiUtc: number;
}

export interface LeapList {
  /** Where it came from (file name), for messages. */
  source: string;
  /** Last update and expiry, NTP time. */
  updated: NtpTime;
  expires: NtpTime;
  /** In time order, at least one. */
  entries: LeapListEntry[];
}

export type LeapKind = 'insert' | 'delete';

export class LeapListError extends Error {
  readonly code = 'LEAP_LIST';
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${detail}` : `${file}: ${detail}`);
    this.name = 'LeapListError';
  }
}

const ascii = new TextEncoder();

function digits(s: string): string {
  return s.replace(/[^0-9]/g, '');
}

function seconds(text: string, file: string, line: number, what: string): NtpTime {
  if (!/^[0-9]{1,12}$/.test(text))
    throw new LeapListError(file, line, `${what}: expected NTP seconds, got '${text}'`);
  return BigInt(text) << 32n;
}

/**
 * Parses and verifies a leap-second list. Throws `LeapListError` (file:line: what) when the text is
 * malformed, has no hash line or its hash does not match, or when times are out of order.
 */
export function parseLeapList(text: string, crypto: CryptoProvider, file = '<leap-seconds.list>'): LeapList {
  if (text.length > LEAP_LIST_MAX_BYTES)
    throw new LeapListError(file, 0, `larger than ${LEAP_LIST_MAX_BYTES} bytes`);
  let updated: NtpTime | null = null;
  let expires: NtpTime | null = null;
  let hash: string | null = null;
  let hashed = '';
  const entries: LeapListEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const l = (lines[i] ?? '').replace(/\r$/, '');
    if (l.startsWith('#$') || l.startsWith('#@')) {
      const v = l.slice(2).trim().split(/\s+/)[0] ?? '';
      const t = seconds(v, file, n, l.startsWith('#$') ? 'last update (#$)' : 'expiry (#@)');
      if (l.startsWith('#$')) updated = t;
      else expires = t;
      hashed += digits(v);
    } else if (l.startsWith('#h')) {
      const words = l.slice(2).trim().split(/\s+/);
      if (words.length !== 5 || !words.every((w) => /^[0-9a-fA-F]{1,8}$/.test(w)))
        throw new LeapListError(file, n, 'hash line (#h): expected five hexadecimal words');
      hash = words.map((w) => w.toLowerCase().padStart(8, '0')).join('');
    } else if (l.startsWith('#') || l.trim() === '') {
    } else {
      const fields = (l.split('#')[0] ?? '').trim().split(/\s+/);
      if (fields.length !== 2) throw new LeapListError(file, n, 'expected "NTP-seconds TAI-UTC [# comment]"');
      const at = seconds(fields[0] ?? '', file, n, 'time');
      if (!/^[0-9]{1,4}$/.test(fields[1] ?? ''))
        throw new LeapListError(file, n, `TAI-UTC: expected whole seconds, got '${fields[1]}'`);
      const taiUtc = Number(fields[1]);
      const prev = entries[entries.length - 1];
      if (prev !== undefined && at <= prev.at) throw new LeapListError(file, n, 'times are not increasing');
      if (prev !== undefined && Math.abs(taiUtc - prev.taiUtc) !== 1)
        throw new LeapListError(file, n, 'TAI-UTC changes by other than one second');
      if (entries.length >= MAX_ENTRIES) throw new LeapListError(file, n, `more than ${MAX_ENTRIES} entries`);
      entries.push({ at, taiUtc });
      hashed += digits(fields[0] ?? '') + digits(fields[1] ?? '');
    }
  }
  if (entries.length === 0) throw new LeapListError(file, 0, 'no leap-second entries');
  if (updated === null) throw new LeapListError(file, 0, 'no last-update line (#$)');
  if (expires === null) throw new LeapListError(file, 0, 'no expiry line (#@)');
  if (hash === null) throw new LeapListError(file, 0, 'no hash line (#h): the file cannot be verified');
  const got = [...crypto.digest('SHA1', ascii.encode(hashed))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  if (got !== hash)
    throw new LeapListError(file, 0, `hash mismatch (file says ${hash}, contents give ${got})`);
  return { source: file, updated, expires, entries };
}

/** Whether the list has expired at `now` (NTP time). */
export function leapListExpired(list: LeapList, now: NtpTime): boolean {
  return now >= list.expires;
}

/** TAI−UTC at `now` by the list (the first entry's value before it). */
export function taiUtcAt(list: LeapList, now: NtpTime): number {
  let v = list.entries[0]?.taiUtc ?? 0;
  for (const e of list.entries) {
    if (e.at > now) break;
    v = e.taiUtc;
  }
  return v;
}

/**
 * The leap the list has at the midnight `at` (the start of a month): insert when TAI−UTC grows there,
 * delete when it shrinks, null when it does not change.
 */
export function listLeapAt(list: LeapList, at: NtpTime): LeapKind | null {
  for (let i = 1; i < list.entries.length; i++) {
    const e = list.entries[i];
    const p = list.entries[i - 1];
    if (e === undefined || p === undefined || e.at !== at) continue;
    return e.taiUtc > p.taiUtc ? 'insert' : 'delete';
  }
  return null;
}
