/**
 * chronyd 4.3 as NTS client (`nts`, `xleave`) of the ntpkit daemon with the batched server's worker
 * (`[serve] workers = 1`; ports 11650-11651): NTS-KE on the main thread, every NTS exchange
 * answered by the worker (the transport's counters: nothing forwarded, `transport.nts`), chronyd
 * authenticated and interleaved with kernel transmit stamps, selecting ntpkit. Then `rotate-keys`
 * (keep-keys = 2) twice: chronyd's cookies of the forgotten key get an NTS NAK from the worker,
 * chronyd runs NTS-KE again and goes on authenticated.
 * chronyd runs -x under setpriv: the host clock is never touched.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { fastServerSupport } from '../../src/io/fast-server.js';
import { makeCert } from '../nts/responder.js';
import { freeTempDir, removeDir, skipReason, startChronyd, waitFor } from '../support/peers.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

test('chronyd 4.3 NTS + xleave client of the daemon with workers = 1: the worker answers, rotation NAKs', async (t) => {
  const why = skipReason('root', 'chronyd', 'chronyc', 'openssl', 'setpriv') ?? fastServerSupport();
  if (why !== null) return t.skip(why);
  const dir = await freeTempDir('ntpkit-dntsw-');
  t.after(() => removeDir(dir));
  const { keyPath, certPath } = await makeCert(dir);
  const sock = join(dir, 'ctl', 'ntpkit.sock');
  const d = await startDaemon(
    parseConfig(`
[local]
stratum = 1
[serve]
listen = ["127.0.0.1"]
port = 11650
workers = 1
[nts]
server-cert = "${certPath}"
server-key = "${keyPath}"
ke-port = 11651
keep-keys = 2
key-file = "${join(dir, 'keys.json')}"
[observe]
control-socket = "${sock}"
`),
    { logger: silentLogger },
  );
  t.after(() => d.stop());
  const cl = await startChronyd({
    port: 0,
    conf: [
      'server 127.0.0.1 port 11650 nts ntsport 11651 iburst xleave minpoll -2 maxpoll -2',
      `ntstrustedcerts ${certPath}`,
    ],
  });
  t.after(() => cl.stop());
  const trOf = () => {
    const tr = d.snapshot().transport;
    assert.ok(tr?.kind === 'batched', JSON.stringify(tr));
    return tr;
  };

  const selected = await waitFor(async () => /^\^\*/m.test(await cl.chronyc(['sources'])), 20_000, 250);
  assert.ok(selected, `${await cl.chronyc(['sources'])}\n${JSON.stringify(d.snapshot().transport)}`);
  // A few interleaved exchanges (each one's transmit time is the previous reply's kernel stamp).
  const interleaved = await waitFor(
    async () => {
      const nd = await cl.chronyc(['ntpdata']);
      return /Interleaved\s*:\s*Yes/.test(nd) && d.snapshot().server.interleavedResponses >= 3;
    },
    10_000,
    250,
  );
  const nd = await cl.chronyc(['ntpdata']);
  assert.ok(interleaved, `${nd}\n${JSON.stringify(d.snapshot().server)}`);
  assert.match(nd, /Authenticated\s*:\s*Yes/);
  const authdata = (await cl.chronyc(['-c', 'authdata'])).trim().split(',');
  assert.equal(authdata[1], 'NTS');
  assert.equal(authdata[7], '0', 'no NAK so far');
  const tr1 = trOf();
  const extra1 = d.snapshot().system.extra ?? {};
  assert.ok((tr1.nts?.responses ?? 0) >= 4, JSON.stringify(tr1));
  // Every NTS reply came from the worker: the system's count is the worker's, nothing forwarded.
  assert.equal(extra1.ntsServerResponses, tr1.nts?.responses, JSON.stringify(extra1));
  assert.equal(tr1.forwarded, 0, JSON.stringify(tr1));
  assert.ok((d.snapshot().timestamping?.txKernel ?? 0) > 0, 'kernel transmit stamps of NTS replies');
  const status = await cli(['status', '--socket', sock]);
  assert.match(status.stdout, /NTS in the workers: \d+ replies, 0 NAKs/, status.stdout);

  // Two rotations: chronyd's cookies (all of the first key) are of a forgotten key.
  assert.equal((await cli(['rotate-keys', '--socket', sock])).code, 0);
  assert.equal((await cli(['rotate-keys', '--socket', sock])).code, 0);
  const before = trOf().nts?.responses ?? 0;
  const rekeyed = await waitFor(() => {
    const n = trOf().nts;
    return (n?.naks ?? 0) >= 1 && (n?.responses ?? 0) >= before + 3;
  }, 20_000);
  const tr2 = trOf();
  assert.ok(rekeyed, JSON.stringify(tr2));
  assert.equal(tr2.forwarded, 0, 'NAKs from the worker too');
  // (chronyd's own NAK count starts again with its new NTS-KE: the replies after the NAK prove it.)
  const auth2 = (await cl.chronyc(['-c', 'authdata'])).trim().split(',');
  assert.equal(auth2[1], 'NTS');
  assert.ok(
    await waitFor(async () => /^\^\*/m.test(await cl.chronyc(['sources'])), 10_000, 250),
    await cl.chronyc(['sources']),
  );
});
