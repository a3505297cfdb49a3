/**
 * Issue 6 proof: a flood of 100,000 requests from one address is answered with KoD RATE or
 * dropped, while another client keeps being served. Runs the real daemon (startDaemon) on
 * loopback, the flood from a worker thread (its own event loop) bound to 127.0.0.66, the polite
 * client from 127.0.0.2. Bounded: 100,000 requests paced at 25,000/s, 10 s hard limit.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { LoadgenOptions, LoadgenResult } from '../../bench/udp-loadgen.js';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger, startDaemon } from '../../src/daemon/index.js';

const PORT = 11510;
const FLOOD = 100_000;

function runWorker(o: LoadgenOptions): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('../../bench/udp-loadgen.js', import.meta.url), { workerData: o });
    w.once('message', (m: { ok: boolean; result?: LoadgenResult; error?: string }) => {
      if (m.ok && m.result !== undefined) resolve(m.result);
      else reject(new Error(m.error ?? 'load generator failed'));
      void w.terminate();
    });
    w.once('error', reject);
  });
}

interface PoliteResult {
  sent: number;
  normal: number;
  kod: number;
}

/** A well-behaved client: one request every `intervalMs` from 127.0.0.2 while `running()`. */
async function politeClient(intervalMs: number, running: () => boolean): Promise<PoliteResult> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind({ address: '127.0.0.2', port: 0 }, () => r()));
  const r: PoliteResult = { sent: 0, normal: 0, kod: 0 };
  s.on('message', (m: Buffer) => {
    if (m.length < 48 || (m[0]! & 7) !== 4) return;
    if (m[1] === 0) r.kod++;
    else r.normal++;
  });
  while (running()) {
    const b = Buffer.alloc(48);
    b[0] = (4 << 3) | 3;
    b.writeUInt32BE(0xe0000000 + r.sent, 40);
    s.send(b, PORT, '127.0.0.1');
    r.sent++;
    await new Promise((res) => setTimeout(res, intervalMs));
  }
  await new Promise((res) => setTimeout(res, 200));
  s.close();
  return r;
}

test('100,000 requests from one address get KoD RATE or nothing; another client is served', async (t) => {
  const config = parseConfig(
    `
[serve]
listen = ["127.0.0.1"]
port = ${PORT}

[local]
stratum = 5

[rate-limit]
interval = -1
burst = 8
leak = 0
kod = true
`,
    'flood-test.toml',
  );
  const daemon = await startDaemon(config, { logger: silentLogger, observe: false });
  t.after(() => daemon.stop());

  let flooding = true;
  const politeP = politeClient(500, () => flooding);
  const flood = await runWorker({
    host: '127.0.0.1',
    port: PORT,
    sources: ['127.0.0.66'],
    count: FLOOD,
    rate: 25_000,
    maxSeconds: 10,
    drainMs: 300,
  }).finally(() => {
    flooding = false;
  });
  const polite = await politeP;
  const snap = daemon.snapshot();
  const floodClient = snap.clients.find((c) => c.address.startsWith('127.0.0.66'));
  const politeClientSnap = snap.clients.find((c) => c.address.startsWith('127.0.0.2'));
  t.diagnostic(`flood: ${JSON.stringify(flood)}`);
  t.diagnostic(`polite: ${JSON.stringify(polite)}`);
  t.diagnostic(`server: ${JSON.stringify(snap.server)}`);
  t.diagnostic(`clients: ${JSON.stringify(snap.clients)}`);

  assert.equal(flood.sent, FLOOD);
  const seconds = flood.sendSeconds + 0.3;
  // The flooder gets its burst plus one answer per 2^interval s, and at most one KoD per second.
  assert.ok(flood.normal <= 8 + Math.ceil(seconds * 2) + 2, `flooder normal answers ${flood.normal}`);
  assert.ok(flood.kod >= 1, 'the flooder is told RATE');
  assert.ok(flood.kod <= Math.ceil(seconds) + 2, `KoDs ${flood.kod}`);
  assert.deepEqual(Object.keys(flood.kodCodes), ['RATE']);
  const unanswered = flood.sent - flood.normal - flood.kod;
  assert.ok(unanswered / flood.sent > 0.999, `dropped fraction ${unanswered / flood.sent}`);
  // The daemon saw (most of) the flood and limited it.
  assert.ok(floodClient !== undefined, 'flooder is in the client table');
  assert.ok(floodClient.requests > FLOOD * 0.5, `daemon saw ${floodClient.requests}`);
  assert.ok(snap.server.rateLimited >= floodClient.requests - 8 - Math.ceil(seconds * 2) - 2);
  // The polite client was served all along.
  assert.ok(polite.sent >= 4, `polite sent ${polite.sent}`);
  assert.equal(polite.kod, 0);
  assert.ok(polite.normal >= polite.sent - 1, `polite answered ${polite.normal}/${polite.sent}`);
  assert.ok(politeClientSnap !== undefined && politeClientSnap.dropped === 0);
});
