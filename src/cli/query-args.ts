/**
 * The arguments and the JSON report of `ntpkit query`, shared by the plain query (query.ts) and the
 * NTS query (nts-query.ts).
 */
import { parseTarget, type QueryOptions, type QuerySample, type Rejection } from '../io/udp-query.js';
import { formatUnixNs, timestampToUnixNs } from '../time/ntp-time.js';
import { shortToSeconds } from '../time/short.js';
import { renderRefid } from '../wire/refid.js';

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

/** The leap indicator in words. */
export const LEAP_TEXT = [
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
