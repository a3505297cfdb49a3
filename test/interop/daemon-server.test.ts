/**
 * ntpkit as a server on loopback, between two real chronyds:
 *
 *   chronyd S (stratum 1, :11220) ──xleave──▶ ntpkit N (:11221) ──xleave──▶ chronyd C (client)
 *
 * Proves: ntpkit synchronises to chronyd and runs interleaved as a client (ntpkit → chronyd);
 * chronyd accepts ntpkit's replies, synchronises to it and runs interleaved (chronyd → ntpkit);
 * the header fields ntpkit serves (leap, stratum, refid, root delay, root dispersion) are right,
 * as seen by a raw query and by chronyd's `ntpdata`. Unsynchronised, it says LI=3 / stratum 16 / INIT.
 * Ports 11220-11222. Nobody may set the host clock: chronyd runs -x under setpriv.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { shortToSeconds } from '../../src/time/short.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { refidToString } from '../../src/wire/refid.js';
import { type ChronydHandle, skipReason, startChronyd, waitFor } from '../support/peers.js';

const S_PORT = 11220;
const N_PORT = 11221;
const why = skipReason('chronyd', 'chronyc', 'setpriv', 'root');

async function query(port: number): Promise<NtpPacket> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const p = emptyPacket();
    p.mode = MODE.CLIENT;
    p.transmitTimestamp = 0x0102_0304_0506_0708n;
    const reply = new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply')), 2000);
      s.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
    s.send(encodePacket(p), port, '127.0.0.1');
    const d = decodePacket(new Uint8Array(await reply));
    assert.ok(d.ok);
    assert.equal(d.packet.originTimestamp, 0x0102_0304_0506_0708n);
    return d.packet;
  } finally {
    s.close();
  }
}

/** `chronyc -c ntpdata` / `tracking` CSV fields. */
function csv(out: string): string[] {
  return (out.trim().split('\n')[0] ?? '').split(',');
}

describe('ntpkit between chronyd servers and clients (loopback)', { skip: why ?? false }, () => {
  let server: ChronydHandle | null = null;
  let client: ChronydHandle | null = null;
  let daemon: Daemon | null = null;

  before(async () => {
    server = await startChronyd({ port: S_PORT, localStratum: 1 });
  });
  after(async () => {
    await client?.stop();
    await daemon?.stop();
    await server?.stop();
  });

  it('serves LI=3, stratum 16 (0 on the wire), refid INIT while unsynchronised', async () => {
    daemon = await startDaemon(
      parseConfig(`
[[server]]
address = "127.0.0.1"
port = ${S_PORT}
iburst = true
xleave = true
minpoll = -2
maxpoll = -2
[serve]
listen = ["127.0.0.1"]
port = ${N_PORT}
[clock]
stepout = 2
# this suite checks the RFC 5905 state names (SYNC); daemon-client covers the feed-forward clock
discipline = "rfc5905"
[observe]
control-socket = false
`),
      { logger: silentLogger },
    );
    const p = await query(N_PORT);
    assert.equal(daemon.snapshot().system.synchronised, false);
    assert.equal(p.leap, 3);
    assert.equal(p.stratum, 0);
    assert.equal(p.mode, MODE.SERVER);
    assert.equal(refidToString(p.referenceId), 'INIT');
  });

  it('ntpkit synchronises to chronyd, interleaved (ntpkit → chronyd)', async () => {
    const d = daemon;
    assert.ok(d !== null);
    const ok = await waitFor(
      () => {
        const s = d.snapshot().system;
        // a full clock filter (8 samples), so root dispersion no longer counts empty stages
        const f = s.sources[0]?.filter ?? [];
        // ... and the discipline past its frequency-measuring phase (SYNC), whose error bound is large
        return (
          s.synchronised &&
          s.clockState === 'SYNC' &&
          s.sources[0]?.interleaved === true &&
          f.length === 8 &&
          f.every((x) => x.dispersion < 1)
        );
      },
      45_000,
      250,
    );
    const s = d.snapshot().system;
    assert.ok(
      ok,
      `not synchronised/interleaved: ${JSON.stringify({ ...s, sources: s.sources.map((x) => ({ ...x, filter: [] })) })}`,
    );
    assert.equal(s.stratum, 2);
    assert.equal(s.refid, '127.0.0.1');
    assert.equal(s.sources[0]?.verdict, 'sys-peer');
  });

  it('serves the right header fields once synchronised', async () => {
    const d = daemon;
    assert.ok(d !== null);
    const p = await query(N_PORT);
    const s = d.snapshot().system;
    const seen = JSON.stringify({
      leap: p.leap,
      stratum: p.stratum,
      refid: p.referenceId.toString(16),
      system: { ...s, sources: s.sources.map((x) => ({ ...x, filter: [], rejected: null })) },
    });
    assert.equal(p.leap, 0, seen);
    assert.equal(p.stratum, 2, seen);
    assert.equal(p.referenceId, 0x7f000001, seen);
    assert.ok(p.precision <= -10 && p.precision >= -32, `precision ${p.precision}`);
    // Root delay: ours to S plus S's (0); root dispersion grows with time but stays small on loopback.
    const rd = shortToSeconds(p.rootDelay);
    const rdisp = shortToSeconds(p.rootDispersion);
    assert.ok(Math.abs(rd - s.rootDelay) < 1e-4 + s.rootDelay * 0.5, `root delay ${rd} vs ${s.rootDelay}`);
    assert.ok(rd > 0 && rd < 0.01, `root delay ${rd}`);
    assert.ok(
      rdisp > 0 && rdisp < 0.1,
      `root dispersion ${rdisp}: ${JSON.stringify({ ...s, sources: s.sources.map((x) => ({ ...x, rejected: null })) })}`,
    );
  });

  it('chronyd synchronises to ntpkit, interleaved (chronyd → ntpkit), and reads its fields', async () => {
    client = await startChronyd({
      port: 0,
      conf: [`server 127.0.0.1 port ${N_PORT} iburst minpoll -2 maxpoll -2 xleave`],
    });
    const c = client;
    let tracking: string[] = [];
    let ntpdata = '';
    const ok = await waitFor(
      async () => {
        tracking = csv(await c.chronyc(['-c', 'tracking']));
        ntpdata = await c.chronyc(['ntpdata', '127.0.0.1']);
        return tracking[0] === '7F000001' && /Interleaved\s*:\s*Yes/.test(ntpdata);
      },
      45_000,
      500,
    );
    assert.ok(ok, `chronyd tracking: ${tracking.join(',')}\n${ntpdata}`);
    // tracking CSV: refid, address, stratum, ..., leap status is the last field
    assert.equal(tracking[2], '3', 'chronyd is at stratum 3 behind ntpkit (2)');
    assert.equal(tracking[tracking.length - 1], 'Normal');
    assert.match(ntpdata, /Stratum\s*:\s*2\b/);
    assert.match(ntpdata, /Leap status\s*:\s*Normal/);
    assert.match(ntpdata, /Reference ID\s*:\s*7F000001/);
    const rootDelay = Number(/Root delay\s*:\s*([\d.e+-]+)/.exec(ntpdata)?.[1]);
    const rootDisp = Number(/Root dispersion\s*:\s*([\d.e+-]+)/.exec(ntpdata)?.[1]);
    assert.ok(rootDelay > 0 && rootDelay < 0.01, `root delay ${rootDelay}`);
    assert.ok(rootDisp > 0 && rootDisp < 0.1, `root dispersion ${rootDisp}`);
    const srv = daemon?.snapshot().server;
    assert.ok((srv?.interleavedResponses ?? 0) > 0, JSON.stringify(srv));
    assert.ok((srv?.responses ?? 0) >= (srv?.interleavedResponses ?? 0));
    // The workers report their client tables at most once a second: the row follows within that.
    const marked = await waitFor(
      () => daemon?.snapshot().clients.find((c) => c.address === '127.0.0.1')?.interleaved === true,
      3000,
      100,
    );
    assert.ok(marked, JSON.stringify(daemon?.snapshot().clients));
    // Linux: every datagram got the kernel's receive stamp, and the precise transmit stamps of
    // the interleaved replies are the kernel's (src/io/kernel-timestamps.ts).
    const ts = daemon?.snapshot().timestamping;
    assert.equal(ts?.mode, 'kernel', JSON.stringify(ts));
    assert.ok((ts?.rxKernel ?? 0) > 10 && ts?.rxUser === 0, JSON.stringify(ts));
    assert.ok((ts?.txKernel ?? 0) > 10 && (ts?.txUser ?? 1) <= (ts?.txKernel ?? 0) / 10, JSON.stringify(ts));
    // With kernel stamps at both ends, chronyd's interleaved delay is the kernel's loopback path.
    const delay = Number(/Peer delay\s*:\s*([\d.e+-]+)/.exec(ntpdata)?.[1]);
    assert.ok(delay >= 0 && delay < 200e-6, `peer delay ${delay}`);
  });
});
