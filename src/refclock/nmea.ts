/**
 * NMEA 0183 time sentences for a GPS receiver read directly from a serial line (no gpsd): RMC
 * (recommended minimum, with the validity flag) and ZDA (date and time). Pure: text in, typed
 * results out; it never throws.
 *
 *   $GPRMC,hhmmss.sss,A,llll.ll,N,yyyyy.yy,E,knots,course,ddmmyy,magvar,E[,mode[,navstatus]]*hh
 *   $GPZDA,hhmmss.sss,dd,mm,yyyy,zh,zm*hh
 *
 * The checksum is the XOR of the characters between `$` and `*`, as two hex digits. Any talker
 * (GP, GN, GL, GA, BD, ...) is accepted. The time in a sentence is the time at the start of the
 * second the receiver's PPS marks; the sentence itself arrives some 100–500 ms later, which is why an
 * NMEA refclock needs an `offset` (and is usually the `lock` of a PPS refclock).
 */
import type { RawTime } from '../clock/types.js';
import { daysFromCivil, unixNsToNtpTime } from '../time/ntp-time.js';
import type { RefclockSample } from './types.js';

export type NmeaErrorCode =
  /** Does not start with `$` (or `!`). */
  | 'no-start'
  /** No `*hh` checksum at the end. */
  | 'no-checksum'
  | 'bad-checksum'
  /** Longer than NMEA allows (82 characters; 120 accepted). */
  | 'too-long'
  /** Non-printable characters. */
  | 'bad-character'
  /** A sentence we do not read (GGA, GSV, ...). */
  | 'unsupported'
  /** A field is missing or malformed (the message says which). */
  | 'bad-field';

export interface NmeaError {
  code: NmeaErrorCode;
  message: string;
}

export interface NmeaTime {
  sentence: 'RMC' | 'ZDA';
  talker: string;
  /** Unix ns of the time in the sentence (UTC). */
  unixNs: bigint;
  /** RMC status A (and mode not N); ZDA is always true (it carries no status). */
  valid: boolean;
}

export type NmeaResult = { ok: true; time: NmeaTime } | { ok: false; error: NmeaError };

const MAX_LENGTH = 120;

function fail(code: NmeaErrorCode, message: string): NmeaResult {
  return { ok: false, error: { code, message } };
}

/** XOR checksum of the payload (between `$` and `*`). */
export function nmeaChecksum(payload: string): number {
  let c = 0;
  for (let i = 0; i < payload.length; i++) c ^= payload.charCodeAt(i) & 0xff;
  return c;
}

/** Builds a sentence with its checksum (for tests and simulators), e.g. nmeaSentence('GPZDA,...'). */
export function nmeaSentence(payload: string): string {
  return `$${payload}*${nmeaChecksum(payload).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** hhmmss[.fff] → ns since midnight, or null. */
function parseTimeOfDay(f: string): bigint | null {
  const m = /^(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/.exec(f);
  if (m === null) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  const s = Number(m[3]);
  // 60: a leap second.
  if (h > 23 || min > 59 || s > 60) return null;
  const frac = (m[4] ?? '').padEnd(9, '0');
  return BigInt((h * 60 + min) * 60 + s) * 1_000_000_000n + BigInt(frac);
}

function dateNs(year: number, month: number, day: number): bigint | null {
  if (!Number.isInteger(year) || month < 1 || month > 12 || day < 1) return null;
  const dim = [
    31,
    year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ];
  if (day > (dim[month - 1] ?? 0)) return null;
  return BigInt(daysFromCivil(year, month, day)) * 86_400_000_000_000n;
}

/** Parses one sentence (with or without the trailing CR LF). */
export function parseNmea(line: string): NmeaResult {
  const s = line.replace(/\r?\n$/, '').replace(/\r$/, '');
  if (s.length > MAX_LENGTH) return fail('too-long', `${s.length} characters`);
  if (!s.startsWith('$') && !s.startsWith('!')) return fail('no-start', 'a sentence starts with $');
  if (/[^\x20-\x7e]/.test(s)) return fail('bad-character', 'non-printable character');
  const star = s.lastIndexOf('*');
  if (star < 0 || star !== s.length - 3) return fail('no-checksum', 'missing *hh checksum');
  const hex = s.slice(star + 1);
  if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return fail('no-checksum', `checksum ${JSON.stringify(hex)} is not hex`);
  const payload = s.slice(1, star);
  const want = Number.parseInt(hex, 16);
  const got = nmeaChecksum(payload);
  if (want !== got)
    return fail(
      'bad-checksum',
      `checksum ${hex} but the sentence sums to ${got.toString(16).padStart(2, '0')}`,
    );
  const fields = payload.split(',');
  const addr = fields[0] ?? '';
  if (!/^[A-Z0-9]{5}$/.test(addr)) return fail('bad-field', `address field ${JSON.stringify(addr)}`);
  const talker = addr.slice(0, 2);
  const type = addr.slice(2);
  if (type === 'RMC') {
    if (fields.length < 10) return fail('bad-field', `RMC has ${fields.length} fields`);
    const tod = parseTimeOfDay(fields[1] ?? '');
    if (tod === null) return fail('bad-field', `RMC time ${JSON.stringify(fields[1])}`);
    const status = fields[2] ?? '';
    if (status !== 'A' && status !== 'V') return fail('bad-field', `RMC status ${JSON.stringify(status)}`);
    const d = /^(\d{2})(\d{2})(\d{2})$/.exec(fields[9] ?? '');
    if (d === null) return fail('bad-field', `RMC date ${JSON.stringify(fields[9])}`);
    const yy = Number(d[3]);
    // Two-digit year: 1980-2079 (GPS started in 1980).
    const year = yy >= 80 ? 1900 + yy : 2000 + yy;
    const day = dateNs(year, Number(d[2]), Number(d[1]));
    if (day === null) return fail('bad-field', `RMC date ${JSON.stringify(fields[9])}`);
    const mode = fields[12];
    const valid = status === 'A' && mode !== 'N';
    return { ok: true, time: { sentence: 'RMC', talker, unixNs: day + tod, valid } };
  }
  if (type === 'ZDA') {
    if (fields.length < 5) return fail('bad-field', `ZDA has ${fields.length} fields`);
    const tod = parseTimeOfDay(fields[1] ?? '');
    if (tod === null) return fail('bad-field', `ZDA time ${JSON.stringify(fields[1])}`);
    const [dd, mm, yyyy] = [fields[2] ?? '', fields[3] ?? '', fields[4] ?? ''];
    if (!/^\d{2}$/.test(dd) || !/^\d{2}$/.test(mm) || !/^\d{4}$/.test(yyyy))
      return fail('bad-field', `ZDA date ${JSON.stringify(`${dd},${mm},${yyyy}`)}`);
    const day = dateNs(Number(yyyy), Number(mm), Number(dd));
    if (day === null) return fail('bad-field', `ZDA date ${JSON.stringify(`${dd},${mm},${yyyy}`)}`);
    return { ok: true, time: { sentence: 'ZDA', talker, unixNs: day + tod, valid: true } };
  }
  return fail('unsupported', `${type} sentences carry no time we use`);
}

/** Splits a byte/char stream into lines (a serial port delivers arbitrary chunks). */
export class NmeaLineBuffer {
  private buf = '';

  /** Adds a chunk and returns the complete lines it finished (without CR LF). */
  push(chunk: string): string[] {
    this.buf += chunk;
    const lines = this.buf.split(/\r?\n/);
    this.buf = lines.pop() ?? '';
    // A line that never ends is garbage: do not let it grow without bound.
    if (this.buf.length > 4 * MAX_LENGTH) this.buf = '';
    return lines.filter((l) => l !== '');
  }
}

/**
 * The refclock sample of a parsed sentence received at counter value `raw`. Invalid fixes are passed
 * on with leap 3 so that the source counts them as unsynchronised.
 */
export function nmeaSample(raw: RawTime, t: NmeaTime, dispersion?: number): RefclockSample {
  const s: RefclockSample = { raw, reference: unixNsToNtpTime(t.unixNs), leap: t.valid ? 0 : 3 };
  if (dispersion !== undefined) s.dispersion = dispersion;
  return s;
}
