/**
 * A tiny stratum-1 NTP server for leap-second tests that inserts the second as the Linux kernel does:
 * its clock is the host's real time shifted by a whole number of seconds (the same shift libfaketime
 * gives the other processes of the test), 23:59:59 repeats at the leap, LI=1 during the last day
 * before it, LI=0 after. `truth(realNs)` is that clock, for the test's measurements.
 */
import * as dgram from 'node:dgram';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { refidFromString } from '../../src/wire/refid.js';

const NS = 1_000_000_000n;
const NTP_UNIX = 2_208_988_800n;

/** Real Unix time in ns: Date's millisecond tick anchored once, then the monotonic counter. */
export function realClock(): () => bigint {
  // Wait for Date.now() to tick so that the anchor is on a millisecond boundary (±~50 µs).
  const start = Date.now();
  let ms = start;
  while (ms === start) ms = Date.now();
  const hr0 = process.hrtime.bigint();
  const base = BigInt(ms) * 1_000_000n;
  return () => base + (process.hrtime.bigint() - hr0);
}

export interface LeapServer {
  port: number;
  address: string;
  /** The server's UTC (Unix ns) at real Unix ns `realNs`: real + shift, the leap inserted. */
  truth(realNs: bigint): bigint;
  /** Real Unix ns now (the clock the server reads). */
  real(): bigint;
  close(): Promise<void>;
}

/**
 * `shift`: seconds added to real time (libfaketime's relative offset); `midnight`: Unix seconds of
 * the midnight the inserted second precedes.
 */
export async function startLeapServer(
  port: number,
  shift: number,
  midnight: number,
  address = '127.0.0.1',
): Promise<LeapServer> {
  const real = realClock();
  const mid = BigInt(midnight) * NS;
  const truth = (r: bigint): bigint => {
    const t = r + BigInt(shift) * NS;
    return t >= mid ? t - NS : t;
  };
  const toNtp = (unixNs: bigint): bigint => {
    const s = unixNs / NS + NTP_UNIX;
    const frac = ((unixNs % NS) << 32n) / NS;
    return (s << 32n) | frac;
  };
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const rx = real();
    const d = decodePacket(new Uint8Array(msg));
    if (!d.ok || d.packet.mode !== MODE.CLIENT) return;
    const now = truth(rx);
    const before = rx + BigInt(shift) * NS < mid;
    const p = emptyPacket();
    p.leap = before && mid - (rx + BigInt(shift) * NS) <= 86400n * NS ? 1 : 0;
    p.version = d.packet.version;
    p.mode = MODE.SERVER;
    p.stratum = 1;
    p.poll = d.packet.poll;
    p.precision = -20;
    p.rootDelay = 0;
    p.rootDispersion = 16; // 0.24 ms
    p.referenceId = refidFromString('LEAP');
    p.referenceTimestamp = toNtp(now - (now % NS));
    p.originTimestamp = d.packet.transmitTimestamp;
    p.receiveTimestamp = toNtp(now);
    p.transmitTimestamp = toNtp(truth(real()));
    sock.send(encodePacket(p), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => resolve());
  });
  return {
    port,
    address,
    truth,
    real,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
