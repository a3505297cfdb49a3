/**
 * ntpkit as a symmetric active peer of chronyd (`peer … xleave`), both on loopback, chronyd at stratum 1
 * (`local stratum 1`) serving the host clock. (Not under faketime: chronyd's interleaved timestamps are
 * the kernel's, which faketime does not shift, so the truth would be mixed.)
 *
 * Proves: the association runs interleaved and ntpkit's clock is disciplined by it (the clock reaches
 * its synchronised state — the feed-forward clock used to drop every exchange whose T3 came before T2
 * and stay in WARMUP/UNSYNC — and the served time is within 1 ms of the peer's within 2 min), and it
 * never announces synchronisation for a time further off than its root distance.
 * Ports 12221-12222. chronyd runs -x under setpriv; nobody sets the host clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { type ChronydHandle, skipReason, sleep, startChronyd, waitFor } from '../support/peers.js';
import {
  announcedDistance,
  type Probe,
  type ProbeReply,
  saysSynchronised,
  startProbe,
  violations,
} from '../support/probe.js';

const C_PORT = 12221;
const N_PORT = 12222;
const TRUE_OFFSET = 0;
const why = skipReason('chronyd', 'setpriv', 'root');

function show(r: ProbeReply): string {
  return `offset ${r.offset.toFixed(6)} LI ${r.leap} stratum ${r.stratum} distance ${announcedDistance(r).toFixed(6)}`;
}

for (const discipline of ['feedforward', 'rfc5905'] as const) {
  describe(`symmetric interleaved peer of chronyd (${discipline})`, { skip: why ?? false }, () => {
    let peer: ChronydHandle | null = null;
    let daemon: Daemon | null = null;
    let probe: Probe | null = null;
    let settledAfter: number | null = null;

    before(async () => {
      peer = await startChronyd({
        port: C_PORT,
        localStratum: 1,
        conf: [`peer 127.0.0.1 port ${N_PORT} xleave minpoll 0 maxpoll 0`],
      });
      daemon = await startDaemon(
        parseConfig(`
[[peer]]
address = "127.0.0.1"
port = ${C_PORT}
xleave = true
minpoll = 0
maxpoll = 0
[serve]
listen = ["127.0.0.1"]
port = ${N_PORT}
[clock]
discipline = "${discipline}"
stepout = 4
[observe]
control-socket = false
`),
        { logger: silentLogger },
      );
      probe = await startProbe(N_PORT, '127.0.0.1', 250);
      const p = probe;
      const t0 = Date.now();
      // Settled: the last 8 replies synchronised and within 1 ms of the peer's time.
      await waitFor(
        () => {
          const last = p.replies.slice(-8);
          const ok =
            last.length === 8 &&
            last.every((r) => saysSynchronised(r) && Math.abs(r.offset - TRUE_OFFSET) < 0.001);
          if (ok) settledAfter = (Date.now() - t0) / 1000;
          return ok;
        },
        120_000,
        250,
      );
      await sleep(2000);
      await probe.stop();
    });
    after(async () => {
      await probe?.stop().catch(() => undefined);
      await daemon?.stop();
      await peer?.stop();
    });

    it('runs interleaved and disciplines the clock: served time within 1 ms of the peer within 2 min', () => {
      const d = daemon;
      assert.ok(d !== null && probe !== null);
      const s = d.snapshot().system;
      const src = s.sources[0];
      assert.ok(src !== undefined);
      assert.equal(src.mode, 'peer');
      assert.equal(src.interleaved, true, 'interleaved');
      assert.ok(
        settledAfter !== null,
        `not settled: last ${probe.replies.slice(-3).map(show).join('; ')}; clock ${s.clockState}, offset ${s.offset}`,
      );
      assert.ok(s.synchronised, 'status synchronised');
      // (Reached SYNC/TRACKING to settle; the feed-forward clock may be back in WARMUP on a rate re-estimate.)
      assert.ok(['SYNC', 'TRACKING', 'WARMUP'].includes(s.clockState), `clock state ${s.clockState}`);
      assert.ok(Math.abs(src.offset) < 0.001, `peer offset ${src.offset}`);
    });

    it('never announces synchronisation for a time further off than the root distance', () => {
      assert.ok(probe !== null);
      const bad = violations(probe.replies, TRUE_OFFSET, 0.0005);
      assert.equal(bad.length, 0, bad.slice(0, 3).map(show).join('; '));
    });
  });
}
