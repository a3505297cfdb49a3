/**
 * The NTS server at daemon start: an NTS request that reaches the NTP port while the daemon is
 * still starting is answered with NTS, never dropped or NAKed for want of the cookie jar. The key
 * file is a FIFO here, so the daemon's start stops exactly where it reads the master keys until the
 * test writes them; a client polls all the while with cookies sealed under those keys (a client
 * across a daemon restart, as chronyd in test/interop/daemon-nts.test.ts). Before the fix the NTP
 * socket was bound before the jar was loaded and those requests were counted `rejected`. Run on
 * the node:dgram path and with the batched server's worker (which gets the keys at its start).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { nodeCrypto, nodeRandomBytes } from '../../src/io/crypto.js';
import { fastServerSupport } from '../../src/io/fast-server.js';
import { CookieJar, type NtsKeys } from '../../src/nts/cookie.js';
import { NtsClientSession, type NtsRequest } from '../../src/nts/ntp.js';
import { AEAD_AES_SIV_CMAC_256 } from '../../src/wire/crypto.js';
import { emptyPacket, MODE } from '../../src/wire/packet.js';
import { certFixture } from '../nts/responder.js';

const pexec = promisify(execFile);

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const workers of [0, 1])
  test(`NTS requests during daemon start are answered with NTS, none dropped or NAKed (workers = ${workers})`, async (t) => {
    if (workers > 0 && fastServerSupport() !== null) return t.skip(fastServerSupport() ?? '');
    const fx = await certFixture(t);
    if (fx === null) return;
    const keyFile = join(fx.dir, 'nts-keys.fifo');
    await pexec('mkfifo', [keyFile]);
    // The master keys the daemon will read, and cookies sealed under them.
    const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
    const keys: NtsKeys = { aead: AEAD_AES_SIV_CMAC_256, c2s: nodeRandomBytes(32), s2c: nodeRandomBytes(32) };
    const content = {
      version: 1,
      rotated: Date.now() / 1000,
      keys: jar.exportKeys().map((k) => ({ id: k.id, key: Buffer.from(k.key).toString('hex') })),
    };
    const session = new NtsClientSession(nodeCrypto, keys, []);
    const port = await freeUdpPort();
    const conf = parseConfig(`
[local]
stratum = 1
[serve]
listen = ["127.0.0.1"]
port = ${port}
workers = ${workers}
[nts]
server-cert = "${fx.certPath}"
server-key = "${fx.keyPath}"
ke-listen = ["127.0.0.1"]
ke-port = 0
key-file = "${keyFile}"
[observe]
control-socket = false
`);

    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    t.after(() => client.close());
    const sent: NtsRequest[] = [];
    const verdicts: string[] = [];
    client.on('message', (msg) => {
      const bytes = new Uint8Array(msg);
      const req = sent.find(
        (q) => bytes.length >= 48 && Buffer.from(q.bytes.subarray(40, 48)).equals(msg.subarray(24, 32)),
      );
      if (req === undefined) return verdicts.push('unmatched');
      const r = session.response(bytes, req);
      verdicts.push(r.ok ? 'ok' : r.code);
    });
    const send = () => {
      session.cookies.push(jar.seal(keys));
      const base = { ...emptyPacket(), mode: MODE.CLIENT, transmitTimestamp: BigInt(sent.length + 1) << 32n };
      const req = session.request(base, nodeRandomBytes);
      assert.ok(req !== null);
      sent.push(req);
      client.send(req.bytes, port, '127.0.0.1');
    };

    let d: Daemon | null = null;
    const starting = startDaemon(conf, { logger: silentLogger }).then((x) => {
      d = x;
      return x;
    });
    t.after(async () => (await starting).stop());
    // The daemon waits for the key file; poll meanwhile, then hand it the keys and keep polling.
    for (let i = 0; i < 20; i++) {
      send();
      await sleep(20);
    }
    assert.equal(d, null, 'the daemon is still reading its key file');
    await writeFile(keyFile, `${JSON.stringify(content)}\n`);
    const daemon = await starting;
    for (let i = 0; i < 100 && !verdicts.includes('ok'); i++) {
      send();
      await sleep(20);
    }
    await sleep(100);
    const extra = daemon.snapshot().system.extra ?? {};
    assert.ok(verdicts.includes('ok'), `replies: ${verdicts.join(' ')}; ${JSON.stringify(extra)}`);
    assert.deepEqual(
      verdicts.filter((v) => v !== 'ok'),
      [],
      'every reply is an authenticated NTS response',
    );
    assert.equal(extra.ntsServerRejected, 0, JSON.stringify(extra));
    assert.equal(extra.ntsServerNaks, 0, JSON.stringify(extra));
    assert.equal(extra.ntsServerResponses, verdicts.length, JSON.stringify(extra));
    const tr = daemon.snapshot().transport;
    if (workers > 0) {
      // The worker answered every one of them (the main thread none).
      assert.ok(tr?.kind === 'batched', JSON.stringify(tr));
      assert.equal(tr.nts?.responses, verdicts.length, JSON.stringify(tr));
    } else assert.equal(tr?.kind, 'node:dgram');
  });
