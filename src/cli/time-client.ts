/**
 * `ntpkit time HOST[:PORT] [--udp] [--json] [--timeout S]`: an RFC 868 Time protocol client.
 *
 * RFC 868 sends the 32-bit number of seconds since 1900-01-01 (big endian); over TCP the server
 * sends it on connect and closes, over UDP it answers any datagram. The value wraps in 2036; the
 * era is resolved against the local clock (correct within ±68 years).
 */
import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import { formatNtpTime, unixNsToNtpTime } from '../time/ntp-time.js';
import { decodeTime } from '../wire/legacy.js';

export const TIME_PORT = 37;

export interface HostPort {
  host: string;
  port: number;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address. */
export function parseHostPort(text: string, defaultPort: number): HostPort {
  let host = text;
  let port = defaultPort;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (m !== null) {
    host = m[1] as string;
    if (m[2] !== undefined) port = Number(m[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.indexOf(':');
    host = text.slice(0, i);
    port = Number(text.slice(i + 1));
  }
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`bad address '${text}': expected HOST[:PORT] with PORT in 1..65535`);
  }
  return { host, port };
}

export interface CommonOptions {
  target: HostPort;
  udp: boolean;
  json: boolean;
  timeoutMs: number;
}

export function parseCommonArgs(args: string[], defaultPort: number, usage: string): CommonOptions | string {
  let udp = false;
  let json = false;
  let timeoutMs = 5000;
  let target: HostPort | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--udp' || a === '-u') udp = true;
    else if (a === '--tcp') udp = false;
    else if (a === '--json') json = true;
    else if (a === '--timeout') {
      const v = Number(args[++i]);
      if (!(v > 0)) return `--timeout needs a positive number of seconds\n${usage}`;
      timeoutMs = v * 1000;
    } else if (a === '--help' || a === '-h') return usage;
    else if (a.startsWith('-')) return `unknown option '${a}'\n${usage}`;
    else if (target === null) target = parseHostPort(a, defaultPort);
    else return `unexpected argument '${a}'\n${usage}`;
  }
  if (target === null) return usage;
  return { target, udp, json, timeoutMs };
}

/**
 * Parses the options both legacy clients share. Prints usage, help or the error itself and returns
 * the exit code (0 for --help, 2 for a usage error) when there is nothing to run.
 */
export function cliOptions(
  command: string,
  args: string[],
  defaultPort: number,
  usage: string,
): CommonOptions | number {
  let o: CommonOptions | string;
  try {
    o = parseCommonArgs(args, defaultPort, usage);
  } catch (e) {
    process.stderr.write(`ntpkit ${command}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  if (typeof o !== 'string') return o;
  const help = args.includes('--help') || args.includes('-h');
  (help ? process.stdout : process.stderr).write(`${o}\n`);
  return help ? 0 : 2;
}

/** Bytes of one answer: over TCP everything until the server closes, over UDP one datagram. */
export function fetchAnswer(o: CommonOptions, request: Uint8Array, maxBytes = 1024): Promise<Uint8Array> {
  return o.udp ? fetchUdp(o, request) : fetchTcp(o, maxBytes);
}

function fetchTcp(o: CommonOptions, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const sock = net.connect({ host: o.target.host, port: o.target.port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new Error(`no answer from ${o.target.host} port ${o.target.port} (tcp) within ${o.timeoutMs} ms`),
      );
    }, o.timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      total += d.length;
      if (total > maxBytes) sock.destroy(new Error(`answer longer than ${maxBytes} bytes`));
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(new Uint8Array(Buffer.concat(chunks)));
    });
  });
}

async function fetchUdp(o: CommonOptions, request: Uint8Array): Promise<Uint8Array> {
  const { address, family } = await lookup(o.target.host);
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(
        new Error(`no answer from ${o.target.host} port ${o.target.port} (udp) within ${o.timeoutMs} ms`),
      );
    }, o.timeoutMs);
    sock.on('message', (msg, rinfo) => {
      // Only the server we asked may answer.
      if (rinfo.port !== o.target.port) return;
      clearTimeout(timer);
      sock.close();
      resolve(new Uint8Array(msg));
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      sock.close();
      reject(e);
    });
    sock.send(request, o.target.port, address);
  });
}

const USAGE = `usage: ntpkit time HOST[:PORT] [--udp] [--json] [--timeout SECONDS]
  Reads the RFC 868 Time service (default port ${TIME_PORT}, TCP unless --udp).`;

/** The local wall clock in Unix ns (CLI only; the daemon never reads it). */
function localUnixNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export async function run(args: string[]): Promise<number> {
  const o = cliOptions('time', args, TIME_PORT, USAGE);
  if (typeof o === 'number') return o;
  const t0 = localUnixNs();
  let answer: Uint8Array;
  try {
    answer = await fetchAnswer(o, new Uint8Array(0));
  } catch (e) {
    process.stderr.write(`ntpkit time: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const t1 = localUnixNs();
  const mid = (t0 + t1) / 2n;
  const decoded = decodeTime(answer, mid / 1_000_000_000n);
  if (!decoded.ok) {
    process.stderr.write(`ntpkit time: ${decoded.error}\n`);
    return 1;
  }
  const seconds = decoded.value;
  const serverUnix = Number(decoded.unixSeconds);
  const serverNtp = unixNsToNtpTime(decoded.unixSeconds * 1_000_000_000n);
  // RFC 868 truncates to whole seconds: the offset is only good to ±1 s.
  const offset = serverUnix + 0.5 - Number(mid) / 1e9;
  const rtt = Number(t1 - t0) / 1e9;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({
        host: o.target.host,
        port: o.target.port,
        transport: o.udp ? 'udp' : 'tcp',
        rfc868: seconds,
        unix: serverUnix,
        time: formatNtpTime(serverNtp, 0),
        offset,
        roundTrip: rtt,
      })}\n`,
    );
  } else {
    process.stdout.write(
      `${formatNtpTime(serverNtp, 0)}  (RFC 868 ${seconds}; offset ${offset >= 0 ? '+' : ''}${offset.toFixed(1)} s ±1 s, round trip ${(rtt * 1000).toFixed(1)} ms)\n`,
    );
  }
  return 0;
}
