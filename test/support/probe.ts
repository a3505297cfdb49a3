/**
 * A client that queries an NTP server every ~100 ms and keeps what each reply announced (leap,
 * stratum, root distance) beside the time it served, measured against the host clock. Interop tests
 * use it to prove that a server never serves a time further from the truth than the root distance
 * it announces while it says it is synchronised.
 */
import * as dgram from 'node:dgram';
import { wallClockNs } from '../../src/io/udp-query.js';
import { durationToSeconds, unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { shortToSeconds } from '../../src/time/short.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { refidToString } from '../../src/wire/refid.js';

/** One answered query. */
export interface ProbeReply {
  /** Host wall time (Unix ns) when the request left. */
  sentNs: bigint;
  /** Round trip (s) seen by the probe. */
  rtt: number;
  /** Served time minus host time (s), the usual (T2 − T1 + T3 − T4) / 2. */
  offset: number;
  leap: number;
  stratum: number;
  refid: string;
  rootDelay: number;
  rootDispersion: number;
}

/** The root distance a reply announced (s). */
export function announcedDistance(r: ProbeReply): number {
  return r.rootDelay / 2 + r.rootDispersion;
}

/** Whether a reply said the server is synchronised (LI ≠ 3 and a stratum 1…15). */
export function saysSynchronised(r: ProbeReply): boolean {
  return r.leap !== 3 && r.stratum >= 1 && r.stratum <= 15;
}

/**
 * Synchronised replies whose served time is off the truth (host time + `trueOffset`) by more than
 * the root distance they announced (plus half the probe's own round trip and `slack` s).
 */
export function violations(replies: readonly ProbeReply[], trueOffset: number, slack = 0): ProbeReply[] {
  return replies.filter(
    (r) => saysSynchronised(r) && Math.abs(r.offset - trueOffset) > announcedDistance(r) + r.rtt / 2 + slack,
  );
}

export interface Probe {
  readonly replies: ProbeReply[];
  /** Requests sent. */
  sent(): number;
  stop(): Promise<void>;
}

function ntpNow(): bigint {
  return unixNsToNtpTime(wallClockNs()) & 0xffff_ffff_ffff_ffffn;
}

/** Starts querying `address:port` every `intervalMs` (default 100). */
export async function startProbe(port: number, address = '127.0.0.1', intervalMs = 100): Promise<Probe> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const replies: ProbeReply[] = [];
  const inFlight = new Map<bigint, bigint>();
  let sent = 0;
  s.on('message', (m) => {
    const t4 = ntpNow();
    const d = decodePacket(new Uint8Array(m));
    if (!d.ok || d.packet.mode !== MODE.SERVER) return;
    const p = d.packet;
    const sentNs = inFlight.get(p.originTimestamp);
    if (sentNs === undefined) return;
    inFlight.delete(p.originTimestamp);
    const t1 = p.originTimestamp;
    const sec = (a: bigint, b: bigint) => durationToSeconds(BigInt.asIntN(64, a - b));
    replies.push({
      sentNs,
      rtt: sec(t4, t1) - sec(p.transmitTimestamp, p.receiveTimestamp),
      offset: (sec(p.receiveTimestamp, t1) + sec(p.transmitTimestamp, t4)) / 2,
      leap: p.leap,
      stratum: p.stratum,
      refid: refidToString(p.referenceId),
      rootDelay: shortToSeconds(p.rootDelay),
      rootDispersion: shortToSeconds(p.rootDispersion),
    });
  });
  const tick = () => {
    const p = emptyPacket();
    p.mode = MODE.CLIENT;
    const ns = wallClockNs();
    p.transmitTimestamp = ntpNow();
    inFlight.set(p.transmitTimestamp, ns);
    if (inFlight.size > 64) inFlight.delete(inFlight.keys().next().value as bigint);
    sent++;
    s.send(encodePacket(p), port, address);
  };
  const timer = setInterval(tick, intervalMs);
  tick();
  return {
    replies,
    sent: () => sent,
    stop: async () => {
      clearInterval(timer);
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
