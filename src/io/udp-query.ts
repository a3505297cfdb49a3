/**
 * One-shot NTP client over real UDP: sends client-mode requests to a server, validates the replies with
 * the pure `checkServerResponse`, and measures offset and delay. Used by `ntpkit query`.
 *
 * Local time: CLOCK_REALTIME through clock_gettime (koffi) where available; otherwise
 * `performance.timeOrigin` (µs resolution, taken at process start) advanced by the monotonic
 * `process.hrtime.bigint()`. On Linux the request's transmit time and the reply's receive time are
 * the kernel's stamps (src/io/kernel-timestamps.ts), not readings in JavaScript.
 */

import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type NtpTimestamp, unixNsToTimestamp } from '../time/ntp-time.js';
import { computeExchange, type ExchangeResult } from '../wire/exchange.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import { checkServerResponse, type ResponseProblemCode } from '../wire/validate.js';
import { clockReader } from './ffi.js';
import { KernelTimestamps } from './kernel-timestamps.js';

const hrAtOrigin = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
const originNs = BigInt(Math.round(performance.timeOrigin * 1000)) * 1000n;
const realtime = clockReader(0);

/** The local wall clock in Unix nanoseconds (see the module comment). */
export function wallClockNs(): bigint {
  return realtime !== null ? realtime() : originNs + (process.hrtime.bigint() - hrAtOrigin);
}

/** log2 of the local clock's read resolution used in the dispersion estimate (~1 µs). */
export const LOCAL_PRECISION = -20;

export interface QueryTarget {
  host: string;
  port: number;
}

/**
 * Parses `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT` or a bare IPv6 address. Returns an error text
 * in plain words for anything else.
 */
export function parseTarget(text: string, defaultPort = 123): QueryTarget | { error: string } {
  const t = text.trim();
  if (t === '') return { error: 'no server given' };
  let host = t;
  let portText: string | undefined;
  const br = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (br !== null) {
    host = br[1] ?? '';
    portText = br[2];
    if (isIP(host) !== 6) return { error: `'${host}' inside brackets is not an IPv6 address` };
  } else if (t.split(':').length === 2) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i);
    portText = t.slice(i + 1);
  } else if (t.includes(':') && isIP(t) !== 6) {
    return { error: `'${t}' is not a host, HOST:PORT, or an IPv6 address (write [ADDR]:PORT for a port)` };
  }
  if (host === '') return { error: `no host name in '${t}'` };
  if (br === null && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9.])?$/.test(host)) {
    return { error: `'${host}' is not a valid host name or address` };
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return { error: `port '${portText}' is not a number from 1 to 65535` };
    }
    port = Number(portText);
  }
  return { host, port };
}

export interface QueryOptions extends QueryTarget {
  /** Requests to send; the reply with the lowest delay is reported. */
  samples: number;
  /** Time to wait for each reply, ms. */
  timeoutMs: number;
  /** Pause between requests, ms. */
  intervalMs: number;
  /** Restrict name resolution to one address family. */
  family?: 4 | 6;
  /** NTP version to put into requests (default 4). */
  version?: number;
}

export interface QuerySample extends ExchangeResult {
  request: NtpPacket;
  response: NtpPacket;
  /** Client transmit and receive timestamps (wire format). */
  t1: NtpTimestamp;
  t4: NtpTimestamp;
  /** Local clock (Unix ns) at reception, to resolve the era of the reply's timestamps. */
  receivedUnixNs: bigint;
}

/** A rejected reply (or a packet from elsewhere): its code and a plain-words message. */
export interface QueryRejection<C extends string> {
  code: C | 'WRONG_SOURCE';
  message: string;
}

export type Rejection = QueryRejection<ResponseProblemCode | 'UNDECODABLE'>;

/** A query that got a valid reply (`R`: what a rejected reply is described by). */
export interface QuerySuccess<R> {
  ok: true;
  address: string;
  port: number;
  best: QuerySample;
  samples: QuerySample[];
  sent: number;
  rejections: R[];
}

/** A query that got no valid reply. */
export interface QueryFailure<R> {
  ok: false;
  address: string | null;
  port: number;
  message: string;
  rejections: R[];
  sent: number;
}

export type QueryResult = QuerySuccess<Rejection> | QueryFailure<Rejection>;

/** One request of a query: the bytes sent, the packet they carry, and its transmit timestamp. */
export interface QueryRequest {
  bytes: Uint8Array;
  packet: NtpPacket;
  t1: NtpTimestamp;
}

/** A reply taken (the packet a sample is computed from), or rejected; `final` stops the query (KoD). */
export type ReplyVerdict<C extends string> =
  | { ok: true; packet: NtpPacket }
  | { ok: false; rejection: QueryRejection<C>; final?: boolean };

/** What a query sends and how it checks replies: the plain query, or the NTS one (src/cli/nts-query.ts). */
export interface QueryProtocol<C extends string, Q extends QueryRequest = QueryRequest> {
  /** The next request, or the rejection that ends the query (an NTS client out of cookies). */
  request(): Q | { stop: QueryRejection<C> };
  check(bytes: Uint8Array, req: Q): ReplyVerdict<C>;
  /** More of the timed path to run before the first request, beside the loopback warm-up. */
  warmUp?: () => void;
}

export interface QueryLoopOptions {
  address: string;
  family: 4 | 6;
  port: number;
  samples: number;
  timeoutMs: number;
  intervalMs: number;
}

/** The lowest-delay sample (the one a query reports), undefined when there is none. */
export function lowestDelay(samples: QuerySample[]): QuerySample | undefined {
  return samples.reduce<QuerySample | undefined>(
    (b, s) => (b === undefined || s.delay < b.delay ? s : b),
    undefined,
  );
}

/** The message of a query whose requests all went unanswered. */
export function noReplyMessage(address: string, port: number, timeoutMs: number, sent: number): string {
  return `no reply from ${fmtAddr(address, port)} within ${timeoutMs / 1000} s (${sent} request${sent === 1 ? '' : 's'} sent)`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves a host name to one address (IPv4 first unless `family` says otherwise). */
export async function resolveHost(host: string, family?: 4 | 6): Promise<{ address: string; family: 4 | 6 }> {
  const kind = isIP(host);
  if (kind === 4 || kind === 6) {
    if (family !== undefined && family !== kind)
      throw new Error(`${host} is an IPv${kind} address, but -${family} was given`);
    return { address: host, family: kind };
  }
  const found = await lookup(host, { all: true, family: family ?? 0 });
  const pick = found.find((a) => a.family === 4) ?? found[0];
  if (pick === undefined) throw new Error(`cannot resolve host '${host}'`);
  return { address: pick.address, family: pick.family === 6 ? 6 : 4 };
}

/** Runs the query. Never rejects: every failure comes back as `ok: false` with a plain message. */
export async function queryServer(opts: QueryOptions): Promise<QueryResult> {
  let target: { address: string; family: 4 | 6 };
  try {
    target = await resolveHost(opts.host, opts.family);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'no such host (DNS lookup failed)'
        : (err as Error).message;
    return {
      ok: false,
      address: null,
      port: opts.port,
      message: `cannot resolve '${opts.host}': ${why}`,
      rejections: [],
      sent: 0,
    };
  }
  return runQuery({ ...opts, ...target }, plainQuery(opts.version ?? 4));
}

/** Plain client-mode requests, replies checked by `checkServerResponse`. */
function plainQuery(version: number): QueryProtocol<ResponseProblemCode | 'UNDECODABLE'> {
  return {
    request() {
      const packet = emptyPacket();
      packet.mode = MODE.CLIENT;
      packet.version = version;
      packet.precision = LOCAL_PRECISION;
      const t1 = unixNsToTimestamp(wallClockNs());
      packet.transmitTimestamp = t1;
      return { bytes: encodePacket(packet), packet, t1 };
    },
    check(bytes, req) {
      const decoded = decodePacket(bytes);
      if (!decoded.ok) {
        const message = `the reply is not a valid NTP packet: ${decoded.error.message}`;
        return { ok: false, rejection: { code: 'UNDECODABLE', message } };
      }
      return serverVerdict(req.packet, decoded.packet);
    },
  };
}

/** `checkServerResponse` as a reply's verdict: a kiss-o'-death ends the query. */
export function serverVerdict(request: NtpPacket, reply: NtpPacket): ReplyVerdict<ResponseProblemCode> {
  const check = checkServerResponse(request, reply);
  if (check.ok) return { ok: true, packet: reply };
  const rejection = { code: check.code, message: check.message };
  return { ok: false, rejection, final: check.code === 'KISS_OF_DEATH' };
}

/**
 * The query loop of `ntpkit query` and `ntpkit query --nts`: a connected socket to `o.address`,
 * the timed path warmed up, then `o.samples` requests `o.intervalMs` apart, each waiting up to
 * `o.timeoutMs` for a reply that `p.check` takes. On Linux the request's transmit time and the
 * reply's receive time are the kernel's stamps; the packet carries the early reading, which the
 * reply must echo. The lowest-delay sample is the result. Never rejects.
 */
export async function runQuery<C extends string, Q extends QueryRequest>(
  o: QueryLoopOptions,
  p: QueryProtocol<C, Q>,
): Promise<QuerySuccess<QueryRejection<C>> | QueryFailure<QueryRejection<C>>> {
  const socket = dgram.createSocket(o.family === 6 ? 'udp6' : 'udp4');
  const rejections: QueryRejection<C>[] = [];
  const samples: QuerySample[] = [];
  let sent = 0;
  let socketError: Error | null = null;
  type Arrival = { data: Buffer; at: bigint } | { error: Error };
  const queue: Arrival[] = [];
  let waiter: ((a: Arrival | null) => void) | null = null;
  const deliver = (a: Arrival) => {
    if (waiter !== null) {
      const w = waiter;
      waiter = null;
      w(a);
    } else queue.push(a);
  };
  /** The next arrival, or null after `ms` milliseconds. */
  const next = (ms: number): Promise<Arrival | null> => {
    const q = queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiter = null;
        resolve(null);
      }, ms);
      waiter = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
    });
  };
  let stamps: KernelTimestamps | null = null;
  socket.on('message', (data, rinfo) => {
    const user = wallClockNs();
    const at = stamps === null ? user : stamps.received(user);
    if (rinfo.address !== o.address || rinfo.port !== o.port) {
      rejections.push({
        code: 'WRONG_SOURCE',
        message: `ignored a packet from ${rinfo.address}:${rinfo.port}`,
      });
      return;
    }
    deliver({ data, at });
  });
  socket.on('error', (err) => {
    socketError = err;
    deliver({ error: err });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(o.port, o.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    socket.close();
    const message = describeSocketError(err as Error, o.address, o.port);
    return { ok: false, address: o.address, port: o.port, message, rejections, sent };
  }
  stamps = KernelTimestamps.open(socket, wallClockNs);
  p.warmUp?.();
  await loopbackWarmUp();
  try {
    for (let i = 0; i < o.samples && socketError === null; i++) {
      if (i > 0) await sleep(o.intervalMs);
      const req = p.request();
      if ('stop' in req) {
        rejections.push(req.stop);
        break;
      }
      const deadline = performance.now() + o.timeoutMs;
      // The kernel's transmit stamp, when there is one, replaces the reading before the send for
      // the arithmetic; the packet carries the early reading, which the reply must echo.
      stamps?.sending();
      const ticket = stamps?.track(req.bytes) ?? null;
      let precise: Promise<NtpTimestamp> = Promise.resolve(req.t1);
      if (ticket !== null && stamps !== null) {
        const st = stamps;
        precise = new Promise((resolve) =>
          socket.send(req.bytes, (err) =>
            st.settle(
              ticket,
              (k) => resolve(k === null ? req.t1 : unixNsToTimestamp(k)),
              err !== null && err !== undefined,
            ),
          ),
        );
      } else socket.send(req.bytes);
      sent++;
      for (;;) {
        const remaining = deadline - performance.now();
        if (remaining <= 0) break;
        const got = await next(remaining);
        if (got === null || 'error' in got) break;
        const v = p.check(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength), req);
        if (!v.ok) {
          rejections.push(v.rejection);
          if (v.final === true) return finish();
          continue;
        }
        const t1 = await precise;
        const t4 = unixNsToTimestamp(got.at);
        samples.push({
          ...computeExchange(t1, t4, v.packet, LOCAL_PRECISION),
          request: req.packet,
          response: v.packet,
          t1,
          t4,
          receivedUnixNs: got.at,
        });
        break;
      }
    }
  } finally {
    stamps?.close();
    socket.close();
  }
  return finish();

  function finish(): QuerySuccess<QueryRejection<C>> | QueryFailure<QueryRejection<C>> {
    const base = { address: o.address, port: o.port, rejections, sent };
    const best = lowestDelay(samples);
    if (best !== undefined) return { ok: true, ...base, best, samples };
    const kod = rejections.find((r) => r.code === 'KISS_OF_DEATH');
    const reject = kod ?? rejections.find((r) => r.code !== 'WRONG_SOURCE');
    if (reject !== undefined) return { ok: false, ...base, message: `reply rejected: ${reject.message}` };
    if (socketError !== null)
      return { ok: false, ...base, message: describeSocketError(socketError, o.address, o.port) };
    return { ok: false, ...base, message: noReplyMessage(o.address, o.port, o.timeoutMs, sent) };
  }
}

/**
 * Runs the timed code path (dgram send/receive, codec, arithmetic) a few times over a loopback socket
 * talking to itself, so that the first real sample is not skewed by lazy initialisation and JIT
 * compilation (without it a single-sample query on loopback is off by ~1-6 ms).
 */
export async function loopbackWarmUp(): Promise<void> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve());
    });
    const port = s.address().port;
    s.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    for (let i = 0; i < 20; i++) {
      const got = new Promise<Buffer>((resolve) => s.once('message', (m) => resolve(m)));
      const t1 = unixNsToTimestamp(wallClockNs());
      s.send(encodePacket({ ...emptyPacket(), transmitTimestamp: t1 }));
      const m = await Promise.race([got, sleep(100).then(() => null)]);
      if (m === null) break;
      const d = decodePacket(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
      if (d.ok) computeExchange(t1, unixNsToTimestamp(wallClockNs()), d.packet);
    }
  } catch {
    // warm-up is best effort
  } finally {
    s.close();
  }
}

export function fmtAddr(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function describeSocketError(err: Error, address: string, port: number): string {
  const code = (err as { code?: string }).code;
  const where = fmtAddr(address, port);
  switch (code) {
    case 'ECONNREFUSED':
      return `${where} refused the request (ICMP port unreachable: nothing listens on that port, or a firewall rejects it)`;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `${where} is unreachable (no route to the host)`;
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
      return `cannot send to ${where}: this host has no usable address of that family`;
    default:
      return `network error talking to ${where}: ${err.message}`;
  }
}
