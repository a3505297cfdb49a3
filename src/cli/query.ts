/**
 * `ntpkit query HOST[:PORT]`: one-shot NTP query of a server over UDP (IPv4, IPv6, DNS names).
 * Sends N client requests, validates every reply, reports the lowest-delay one as text or JSON.
 */

import {
  fmtAddr,
  parseTarget,
  type QueryOptions,
  type QuerySample,
  queryServer,
  type Rejection,
} from '../io/udp-query.js';
import { formatUnixNs, timestampToUnixNs } from '../time/ntp-time.js';
import { shortToSeconds } from '../time/short.js';
import { renderRefid } from '../wire/refid.js';

const USAGE = `usage: ntpkit query [options] HOST[:PORT]

Queries an NTP server once and prints the offset of its clock from the local one.
HOST is an IPv4 address, an IPv6 address ([::1]:123 with a port) or a DNS name.

options:
  -n, --samples N        send N requests (1-64, default 1) and report the lowest-delay reply
  -t, --timeout SECONDS  wait this long for each reply (default 2)
  -i, --interval SECONDS pause between requests (default 0.2)
  -p, --port PORT        server port (default 123; or write HOST:PORT)
  -4, -6                 use only IPv4 / IPv6 addresses of HOST
      --ntp-version N    NTP version in the requests (1-4, default 4)
      --json             print one JSON object instead of text
      --nts              authenticate with Network Time Security (HOST is the NTS-KE server;
                         see 'ntpkit query --nts --help')
  -h, --help             show this help

exit status: 0 on a valid reply, 1 when no valid reply came (timeout, unreachable, rejected), 2 on a usage error.`;

export interface ParsedArgs {
  options: QueryOptions;
  json: boolean;
}

/** Parses the command line; returns an error text in plain words on bad input. */
export function parseQueryArgs(args: string[]): ParsedArgs | { error: string } | 'help' {
  let samples = 1;
  let timeout = 2;
  let interval = 0.2;
  let port: number | undefined;
  let family: 4 | 6 | undefined;
  let version = 4;
  let json = false;
  let target: string | undefined;
  const num = (
    name: string,
    v: string | undefined,
    lo: number,
    hi: number,
    integer: boolean,
  ): number | string => {
    if (v === undefined) return `${name} needs a value`;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < lo || n > hi) {
      return `${name} must be ${integer ? 'a whole number' : 'a number'} from ${lo} to ${hi}, not '${v}'`;
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] ?? '';
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const a = eq > 0 ? raw.slice(0, eq) : raw;
    const value = () => (eq > 0 ? raw.slice(eq + 1) : args[++i]);
    let r: number | string;
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '--json':
        json = true;
        break;
      case '-4':
      case '-6':
        if (family !== undefined && family !== Number(a.slice(1)))
          return { error: '-4 and -6 exclude each other' };
        family = a === '-4' ? 4 : 6;
        break;
      case '-n':
      case '--samples':
        r = num('--samples', value(), 1, 64, true);
        if (typeof r === 'string') return { error: r };
        samples = r;
        break;
      case '-t':
      case '--timeout':
        r = num('--timeout', value(), 0.01, 60, false);
        if (typeof r === 'string') return { error: r };
        timeout = r;
        break;
      case '-i':
      case '--interval':
        r = num('--interval', value(), 0, 60, false);
        if (typeof r === 'string') return { error: r };
        interval = r;
        break;
      case '-p':
      case '--port':
        r = num('--port', value(), 1, 65535, true);
        if (typeof r === 'string') return { error: r };
        port = r;
        break;
      case '--ntp-version':
        r = num('--ntp-version', value(), 1, 4, true);
        if (typeof r === 'string') return { error: r };
        version = r;
        break;
      default:
        if (a.startsWith('-') && a.length > 1) return { error: `unknown option '${a}'` };
        if (target !== undefined)
          return { error: `only one server can be queried; got '${target}' and '${a}'` };
        target = a;
    }
  }
  if (target === undefined) return { error: 'no server given (ntpkit query HOST[:PORT])' };
  const t = parseTarget(target, port ?? 123);
  if ('error' in t) return { error: t.error };
  if (port !== undefined && t.port !== port) {
    return { error: `two different ports given: ${t.port} in '${target}' and ${port} with --port` };
  }
  return {
    json,
    options: {
      host: t.host,
      port: t.port,
      samples,
      timeoutMs: Math.round(timeout * 1000),
      intervalMs: Math.round(interval * 1000),
      family,
      version,
    },
  };
}

const LEAP_TEXT = [
  'no warning',
  'last minute of the day has 61 seconds',
  'last minute of the day has 59 seconds',
  'not synchronized',
];

function tsInfo(ts: bigint, s: QuerySample): { seconds: number | null; iso: string | null; hex: string } {
  const hex = ts.toString(16).padStart(16, '0');
  if (ts === 0n) return { seconds: null, iso: null, hex };
  const ns = timestampToUnixNs(ts, s.receivedUnixNs);
  return { seconds: Number(ns) / 1e9, iso: formatUnixNs(ns), hex };
}

/** The JSON report of a successful query (time values in seconds; timestamps as Unix seconds). */
export function reportJson(
  server: string,
  address: string,
  port: number,
  best: QuerySample,
  all: QuerySample[],
  sent: number,
  rejections: Rejection[] = [],
) {
  const r = best.response;
  return {
    server,
    address,
    port,
    offset: best.offset,
    delay: best.delay,
    dispersion: best.dispersion,
    stratum: r.stratum,
    refid: renderRefid(r.referenceId, r.stratum),
    refidHex: (r.referenceId >>> 0).toString(16).padStart(8, '0'),
    leap: r.leap,
    version: r.version,
    mode: r.mode,
    poll: r.poll,
    precision: r.precision,
    precisionSeconds: 2 ** r.precision,
    rootDelay: shortToSeconds(r.rootDelay),
    rootDispersion: shortToSeconds(r.rootDispersion),
    rootDistance: best.rootDistance,
    referenceTimestamp: tsInfo(r.referenceTimestamp, best),
    originTimestamp: tsInfo(r.originTimestamp, best),
    receiveTimestamp: tsInfo(r.receiveTimestamp, best),
    transmitTimestamp: tsInfo(r.transmitTimestamp, best),
    destinationTimestamp: tsInfo(best.t4, best),
    samplesSent: sent,
    samples: all.map((s) => ({ offset: s.offset, delay: s.delay })),
    rejections: rejections
      .filter((r) => r.code !== 'WRONG_SOURCE')
      .map((r) => ({ code: r.code, message: r.message })),
  };
}

function fmtSeconds(v: number, signed = false): string {
  const s = `${v.toFixed(9)} s`;
  return signed && v >= 0 ? `+${s}` : s;
}

function reportText(j: ReturnType<typeof reportJson>): string {
  const ts = (t: { iso: string | null; hex: string }) => `${t.iso ?? '(zero)'}  [${t.hex}]`;
  const lines = [
    `server           ${j.server} (${fmtAddr(j.address, j.port)})`,
    `offset           ${fmtSeconds(j.offset, true)}`,
    `delay            ${fmtSeconds(j.delay)}`,
    `stratum          ${j.stratum}`,
    `refid            ${j.refid}`,
    `leap             ${j.leap} (${LEAP_TEXT[j.leap] ?? '?'})`,
    `version          ${j.version}`,
    `precision        ${j.precision} (${j.precisionSeconds.toExponential(2)} s)`,
    `root delay       ${fmtSeconds(j.rootDelay)}`,
    `root dispersion  ${fmtSeconds(j.rootDispersion)}`,
    `root distance    ${fmtSeconds(j.rootDistance)}`,
    `reference time   ${ts(j.referenceTimestamp)}`,
    `origin time      ${ts(j.originTimestamp)}`,
    `receive time     ${ts(j.receiveTimestamp)}`,
    `transmit time    ${ts(j.transmitTimestamp)}`,
    `destination time ${ts(j.destinationTimestamp)}`,
  ];
  if (j.samplesSent > 1) {
    lines.push(
      `samples          ${j.samples.length} valid of ${j.samplesSent} sent; the lowest-delay one is shown`,
    );
  }
  for (const r of j.rejections) lines.push(`rejected reply   ${r.message}`);
  return `${lines.join('\n')}\n`;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--nts')) return (await import('./nts-query.js')).run(args);
  const parsed = parseQueryArgs(args);
  if (parsed === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ('error' in parsed) {
    process.stderr.write(`ntpkit query: ${parsed.error}\n\n${USAGE}\n`);
    return 2;
  }
  const res = await queryServer(parsed.options);
  const server = parsed.options.host;
  if (!res.ok) {
    if (parsed.json) {
      const rej = res.rejections
        .filter((r) => r.code !== 'WRONG_SOURCE')
        .map((r) => ({ code: r.code, message: r.message }));
      process.stdout.write(
        `${JSON.stringify({ server, address: res.address, port: res.port, error: res.message, rejections: rej })}\n`,
      );
    }
    process.stderr.write(`ntpkit query: ${res.message}\n`);
    return 1;
  }
  const j = reportJson(server, res.address, res.port, res.best, res.samples, res.sent, res.rejections);
  process.stdout.write(parsed.json ? `${JSON.stringify(j, null, 2)}\n` : reportText(j));
  return 0;
}
