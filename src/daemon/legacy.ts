/**
 * The legacy Time (RFC 868) and Daytime (RFC 867) servers, over TCP and UDP, serving whatever
 * clock `nowNtp()` reads (the daemon passes the ntpkit software clock).
 *
 * - TCP: on connection, the server writes the answer and closes.
 * - UDP: any datagram (even an empty one) is answered with one datagram.
 *
 * The UDP services are classic reflection vectors (a tiny request, a larger answer, a spoofable
 * source), so each UDP service answers a given source at most at a bounded rate (a `ServerGuard`
 * token bucket: 16 in a burst, then 4 per second; beyond that silently dropped). TCP needs a
 * handshake, so it cannot be spoofed; open connections are capped.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { ServerGuard } from '../serve/guard.js';
import { type NtpTime, ntpTimeToUnixNs } from '../time/ntp-time.js';
import { encodeTime, formatDaytime } from '../wire/legacy.js';

export interface LegacyServiceConfig {
  /** Port to listen on (37 and 13 are the standard ones; 0 picks a free port). */
  port: number;
  tcp: boolean;
  udp: boolean;
  /** Address to bind. Default `::` (IPv4 and IPv6), falling back to `0.0.0.0` without IPv6. */
  address?: string;
}

export interface LegacyConfig {
  time?: LegacyServiceConfig;
  daytime?: LegacyServiceConfig;
}

export interface LegacyBinding {
  service: 'time' | 'daytime';
  transport: 'tcp' | 'udp';
  address: string;
  port: number;
}

export interface LegacyServices {
  /** What is listening where (ports resolved when 0 was configured). */
  readonly bindings: readonly LegacyBinding[];
  /** Counters: answers sent and UDP requests dropped by the rate limit, per service/transport. */
  counters(): Record<string, { answered: number; dropped: number }>;
  close(): Promise<void>;
}

export interface LegacyOptions {
  /** Raw monotonic counter for the UDP rate limiter. Default process.hrtime.bigint. */
  raw?: () => bigint;
  /** Maximum simultaneous TCP connections per service. Default 256. */
  maxTcpConnections?: number;
  /** Called with errors of individual connections/datagrams (never fatal). */
  onError?: (err: Error) => void;
  /** The server's access list (`NtpServer.allows`): refused sources are dropped unanswered. */
  allows?: (address: string) => boolean;
}

type Encoder = (t: NtpTime) => Uint8Array;

/** RFC 868: the 32-bit seconds since 1900 (big endian), truncated toward -inf. */
function timeBytes(t: NtpTime): Uint8Array {
  return encodeTime(floorDiv(ntpTimeToUnixNs(t), 1_000_000_000n));
}

/** RFC 867: one line of text, in the style of src/wire/legacy.ts (`Saturday, November 21, 2026 15:04:08-UTC`). */
function daytimeBytes(t: NtpTime): Uint8Array {
  return ASCII.encode(formatDaytime(ntpTimeToUnixNs(t)));
}

const ASCII = new TextEncoder();

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

interface Closer {
  close(): Promise<void>;
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function isFamilyError(err: unknown): boolean {
  const c = errorCode(err);
  return c === 'EAFNOSUPPORT' || c === 'EADDRNOTAVAIL' || c === 'EINVAL';
}

async function listenTcp(
  address: string,
  port: number,
  encode: Encoder,
  nowNtp: () => NtpTime,
  count: { answered: number; dropped: number },
  maxConnections: number,
  onError: (err: Error) => void,
  allows: (address: string) => boolean,
): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: false }, (sock) => {
    sock.on('error', (e) => onError(e));
    if (!allows(sock.remoteAddress ?? '')) {
      count.dropped++;
      sock.destroy();
      return;
    }
    try {
      sock.end(encode(nowNtp()));
      count.answered++;
    } catch (e) {
      sock.destroy();
      onError(e instanceof Error ? e : new Error(String(e)));
    }
    // A client that never reads must not hold the socket forever.
    sock.setTimeout(5000, () => sock.destroy());
  });
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    const onErr = (e: Error) => reject(e);
    server.once('error', onErr);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', onErr);
      resolve();
    });
  });
  server.on('error', (e) => onError(e));
  const a = server.address();
  return { server, port: typeof a === 'object' && a !== null ? a.port : port };
}

async function listenUdp(
  address: string,
  port: number,
  encode: Encoder,
  nowNtp: () => NtpTime,
  count: { answered: number; dropped: number },
  raw: () => bigint,
  onError: (err: Error) => void,
  allows: (address: string) => boolean,
): Promise<{ socket: dgram.Socket; port: number }> {
  const type = address.includes(':') ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type, reuseAddr: false });
  const guard = new ServerGuard({
    minRequestLength: 0,
    clientTableSize: 1024,
    rateLimit: { interval: -2, burst: 16, leak: 0, kod: false },
  });
  socket.on('message', (_msg, rinfo) => {
    if (!allows(rinfo.address)) {
      count.dropped++;
      return;
    }
    const d = guard.check(raw(), { address: rinfo.address, port: rinfo.port }, _msg.length);
    if (d.action !== 'serve') {
      count.dropped++;
      return;
    }
    try {
      socket.send(encode(nowNtp()), rinfo.port, rinfo.address, (err) => {
        if (err) onError(err);
      });
      count.answered++;
    } catch (e) {
      onError(e instanceof Error ? e : new Error(String(e)));
    }
  });
  await new Promise<void>((resolve, reject) => {
    const onErr = (e: Error) => {
      socket.close();
      reject(e);
    };
    socket.once('error', onErr);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onErr);
      resolve();
    });
  });
  socket.on('error', (e) => onError(e));
  return { socket, port: socket.address().port };
}

/**
 * Starts the configured legacy services. Rejects (after closing whatever it had opened) when a
 * port cannot be bound.
 */
export async function startLegacyServices(
  cfg: LegacyConfig,
  nowNtp: () => bigint,
  opts: LegacyOptions = {},
): Promise<LegacyServices> {
  const raw = opts.raw ?? (() => process.hrtime.bigint());
  const onError = opts.onError ?? (() => {});
  const maxConn = opts.maxTcpConnections ?? 256;
  const allows = opts.allows ?? (() => true);
  const closers: Closer[] = [];
  const bindings: LegacyBinding[] = [];
  const counts: Record<string, { answered: number; dropped: number }> = {};
  const services: Array<['time' | 'daytime', LegacyServiceConfig | undefined, Encoder]> = [
    ['time', cfg.time, timeBytes],
    ['daytime', cfg.daytime, daytimeBytes],
  ];
  try {
    for (const [name, sc, encode] of services) {
      if (sc === undefined) continue;
      const explicit = sc.address !== undefined;
      const candidates = explicit ? [sc.address as string] : ['::', '0.0.0.0'];
      if (sc.tcp) {
        const count = { answered: 0, dropped: 0 };
        counts[`${name}/tcp`] = count;
        const r = await tryAddresses(candidates, (addr) =>
          listenTcp(addr, sc.port, encode, nowNtp, count, maxConn, onError, allows).then((x) => ({
            ...x,
            addr,
          })),
        );
        closers.push({
          close: () => new Promise<void>((res) => r.server.close(() => res())),
        });
        bindings.push({ service: name, transport: 'tcp', address: r.addr, port: r.port });
      }
      if (sc.udp) {
        const count = { answered: 0, dropped: 0 };
        counts[`${name}/udp`] = count;
        const r = await tryAddresses(candidates, (addr) =>
          listenUdp(addr, sc.port, encode, nowNtp, count, raw, onError, allows).then((x) => ({ ...x, addr })),
        );
        closers.push({
          close: () => new Promise<void>((res) => r.socket.close(() => res())),
        });
        bindings.push({ service: name, transport: 'udp', address: r.addr, port: r.port });
      }
    }
  } catch (e) {
    await Promise.all(closers.map((c) => c.close()));
    throw e;
  }
  let closed = false;
  return {
    bindings,
    counters: () => {
      const out: Record<string, { answered: number; dropped: number }> = {};
      for (const [k, v] of Object.entries(counts)) out[k] = { ...v };
      return out;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all(closers.map((c) => c.close()));
    },
  };
}

async function tryAddresses<T>(candidates: string[], open: (addr: string) => Promise<T>): Promise<T> {
  let lastErr: unknown;
  for (let i = 0; i < candidates.length; i++) {
    const addr = candidates[i] as string;
    try {
      return await open(addr);
    } catch (e) {
      lastErr = e;
      if (i === candidates.length - 1 || !isFamilyError(e)) throw e;
    }
  }
  throw lastErr;
}
