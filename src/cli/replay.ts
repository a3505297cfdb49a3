/**
 * `ntpkit replay`: feeds a trace of NTP exchanges through one of ntpkit's clocks and prints the
 * estimates after each exchange.
 *
 *   ntpkit replay FILE [--clock rfc5905|feedforward] [--counter-hz N] [--epoch unix|ntp] [--json]
 *
 * One exchange per line: `Ta Tb Te Tf`
 *   Ta, Tf  our raw counter when the request left / the response arrived (integers, counter ticks);
 *   Tb, Te  the server's receive / transmit times in seconds (decimal; Unix epoch unless --epoch ntp).
 * Blank lines and lines starting with '#' are ignored. Decimals are read exactly (no floating point).
 */

import { type ReplayExchange, type ReplayRow, replay } from '../clock/replay.js';
import { READ_LIMITS, readTextBounded } from '../io/bounded-read.js';
import { formatNtpTime, type NtpTime, UNIX_EPOCH_NTP_SECONDS } from '../time/ntp-time.js';

const USAGE = `usage: ntpkit replay FILE [--clock rfc5905|feedforward] [--counter-hz N] [--epoch unix|ntp] [--json]

Feeds a trace of exchanges through a clock and prints the estimates per exchange.
FILE ('-' for stdin) has one exchange per line: Ta Tb Te Tf
  Ta Tf  raw counter values (integers) when the request left / the response arrived
  Tb Te  server receive / transmit time, seconds (decimal), Unix epoch (or NTP epoch with --epoch ntp)
Options:
  --clock K        feedforward (default) or rfc5905
  --counter-hz N   nominal counter frequency in Hz (default 1000000000: nanoseconds)
  --epoch E        unix (default) or ntp (seconds since 1900)
  --json           one JSON object per exchange (JSON Lines)`;

const DEC = /^([0-9]+)(?:\.([0-9]+))?$/;

/** An exact decimal number of seconds as NTP units (2^-32 s), rounded to nearest. */
export function parseSeconds(s: string): bigint | null {
  const m = DEC.exec(s);
  if (m === null) return null;
  const int = BigInt(m[1]!);
  const fracDigits = m[2] ?? '';
  if (fracDigits === '') return int << 32n;
  const den = 10n ** BigInt(fracDigits.length);
  return (int << 32n) + ((BigInt(fracDigits) << 32n) + den / 2n) / den;
}

/** A positive decimal frequency as a fraction num/den. */
export function parseHz(s: string): { num: bigint; den: bigint } | null {
  const m = DEC.exec(s);
  if (m !== null) {
    const frac = m[2] ?? '';
    const den = 10n ** BigInt(frac.length);
    const num = BigInt(m[1]! + frac);
    return num > 0n ? { num, den } : null;
  }
  const n = Number(s);
  if (Number.isSafeInteger(n) && n > 0) return { num: BigInt(n), den: 1n };
  return null;
}

export interface ParsedTrace {
  exchanges: ReplayExchange[];
}

/** Parses trace text. Throws `name:line: message` on malformed lines. */
export function parseTrace(
  text: string,
  name: string,
  hz: { num: bigint; den: bigint } = { num: 1_000_000_000n, den: 1n },
  epoch: 'unix' | 'ntp' = 'unix',
): ReplayExchange[] {
  const out: ReplayExchange[] = [];
  const base = epoch === 'unix' ? UNIX_EPOCH_NTP_SECONDS << 32n : 0n;
  const toNs = (ticks: bigint) => {
    const n = ticks * 1_000_000_000n * hz.den;
    return (n + hz.num / 2n) / hz.num;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    const where = `${name}:${i + 1}`;
    if (f.length !== 4) throw new Error(`${where}: expected 4 fields 'Ta Tb Te Tf', found ${f.length}`);
    const [sa, sb, se, sf] = f as [string, string, string, string];
    if (!/^[0-9]+$/.test(sa) || !/^[0-9]+$/.test(sf)) throw new Error(`${where}: Ta and Tf must be integers`);
    const tb = parseSeconds(sb);
    const te = parseSeconds(se);
    if (tb === null || te === null) throw new Error(`${where}: Tb and Te must be decimal seconds`);
    const x: ReplayExchange = { ta: toNs(BigInt(sa)), tb: tb + base, te: te + base, tf: toNs(BigInt(sf)) };
    if (x.tf < x.ta) throw new Error(`${where}: Tf is before Ta`);
    if (x.te < x.tb) throw new Error(`${where}: Te is before Tb`);
    const prev = out[out.length - 1];
    if (prev !== undefined && x.ta < prev.ta) throw new Error(`${where}: exchanges must be in counter order`);
    out.push(x);
  }
  return out;
}

function unixString(t: NtpTime): string {
  const rel = t - (UNIX_EPOCH_NTP_SECONDS << 32n);
  const ns = (rel * 1_000_000_000n + (1n << 31n)) >> 32n;
  const sec = ns / 1_000_000_000n;
  return `${sec}.${(ns - sec * 1_000_000_000n).toString().padStart(9, '0')}`;
}

export function rowJson(r: ReplayRow): string {
  return JSON.stringify({
    index: r.index,
    t: r.t,
    delay: r.delay,
    offset: r.offset,
    action: r.action,
    state: r.state,
    frequencyPpm: r.frequencyPpm,
    errorBound: Number.isFinite(r.errorBound) ? r.errorBound : null,
    time: formatNtpTime(r.time),
    unixTime: unixString(r.time),
    ...(r.ratePpm === undefined ? {} : { ratePpm: r.ratePpm, minRtt: r.minRtt, levelShifts: r.levelShifts }),
  });
}

const us = (s: number | undefined, w = 10) =>
  (s === undefined || !Number.isFinite(s) ? '-' : (s * 1e6).toFixed(1)).padStart(w);

export function rowText(r: ReplayRow, ff: boolean): string {
  const cols = [
    String(r.index).padStart(6),
    r.t.toFixed(3).padStart(12),
    us(r.delay),
    us(r.offset, 12),
    r.action.padEnd(9),
    r.state.padEnd(9),
    r.frequencyPpm.toFixed(4).padStart(11),
    us(r.errorBound, 12),
  ];
  if (ff) cols.push((r.ratePpm ?? Number.NaN).toFixed(4).padStart(11), us(r.minRtt));
  return cols.join(' ');
}

export function headerText(ff: boolean): string {
  const h = [
    '#    n',
    't(s)'.padStart(12),
    'delay(us)'.padStart(10),
    'offset(us)'.padStart(12),
    'action   ',
    'state    ',
  ];
  h.push('freq(ppm)'.padStart(11), 'bound(us)'.padStart(12));
  if (ff) h.push('rate(ppm)'.padStart(11), 'minrtt(us)'.padStart(10));
  return h.join(' ');
}

export async function run(args: string[]): Promise<number> {
  let file: string | null = null;
  let kind: 'rfc5905' | 'feedforward' = 'feedforward';
  let hz = { num: 1_000_000_000n, den: 1n };
  let epoch: 'unix' | 'ntp' = 'unix';
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    try {
      if (a === '--help' || a === '-h') {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      } else if (a === '--json') json = true;
      else if (a === '--clock') {
        const v = value();
        if (v !== 'rfc5905' && v !== 'feedforward') throw new Error(`--clock: unknown clock '${v}'`);
        kind = v;
      } else if (a === '--counter-hz') {
        const v = parseHz(value());
        if (v === null) throw new Error('--counter-hz: expected a positive number');
        hz = v;
      } else if (a === '--epoch') {
        const v = value();
        if (v !== 'unix' && v !== 'ntp') throw new Error(`--epoch: expected unix or ntp, got '${v}'`);
        epoch = v;
      } else if (a.startsWith('-') && a !== '-') throw new Error(`unknown option '${a}'`);
      else if (file === null) file = a;
      else throw new Error(`unexpected argument '${a}'`);
    } catch (err) {
      process.stderr.write(`ntpkit replay: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
  }
  if (file === null) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readTextBounded(file, READ_LIMITS.trace);
  } catch (err) {
    process.stderr.write(`ntpkit replay: ${(err as Error).message}\n`);
    return 1;
  }
  let exchanges: ReplayExchange[];
  try {
    exchanges = parseTrace(text, file === '-' ? '<stdin>' : file, hz, epoch);
  } catch (err) {
    process.stderr.write(`ntpkit replay: ${(err as Error).message}\n`);
    return 1;
  }
  const ff = kind === 'feedforward';
  const out: string[] = [];
  if (!json) out.push(`# clock ${kind}, ${exchanges.length} exchanges`, headerText(ff));
  let steps = 0;
  const tail: number[] = [];
  for (const r of replay(kind, exchanges)) {
    out.push(json ? rowJson(r) : rowText(r, ff));
    if (r.action === 'step') steps++;
    if (r.index >= exchanges.length / 10) tail.push(r.offset);
    if (out.length >= 512) {
      process.stdout.write(`${out.join('\n')}\n`);
      out.length = 0;
    }
  }
  if (!json && tail.length > 0) {
    const rms = Math.sqrt(tail.reduce((a, x) => a + x * x, 0) / tail.length);
    out.push(
      `# steps ${steps}; RMS offset to the server midpoint after the first 10%: ${(rms * 1e6).toFixed(1)} us`,
    );
  }
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
