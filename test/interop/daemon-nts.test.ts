/**
 * The ntpkit daemon with NTS (RFC 8915) against chrony 4.3, both ways (ports 11600-11609):
 * 1. ntpkit as NTS client of chronyd (ntsserverkey/ntsservercert): NTS-KE, authenticated exchanges,
 *    synchronised within 1 ms; a second NTS source whose responder forges replies is rejected (counter,
 *    no sample, never selected); chronyd restarted with new keys → NTS NAK → ntpkit runs NTS-KE again.
 * 2. chronyd as NTS client of the ntpkit daemon (`[nts] server-cert/server-key`): chronyc authdata shows
 *    NTS, ntpdata Authenticated: Yes, chronyd selects ntpkit (^*). A daemon restart keeps chronyd's
 *    cookies valid (master keys in the key file, no NAK); a restart without the key file NAKs and
 *    chronyd runs NTS-KE again.
 * chronyd runs -x under setpriv: the host clock is never touched.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { nodeRandomBytes, startNtsKeServer } from '../../src/io/nts-ke.js';
import { CookieJar } from '../../src/nts/cookie.js';
import type { SourceSnapshot } from '../../src/system/snapshot.js';
import { makeCert, startNtsResponder } from '../nts/responder.js';
import { measureServer } from '../support/measure.js';
import { freeTempDir, removeDir, skipReason, startChronyd, waitFor } from '../support/peers.js';

const resolve = async (h: string) => (h === 'localhost' ? ['127.0.0.1'] : [h]);

function source(d: Daemon, port: number): SourceSnapshot | undefined {
  return d.snapshot().system.sources.find((s) => s.port === port);
}

test('ntpkit daemon as NTS client of chronyd 4.3: authenticated, synchronised, forgeries rejected, NAK → new KE', async (t) => {
  const why = skipReason('root', 'chronyd', 'chronyc', 'openssl', 'setpriv');
  if (why !== null) return t.skip(why);
  const dir = await freeTempDir('ntpkit-dnts-');
  t.after(() => removeDir(dir));
  const { keyPath, certPath, key, cert } = await makeCert(dir);
  const chronyConf = [`ntsserverkey ${keyPath}`, `ntsservercert ${certPath}`, 'ntsport 11601'];
  let srv = await startChronyd({ port: 11600, conf: chronyConf });
  t.after(() => srv.stop());
  // A second NTS server whose NTP responder forges every reply (KE is genuine).
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const keBad = await startNtsKeServer({ key, cert, host: '127.0.0.2', port: 11603, jar, ntpPort: 11604 });
  t.after(() => keBad.close());
  const bad = await startNtsResponder({ host: '127.0.0.2', port: 11604, jar, tamper: true });
  t.after(() => bad.close());

  const d = await startDaemon(
    parseConfig(`
[[server]]
address = "localhost"
nts = true
nts-port = 11601
iburst = true
minpoll = -2
maxpoll = -2
[[server]]
address = "127.0.0.2"
nts = true
nts-port = 11603
iburst = true
minpoll = -2
maxpoll = -2
[nts]
trusted-certs = "${certPath}"
[serve]
enabled = false
listen = ["127.0.0.1"]
[clock]
discipline = "feedforward"
stepout = 25
[observe]
control-socket = false
`),
    { logger: silentLogger, resolve },
  );
  t.after(() => d.stop());
  const t0 = Date.now();

  // The KE server named chronyd's NTP port (11600) and the forger's (11604).
  const synced = await waitFor(() => {
    const s = source(d, 11600);
    return (
      s !== undefined &&
      s.verdict === 'sys-peer' &&
      d.snapshot().system.synchronised &&
      Math.abs(s.offset) < 0.0005
    );
  }, 30_000);
  t.diagnostic(`synchronised after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const good = source(d, 11600);
  assert.ok(synced, JSON.stringify(d.snapshot().system.sources, null, 1));
  assert.ok(good !== undefined);
  assert.equal(good.authMethod, 'nts');
  assert.equal(good.auth, 'ok');
  assert.ok(good.reach !== 0);
  assert.equal(good.nts?.session, true);
  assert.ok((good.nts?.cookies ?? 0) >= 7, `cookie pool ${good.nts?.cookies}`);
  assert.equal(good.nts?.authFailures, 0);
  assert.ok(Math.abs(good.offset) < 0.001, `reported offset ${good.offset}`);
  const m = await measureServer(d, 11600, 8);
  t.diagnostic(
    `reported offset ${(good.offset * 1e6).toFixed(1)} µs, measured ${(m.offset * 1e6).toFixed(1)} µs (delay ${(m.delay * 1e6).toFixed(1)} µs)`,
  );
  assert.ok(Math.abs(m.offset) < 0.001, `measured offset ${m.offset} s (delay ${m.delay})`);

  // The forged source: replies arrive and are all rejected; it never gives a sample.
  const forged = source(d, 11604);
  assert.ok(forged !== undefined, JSON.stringify(d.snapshot().system.sources));
  assert.ok(bad.stats.authenticated >= 3, JSON.stringify(bad.stats));
  assert.ok((forged.rejected['nts-auth-failed'] ?? 0) >= 3, JSON.stringify(forged.rejected));
  assert.equal(forged.reach, 0);
  assert.equal(forged.when, null, 'no packet of the forger was ever accepted');
  assert.notEqual(forged.verdict, 'sys-peer');

  // chronyd counted our authenticated requests.
  const stats = await srv.chronyc(['serverstats']);
  const auth = /Authenticated NTP packets\s*:\s*(\d+)/.exec(stats);
  assert.ok(auth !== null && Number(auth[1]) >= 4, stats);

  // chronyd restarted without its old keys: our cookies are unknown to it → NTS NAK → new NTS-KE.
  const kesBefore = good.nts?.keRequests ?? 0;
  await srv.stop();
  srv = await startChronyd({ port: 11600, conf: chronyConf });
  const rekeyed = await waitFor(() => {
    const s = source(d, 11600);
    return (s?.nts?.naks ?? 0) >= 1 && s?.nts?.session === true && (s?.reach ?? 0) % 2 === 1;
  }, 20_000);
  const after = source(d, 11600);
  assert.ok(rekeyed, JSON.stringify(after));
  assert.ok((after?.nts?.keRequests ?? 0) > kesBefore);
  assert.equal(after?.auth, 'ok');
});

test('chronyd 4.3 as NTS client of the ntpkit daemon; key file keeps cookies valid across a restart', async (t) => {
  const why = skipReason('root', 'chronyd', 'chronyc', 'openssl', 'setpriv');
  if (why !== null) return t.skip(why);
  const dir = await freeTempDir('ntpkit-dnts-');
  t.after(() => removeDir(dir));
  const { keyPath, certPath } = await makeCert(dir);
  const stateFile = join(dir, 'state.json');
  const keyFile = join(dir, 'ntpkit-nts-keys.json');
  const conf = parseConfig(`
[local]
stratum = 1
[serve]
listen = ["127.0.0.1"]
port = 11606
[nts]
server-cert = "${certPath}"
server-key = "${keyPath}"
ke-port = 11607
[clock]
discipline = "feedforward"
state-file = "${stateFile}"
[observe]
control-socket = false
`);
  let d = await startDaemon(conf, { logger: silentLogger, resolve });
  t.after(() => d.stop());
  assert.ok(existsSync(keyFile), 'master keys written next to the state file');
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  const keys1 = JSON.parse(await readFile(keyFile, 'utf8')) as { keys: unknown[] };
  assert.equal(keys1.keys.length, 1);

  const cli = await startChronyd({
    port: 0,
    conf: [
      'server 127.0.0.1 port 11606 nts ntsport 11607 iburst minpoll -2 maxpoll -2',
      `ntstrustedcerts ${certPath}`,
    ],
  });
  t.after(() => cli.stop());

  const selected = await waitFor(async () => /^\^\*/m.test(await cli.chronyc(['sources'])), 20_000, 250);
  assert.ok(selected, `${await cli.chronyc(['sources'])}\n${JSON.stringify(d.snapshot().system.extra)}`);
  const authdata = await cli.chronyc(['-c', 'authdata']);
  const row = authdata.trim().split('\n')[0]?.split(',') ?? [];
  assert.equal(row[1], 'NTS', authdata);
  assert.equal(row[3], '15', 'AEAD_AES_SIV_CMAC_256');
  assert.equal(row[9], '104', 'our cookie length');
  const nd = await cli.chronyc(['ntpdata']);
  assert.match(nd, /Authenticated\s*:\s*Yes/);
  const extra = d.snapshot().system.extra ?? {};
  assert.ok(Number(extra.ntsServerResponses) >= 3, JSON.stringify(extra));
  assert.equal(extra.ntsServerNaks, 0);

  // Restart with the same key file: chronyd's cookies still open, no NAK, no new NTS-KE needed.
  await d.stop();
  d = await startDaemon(conf, { logger: silentLogger, resolve });
  const kept = await waitFor(() => Number(d.snapshot().system.extra?.ntsServerResponses ?? 0) >= 3, 10_000);
  const e2 = d.snapshot().system.extra ?? {};
  assert.ok(kept, JSON.stringify(e2));
  assert.equal(e2.ntsServerNaks, 0, 'cookies from before the restart are accepted');
  assert.equal(e2.ntsServerRejected, 0);
  const authNak = (await cli.chronyc(['-c', 'authdata'])).trim().split(',');
  assert.equal(authNak[7], '0', 'chronyd saw no NAK');

  // Restart without the key file: new master keys, chronyd's cookies are unknown → NAK → chronyd
  // runs NTS-KE again and carries on authenticated.
  await d.stop();
  await rm(keyFile);
  d = await startDaemon(conf, { logger: silentLogger, resolve });
  const renewed = await waitFor(() => {
    const e = d.snapshot().system.extra ?? {};
    return Number(e.ntsServerNaks) >= 1 && Number(e.ntsServerResponses) >= 2;
  }, 20_000);
  const e3 = d.snapshot().system.extra ?? {};
  assert.ok(renewed, JSON.stringify(e3));
  const stillSelected = await waitFor(async () => /^\^\*/m.test(await cli.chronyc(['sources'])), 10_000, 250);
  assert.ok(stillSelected, await cli.chronyc(['sources']));
});
