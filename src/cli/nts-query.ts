/**
 * `ntpkit query --nts`: a one-shot NTS-protected query (RFC 8915). Runs NTS-KE over TLS 1.3 with the
 * server, then sends NTP client requests carrying a cookie and an authenticator, and accepts only
 * replies whose authenticator verifies with the negotiated S2C key (plus the usual NTP sanity checks).
 *
 * `src/cli/query.ts` can hand over with `return (await import('./nts-query.js')).run(argsWithoutNts)`;
 * `ntsQuery` is the programmatic entry point.
 */

import { READ_LIMITS, readFileBounded } from '../io/bounded-read.js';
import { nodeCrypto } from '../io/crypto.js';
import { type NtsKeClientResult, nodeRandomBytes, ntsKeClient } from '../io/nts-ke.js';
import {
  fmtAddr,
  LOCAL_PRECISION,
  parseTarget,
  type QueryFailure,
  type QueryRejection,
  type QuerySuccess,
  type ReplyVerdict,
  resolveHost,
  runQuery,
  serverVerdict,
  wallClockNs,
} from '../io/udp-query.js';
import { CookieJar } from '../nts/cookie.js';
import { KE_DEFAULT_PORT } from '../nts/ke.js';
import {
  buildNtsResponse,
  NtsClientSession,
  type NtsResponseProblemCode,
  verifyNtsRequest,
} from '../nts/ntp.js';
import { unixNsToTimestamp } from '../time/ntp-time.js';
import { computeExchange } from '../wire/exchange.js';
import { emptyPacket, MODE } from '../wire/packet.js';
import type { ResponseProblemCode } from '../wire/validate.js';
import { parseQueryArgs, reportJson } from './query-args.js';

export interface NtsQueryOptions {
  /** NTS-KE server host name (checked against its certificate). */
  host: string;
  /** NTS-KE port (default 4460). */
  kePort?: number;
  /** Override the NTP port the KE server names (default: its Port record, else 123). */
  ntpPort?: number;
  /** PEM file(s) of CA certificates to trust instead of the system store. */
  caFile?: string;
  /** Name to verify in the certificate (default: host). */
  servername?: string;
  /** Do not verify the certificate (testing only: this gives up the security NTS exists for). */
  insecure?: boolean;
  samples: number;
  timeoutMs: number;
  intervalMs: number;
  family?: 4 | 6;
}

export type NtsRejection = QueryRejection<ResponseProblemCode | NtsResponseProblemCode>;

export interface NtsInfo {
  aead: number;
  /** Cookies received from NTS-KE. */
  keCookies: number;
  /** Cookies received in authenticated NTP replies. */
  replyCookies: number;
  ntpServer: string;
  ntpPort: number;
}

/** The plain query's result with the NTS details; a failure says whether NTS-KE or NTP failed. */
export type NtsQueryResult =
  | (QuerySuccess<NtsRejection> & { nts: NtsInfo })
  | (QueryFailure<NtsRejection> & { stage: 'ke' | 'ntp'; nts?: NtsInfo });

/** Runs NTS-KE and then the NTS-protected NTP exchange. Never rejects. */
export async function ntsQuery(o: NtsQueryOptions): Promise<NtsQueryResult> {
  const kePort = o.kePort ?? KE_DEFAULT_PORT;
  let ca: Buffer | undefined;
  if (o.caFile !== undefined) {
    try {
      ca = await readFileBounded(o.caFile, READ_LIMITS.pem);
    } catch (err) {
      return keFail(kePort, `cannot read CA file: ${(err as Error).message}`);
    }
  }
  const keOpts: Parameters<typeof ntsKeClient>[0] = {
    host: o.host,
    port: kePort,
    timeoutMs: o.timeoutMs + 3000,
  };
  if (ca !== undefined) keOpts.ca = ca;
  if (o.servername !== undefined) keOpts.servername = o.servername;
  if (o.insecure === true) keOpts.insecure = true;
  const ke: NtsKeClientResult = await ntsKeClient(keOpts);
  if (!ke.ok)
    return keFail(kePort, `NTS-KE with ${fmtAddr(o.host, kePort)} failed (${ke.code}): ${ke.message}`);
  const nts: NtsInfo = {
    aead: ke.keys.aead,
    keCookies: ke.cookies.length,
    replyCookies: 0,
    ntpServer: ke.ntpServer,
    ntpPort: o.ntpPort ?? ke.ntpPort,
  };
  const session = new NtsClientSession(nodeCrypto, ke.keys, ke.cookies);
  let target: { address: string; family: 4 | 6 };
  try {
    target = await resolveHost(nts.ntpServer, o.family);
  } catch (err) {
    return {
      ok: false,
      stage: 'ntp',
      address: null,
      port: nts.ntpPort,
      message: `cannot resolve NTP server '${nts.ntpServer}': ${(err as Error).message}`,
      rejections: [],
      sent: 0,
      nts,
    };
  }
  const loop = {
    ...target,
    port: nts.ntpPort,
    samples: o.samples,
    timeoutMs: o.timeoutMs,
    intervalMs: o.intervalMs,
  };
  const res = await runQuery(loop, {
    request() {
      const base = emptyPacket();
      base.mode = MODE.CLIENT;
      base.precision = LOCAL_PRECISION;
      // The transmit timestamp is our clock; it is authenticated, so a MITM cannot change it.
      const t1 = unixNsToTimestamp(wallClockNs());
      base.transmitTimestamp = t1;
      const req = session.request(base, nodeRandomBytes);
      if (req === null)
        return {
          stop: { code: 'NTS_NAK', message: 'no cookies left (every reply failed to bring new ones)' },
        };
      return { ...req, t1 };
    },
    check(bytes, req): ReplyVerdict<ResponseProblemCode | NtsResponseProblemCode> {
      const v = session.response(bytes, req);
      if (!v.ok) return { ok: false, rejection: { code: v.code, message: v.message } };
      // Authenticated from here: a kiss-o'-death is the server's own and ends the query.
      const verdict = serverVerdict(req.packet, v.packet);
      if (verdict.ok) nts.replyCookies += v.cookies.length;
      return verdict;
    },
    warmUp: () => warmUp(ke.keys.aead),
  });
  return res.ok ? { ...res, nts } : { ...res, stage: 'ntp', nts };
}

/**
 * Runs the NTS part of the timed code path a few times before the first real request (the query
 * loop adds a loopback datagram to ourselves): a complete NTS exchange in memory (AES-SIV, packet codec, exchange arithmetic),
 * so that lazy initialisation and JIT compilation do not land between T1 and T4 of the first sample
 * (without it a single-sample query on loopback shows ~2 ms of extra delay).
 */
function warmUp(aead: number): void {
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const keys = { aead, c2s: nodeRandomBytes(32), s2c: nodeRandomBytes(32) };
  const session = new NtsClientSession(nodeCrypto, keys, [jar.seal(keys)], 1);
  const base = emptyPacket();
  base.mode = MODE.CLIENT;
  for (let i = 0; i < 20; i++) {
    const req = session.request(base, nodeRandomBytes);
    if (req === null) break;
    const v = verifyNtsRequest(req.bytes, jar);
    if (!v.ok) break;
    const reply = { ...v.context.packet, mode: MODE.SERVER, transmitTimestamp: 1n, receiveTimestamp: 1n };
    const r = session.response(buildNtsResponse(reply, v.context, jar, nodeRandomBytes), req);
    if (!r.ok) break;
    computeExchange(0n, unixNsToTimestamp(wallClockNs()), r.packet, LOCAL_PRECISION);
  }
}

function keFail(kePort: number, message: string): NtsQueryResult {
  return { ok: false, stage: 'ke', address: null, port: kePort, message, rejections: [], sent: 0 };
}

const NTS_USAGE = `NTS options (ntpkit query --nts [options] HOST[:PORT]):
  HOST[:PORT] / -p PORT  the NTS-KE server and its TCP port (default 4460)
      --ntp-port PORT    send NTP to this port instead of the one NTS-KE names
      --ca FILE          trust the CA certificate(s) in this PEM file (e.g. a self-signed server cert)
      --servername NAME  certificate name to verify (default: HOST)
      --insecure         do not verify the certificate (testing only)
  All other query options apply (-n, -t, -i, -4, -6, --json); --ntp-version must be 4.`;

export type NtsArgs = { options: NtsQueryOptions; json: boolean } | { error: string } | 'help';

/** Parses `ntpkit query --nts` arguments (with or without the `--nts` flag itself). */
export function parseNtsQueryArgs(args: string[]): NtsArgs {
  const rest: string[] = [];
  const extra: { ntpPort?: number; caFile?: string; servername?: string; insecure?: boolean } = {};
  let explicitPort = false;
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] ?? '';
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const a = eq > 0 ? raw.slice(0, eq) : raw;
    const value = () => (eq > 0 ? raw.slice(eq + 1) : args[++i]);
    switch (a) {
      case '--nts':
        break;
      case '--ntp-port': {
        const v = value();
        const n = Number(v);
        if (v === undefined || !Number.isInteger(n) || n < 1 || n > 65535)
          return { error: `--ntp-port must be a whole number from 1 to 65535, not '${v ?? ''}'` };
        extra.ntpPort = n;
        break;
      }
      case '--ca': {
        const v = value();
        if (v === undefined || v === '') return { error: '--ca needs a file name' };
        extra.caFile = v;
        break;
      }
      case '--servername': {
        const v = value();
        if (v === undefined || v === '') return { error: '--servername needs a name' };
        extra.servername = v;
        break;
      }
      case '--insecure':
        extra.insecure = true;
        break;
      default:
        if (a === '-p' || a === '--port') explicitPort = true;
        else if (!a.startsWith('-')) {
          const t = parseTarget(a, 0);
          if (!('error' in t) && t.port !== 0) explicitPort = true;
        }
        rest.push(raw);
    }
  }
  const q = parseQueryArgs(rest);
  if (q === 'help') return 'help';
  if ('error' in q) return q;
  if ((q.options.version ?? 4) !== 4) return { error: 'NTS works only with NTP version 4' };
  const options: NtsQueryOptions = {
    host: q.options.host,
    kePort: explicitPort ? q.options.port : KE_DEFAULT_PORT,
    samples: q.options.samples,
    timeoutMs: q.options.timeoutMs,
    intervalMs: q.options.intervalMs,
    ...extra,
  };
  if (q.options.family !== undefined) options.family = q.options.family;
  return { options, json: q.json };
}

const AEAD_NAMES: Record<number, string> = { 15: 'AEAD_AES_SIV_CMAC_256' };

/** `ntpkit query --nts …`: prints like `ntpkit query`, plus the NTS details. Exit codes as query. */
export async function run(args: string[]): Promise<number> {
  const parsed = parseNtsQueryArgs(args);
  if (parsed === 'help') {
    process.stdout.write(`${NTS_USAGE}\n`);
    return 0;
  }
  if ('error' in parsed) {
    process.stderr.write(`ntpkit query --nts: ${parsed.error}\n\n${NTS_USAGE}\n`);
    return 2;
  }
  const res = await ntsQuery(parsed.options);
  const server = parsed.options.host;
  const ntsJson = (n: NtsInfo | undefined) =>
    n === undefined ? null : { ...n, aeadName: AEAD_NAMES[n.aead] ?? `AEAD ${n.aead}`, authenticated: true };
  const rej = res.rejections
    .filter((r) => r.code !== 'WRONG_SOURCE')
    .map((r) => ({ code: r.code, message: r.message }));
  if (!res.ok) {
    if (parsed.json) {
      process.stdout.write(
        `${JSON.stringify({ server, stage: res.stage, address: res.address, port: res.port, error: res.message, rejections: rej, nts: res.nts === undefined ? null : { ...ntsJson(res.nts), authenticated: false } })}\n`,
      );
    }
    process.stderr.write(`ntpkit query --nts: ${res.message}\n`);
    return 1;
  }
  const j = {
    ...reportJson(server, res.address, res.port, res.best, res.samples, res.sent),
    rejections: rej,
    nts: ntsJson(res.nts),
  };
  if (parsed.json) {
    process.stdout.write(`${JSON.stringify(j, null, 2)}\n`);
    return 0;
  }
  const sign = j.offset >= 0 ? '+' : '';
  const lines = [
    `server           ${server} (NTP at ${fmtAddr(j.address, j.port)})`,
    `offset           ${sign}${j.offset.toFixed(9)} s`,
    `delay            ${j.delay.toFixed(9)} s`,
    `stratum          ${j.stratum}`,
    `refid            ${j.refid}`,
    `root distance    ${j.rootDistance.toFixed(9)} s`,
    `authentication   NTS (${AEAD_NAMES[res.nts.aead] ?? res.nts.aead}), reply authenticator verified`,
    `cookies          ${res.nts.keCookies} from NTS-KE, ${res.nts.replyCookies} in replies`,
  ];
  if (j.samplesSent > 1)
    lines.push(
      `samples          ${j.samples.length} valid of ${j.samplesSent} sent; the lowest-delay one is shown`,
    );
  for (const r of rej) lines.push(`rejected reply   ${r.message}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
