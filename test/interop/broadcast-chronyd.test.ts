/**
 * ntpkit as a broadcast client of chronyd (`broadcast 1 127.0.0.1 PORT`): chronyd (stratum 1, the host
 * clock) broadcasts mode 5 every second to ntpkit's port; ntpkit calibrates the path delay with client
 * exchanges, then follows the broadcasts. A probe queries ntpkit every 100 ms.
 *
 * Proves: no synchronised reply before the calibration is done, the clock disciplined by the
 * broadcasts afterwards (synchronised, within 1 ms of the host time), and never a synchronised reply
 * further off than its root distance. Ports 12231-12232. chronyd runs -x under setpriv.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import type { LogFields, Logger } from '../../src/daemon/log.js';
import { wallClockNs } from '../../src/io/udp-query.js';
import { type ChronydHandle, skipReason, sleep, startChronyd, waitFor } from '../support/peers.js';
import { type Probe, saysSynchronised, startProbe, violations } from '../support/probe.js';

const C_PORT = 12231;
const N_PORT = 12232;
const why = skipReason('chronyd', 'setpriv', 'root');

describe('broadcast client of chronyd', { skip: why ?? false }, () => {
  let server: ChronydHandle | null = null;
  let daemon: Daemon | null = null;
  let probe: Probe | null = null;
  /** Host wall time (ns) when ntpkit sent its last calibration request. */
  let calibratedNs: bigint | null = null;
  const events: string[] = [];

  before(async () => {
    server = await startChronyd({ port: C_PORT, localStratum: 1, conf: [`broadcast 1 127.0.0.1 ${N_PORT}`] });
    const logger: Logger = {
      debug() {},
      warn() {},
      error() {},
      info(msg: string, f?: LogFields) {
        if (msg === 'sync' || msg === 'clock-step') events.push(`${msg} ${JSON.stringify(f)}`);
      },
    };
    daemon = await startDaemon(
      parseConfig(`
[[broadcast-client]]
address = "127.0.0.1"
port = ${C_PORT}
iburst = true
minpoll = 0
maxpoll = 0
[serve]
listen = ["127.0.0.1"]
port = ${N_PORT}
[observe]
control-socket = false
`),
      { logger },
    );
    probe = await startProbe(N_PORT);
    const d = daemon;
    // The calibration is the client exchanges at the start: it ends with the last request sent then.
    const sends: { ns: bigint; sent: number }[] = [];
    const sampler = setInterval(() => {
      sends.push({ ns: wallClockNs(), sent: d.snapshot().system.sources[0]?.packetsSent ?? 0 });
    }, 10);
    await waitFor(() => d.snapshot().system.synchronised, 60_000, 200);
    await sleep(10_000);
    clearInterval(sampler);
    await probe.stop();
    const total = sends[sends.length - 1]?.sent ?? 0;
    calibratedNs = sends.find((x) => x.sent === total && total > 0)?.ns ?? null;
  });
  after(async () => {
    await probe?.stop().catch(() => undefined);
    await daemon?.stop();
    await server?.stop();
  });

  it('announces synchronisation only after the calibration, then follows the broadcasts', () => {
    const d = daemon;
    const p = probe;
    assert.ok(d !== null && p !== null);
    assert.ok(calibratedNs !== null, 'calibration ended');
    const early = p.replies.filter(
      (r) => r.sentNs < (calibratedNs ?? 0n) - 100_000_000n && saysSynchronised(r),
    );
    assert.equal(early.length, 0, `${early.length} synchronised replies during calibration`);
    const s = d.snapshot().system;
    if (process.env.NTPKIT_TRACE === '1') {
      console.log(
        events.join('\n'),
        s.clockState,
        JSON.stringify(s.sources[0]),
        Number((calibratedNs ?? 0n) - (p.replies[0]?.sentNs ?? 0n)) / 1e9,
      );
      for (const r of p.replies.filter((_, i) => i % 10 === 0))
        console.log(Number(r.sentNs - (calibratedNs ?? 0n)) / 1e9, r.offset, r.leap, r.stratum);
    }
    assert.ok(s.synchronised, `synchronised: ${events.join(' | ')}`);
    assert.notEqual(s.clockState, 'UNSYNC', 'the clock is disciplined by the broadcasts');
    const last = p.replies.slice(-20);
    assert.ok(last.length === 20 && last.every(saysSynchronised), 'synchronised at the end');
    for (const r of last) assert.ok(Math.abs(r.offset) < 0.001 + r.rtt / 2, `served ${r.offset} s off`);
  });

  it('never serves a time further off than the announced root distance', () => {
    assert.ok(probe !== null);
    const bad = violations(probe.replies, 0, 0.0005);
    assert.equal(
      bad.length,
      0,
      JSON.stringify(bad.slice(0, 3), (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
  });
});
