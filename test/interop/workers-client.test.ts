/**
 * A daemon with server workers on (`[serve] workers = 1`) as a client of chronyd, beside one with
 * `workers = 0` polling the same chronyd at the same time: the workers' daemon sends its requests
 * from the main thread's own member of the server port's SO_REUSEPORT group, so its T1 is the
 * kernel's transmit stamp, and the replies reach it through its worker with the kernel's receive
 * stamp (T4). `ntpkit status` says so (Timestamping: kernel, Transport: batched), and its samples
 * are as good as the node:dgram daemon's: median delay and offset within 50 µs of it.
 * Ports 12440-12442. chronyd runs -x under setpriv; nobody sets the host clock.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { fastServerSupport } from '../../src/io/fast-server.js';
import { formatStatus } from '../../src/observe/format.js';
import { measureServer } from '../support/measure.js';
import { type ChronydHandle, skipReason, sleep, startChronyd, waitFor } from '../support/peers.js';

const CHRONY = 12440;
const why = skipReason('chronyd', 'setpriv', 'root') ?? fastServerSupport();

function config(workers: number, port: number): string {
  return `
[[server]]
address = "127.0.0.1"
port = ${CHRONY}
iburst = true
minpoll = -2
maxpoll = -2
[serve]
listen = ["127.0.0.1"]
port = ${port}
workers = ${workers}
[clock]
stepout = 25
[observe]
control-socket = false
`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const us = (s: number) => `${(s * 1e6).toFixed(1)} µs`;

describe('a daemon with server workers as a client of chronyd', { skip: why ?? false }, () => {
  let chrony: ChronydHandle | null = null;
  const daemons: Daemon[] = [];
  after(async () => {
    for (const d of daemons) await d.stop();
    await chrony?.stop();
  });

  it('gets kernel T1 and T4 stamps, and samples as good as with workers = 0', async (t) => {
    chrony = await startChronyd({ port: CHRONY, localStratum: 1 });
    const batched = await startDaemon(parseConfig(config(1, 12441)), { logger: silentLogger });
    daemons.push(batched);
    const dgram = await startDaemon(parseConfig(config(0, 12442)), { logger: silentLogger });
    daemons.push(dgram);
    const synced = await waitFor(
      () => batched.snapshot().system.synchronised && dgram.snapshot().system.synchronised,
      40_000,
      250,
    );
    assert.ok(synced, 'both daemons synchronised to chronyd');
    // Samples of the next 20 s (each filter stage once), both daemons over the same time.
    const seen = [new Map<string, { offset: number; delay: number }>(), new Map()];
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      for (const [k, d] of [batched, dgram].entries()) {
        for (const f of d.snapshot().system.sources[0]?.filter ?? [])
          seen[k]?.set(`${f.offset}/${f.delay}`, { offset: f.offset, delay: f.delay });
      }
    }
    const stats = seen.map((m) => {
      const v = [...m.values()];
      return { n: v.length, delay: median(v.map((x) => x.delay)), offset: median(v.map((x) => x.offset)) };
    });
    const truth = [await measureServer(batched, CHRONY, 10), await measureServer(dgram, CHRONY, 10)];
    const snap = batched.snapshot();
    const ts = snap.timestamping;
    const [b, g] = stats;
    t.diagnostic(
      `workers = 1: ${b?.n} samples, median delay ${us(b?.delay ?? 0)}, offset ${us(b?.offset ?? 0)}, truth ${us(truth[0]?.offset ?? 0)}; workers = 0: ${g?.n} samples, median delay ${us(g?.delay ?? 0)}, offset ${us(g?.offset ?? 0)}, truth ${us(truth[1]?.offset ?? 0)}; stamps ${JSON.stringify(ts)}`,
    );
    assert.equal(snap.transport?.kind, 'batched');
    assert.ok(ts !== undefined);
    assert.equal(ts.mode, 'kernel');
    // T1: the main thread's sends, stamped by the kernel (a few may miss their stamp under load).
    assert.ok(ts.txKernel >= 0.9 * (ts.txKernel + ts.txUser) && ts.txKernel >= 20, JSON.stringify(ts));
    // T4: the replies, received by the worker with the kernel's stamp and forwarded.
    assert.ok(ts.rxKernel >= 0.9 * (ts.rxKernel + ts.rxUser) && ts.rxKernel >= 20, JSON.stringify(ts));
    const text = formatStatus(snap);
    assert.match(text, /Timestamping\s+: kernel \(/);
    assert.match(text, /Transport\s+: batched/);
    assert.ok(b !== undefined && g !== undefined && b.n >= 20 && g.n >= 20, JSON.stringify(stats));
    assert.ok(b.delay <= g.delay + 50e-6, `median delay ${us(b.delay)} vs ${us(g.delay)} with workers = 0`);
    assert.ok(
      Math.abs(b.offset) <= Math.abs(g.offset) + 50e-6,
      `median offset ${us(b.offset)} vs ${us(g.offset)} with workers = 0`,
    );
    for (const m of truth) assert.ok(Math.abs(m.offset) < 1e-3, `daemon vs chronyd ${m.offset} s`);
  });
});
