/**
 * ntpkit's KoD RATE as a real client sees it: chronyd polling ntpkit faster than its rate limit
 * (minpoll -2, i.e. 4 requests/s, against `interval = 1`: one request per 2 s, burst 2) logs
 * "Received KoD RATE", slows down, and still selects ntpkit as its source from the answers it gets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger, startDaemon } from '../../src/daemon/index.js';
import { skipReason, sleep, startChronyd } from '../support/peers.js';

const PORT = 11512;
const RUN_S = 10;

test('chronyd honours ntpkit KoD RATE and stays synchronised to it', async (t) => {
  const why = skipReason('chronyd', 'chronyc', 'setpriv');
  if (why !== null) return t.skip(why);
  const config = parseConfig(
    `
[serve]
listen = ["127.0.0.1"]
port = ${PORT}

[local]
stratum = 3

[rate-limit]
interval = 1
burst = 2
leak = 0
kod = true
`,
    'kod-chronyd.toml',
  );
  const daemon = await startDaemon(config, { logger: silentLogger, observe: false });
  t.after(() => daemon.stop());
  const chrony = await startChronyd({
    port: 0,
    conf: [`server 127.0.0.1 port ${PORT} iburst minpoll -2 maxpoll 4`],
  });
  t.after(() => chrony.stop());
  const t0 = Date.now();
  await sleep(RUN_S * 1000);
  const elapsed = (Date.now() - t0) / 1000;
  const server = daemon.snapshot().server;
  const ntpdata = await chrony.chronyc(['ntpdata']);
  const sources = (await chrony.chronyc(['-c', 'sources'])).trim();
  const log = chrony.daemon.output();
  t.diagnostic(`ntpkit server stats: ${JSON.stringify(server)}`);
  t.diagnostic(`chronyc sources: ${sources}`);

  assert.ok(server.kodSent >= 1, 'ntpkit sent KoD RATE');
  assert.match(log, /Received KoD RATE from 127\.0\.0\.1/, 'chronyd recognised the KoD');
  const tx = Number(/Total TX\s*:\s*(\d+)/.exec(ntpdata)?.[1]);
  // Unthrottled, minpoll -2 would be 4 requests per second.
  assert.ok(tx > 0 && tx < 0.75 * 4 * elapsed, `chronyd sent ${tx} requests in ${elapsed.toFixed(1)} s`);
  // Every request is accounted for: served within the limit, or a KoD (at most one per second).
  assert.equal(server.responses + server.kodSent + server.dropped, server.requests);
  assert.ok(server.responses <= 2 + Math.ceil(elapsed / 2) + 1, `served ${server.responses}`);
  assert.match(sources, /^\^,\*,127\.0\.0\.1,3,/m, 'chronyd selected ntpkit (stratum 3) as its source');
});
