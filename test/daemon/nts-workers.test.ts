/**
 * NTS requests answered by the batched server's workers (`[serve] workers = 1`), and the same
 * exchanges on the main thread's node:dgram path (`workers = 0`): a client runs NTS-KE against the
 * daemon, its requests get authenticated replies, `ntpkit status` (the transport's counters) shows
 * which path answered. Cookie rotation (`ntpkit rotate-keys`, keep-keys = 2): cookies issued right
 * after a rotation are accepted at once, an old cookie stays valid while its key is kept and gets
 * an NTS NAK after the next rotation.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { fastServerSupport } from '../../src/io/fast-server.js';
import { nodeRandomBytes, ntsKeClient } from '../../src/io/nts-ke.js';
import type { NtsKeys } from '../../src/nts/cookie.js';
import { buildNtsRequest, verifyNtsResponse } from '../../src/nts/ntp.js';
import { emptyPacket, MODE } from '../../src/wire/packet.js';
import { certFixture } from '../nts/responder.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof a === 'object' && a !== null ? a.port : 0;
}

interface Client {
  /** One NTS exchange spending `cookie`: 'ok' (with the new cookies), the check's code, or 'timeout'. */
  ask(cookie: Uint8Array, placeholders?: number): Promise<{ verdict: string; cookies: Uint8Array[] }>;
}

async function ntsClient(t: TestContext, port: number, keys: NtsKeys): Promise<Client> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.after(() => sock.close());
  let waiting: ((b: Uint8Array) => void) | null = null;
  sock.on('message', (m) => waiting?.(new Uint8Array(m)));
  let n = 0;
  return {
    ask: async (cookie, placeholders = 0) => {
      n++;
      const base = { ...emptyPacket(), mode: MODE.CLIENT, transmitTimestamp: (BigInt(n) << 32n) | 12345n };
      const req = buildNtsRequest(base, {
        aead: keys.aead,
        c2s: keys.c2s,
        cookie,
        placeholders,
        random: nodeRandomBytes,
        crypto: nodeCrypto,
      });
      const reply = await new Promise<Uint8Array | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 2000);
        waiting = (b) => {
          // Only the reply to this request (its origin is our transmit timestamp).
          if (
            b.length < 48 ||
            !Buffer.from(b.subarray(24, 32)).equals(Buffer.from(req.bytes.subarray(40, 48)))
          )
            return;
          clearTimeout(timer);
          resolve(b);
        };
        sock.send(req.bytes, port, '127.0.0.1');
      });
      waiting = null;
      if (reply === null) return { verdict: 'timeout', cookies: [] };
      const v = verifyNtsResponse(reply, {
        aead: keys.aead,
        s2c: keys.s2c,
        uniqueId: req.uniqueId,
        crypto: nodeCrypto,
      });
      return v.ok ? { verdict: 'ok', cookies: v.cookies } : { verdict: v.code, cookies: [] };
    },
  };
}

for (const workers of [1, 0]) {
  test(`NTS with [serve] workers = ${workers}: authenticated replies, rotation keeps then NAKs old cookies`, async (t) => {
    if (workers > 0 && fastServerSupport() !== null) return t.skip(fastServerSupport() ?? '');
    const fx = await certFixture(t);
    if (fx === null) return;
    const kePort = await freeTcpPort();
    const sock = join(fx.dir, 'ctl', 'ntpkit.sock');
    const conf = parseConfig(`
[local]
stratum = 1
[serve]
listen = ["127.0.0.1"]
port = 0
workers = ${workers}
[nts]
server-cert = "${fx.certPath}"
server-key = "${fx.keyPath}"
ke-listen = ["127.0.0.1"]
ke-port = ${kePort}
keep-keys = 2
key-file = "${join(fx.dir, 'keys.json')}"
[observe]
control-socket = "${sock}"
`);
    const d: Daemon = await startDaemon(conf, { logger: silentLogger });
    t.after(() => d.stop());
    const port = d.endpoints[0]?.port ?? 0;
    const ke = async () => {
      const r = await ntsKeClient({ host: '127.0.0.1', port: kePort, ca: fx.cert, servername: 'localhost' });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.ntpPort, port, 'NTS-KE names the NTP port');
      return r;
    };
    const ke1 = await ke();
    assert.equal(ke1.cookies.length, 8);
    const c = await ntsClient(t, port, ke1.keys);
    const old1 = ke1.cookies[6] as Uint8Array;
    const old2 = ke1.cookies[7] as Uint8Array;

    // Authenticated replies, each with as many new cookies as asked for.
    let oks = 0;
    for (let i = 0; i < 3; i++) {
      const r = await c.ask(ke1.cookies[i] as Uint8Array, i);
      assert.equal(r.verdict, 'ok');
      assert.equal(r.cookies.length, i + 1);
      oks++;
    }
    // A cookie the server issued in a reply works too.
    const fromReply = (await c.ask(ke1.cookies[3] as Uint8Array)).cookies[0];
    oks++;
    assert.ok(fromReply !== undefined);
    assert.equal((await c.ask(fromReply)).verdict, 'ok');
    oks++;

    // Rotation: a fresh NTS-KE right after it gets cookies under the new key, accepted at once;
    // the old key is still kept (keep-keys = 2), so an old cookie is accepted too.
    const rk = await cli(['rotate-keys', '--socket', sock]);
    assert.equal(rk.code, 0, rk.stderr);
    const ke2 = await ke();
    assert.notDeepEqual(ke2.cookies[0]?.subarray(0, 4), old1.subarray(0, 4), 'a new key ID');
    const c2 = await ntsClient(t, port, ke2.keys);
    assert.equal((await c2.ask(ke2.cookies[0] as Uint8Array)).verdict, 'ok', 'a cookie of the new key');
    oks++;
    assert.equal((await c.ask(old1)).verdict, 'ok', 'a cookie of the previous key');
    oks++;

    // Another rotation forgets the first key: NTS NAK.
    assert.equal((await cli(['rotate-keys', '--socket', sock])).code, 0);
    assert.equal((await c.ask(old2)).verdict, 'NTS_NAK', 'a cookie of a forgotten key');
    assert.equal((await c2.ask(ke2.cookies[1] as Uint8Array)).verdict, 'ok', 'the second key is kept');
    oks++;

    const snap = d.snapshot();
    const extra = snap.system.extra ?? {};
    const tr = snap.transport;
    assert.equal(extra.ntsServerResponses, oks, JSON.stringify(extra));
    assert.equal(extra.ntsServerNaks, 1, JSON.stringify(extra));
    assert.equal(extra.ntsServerRejected, 0, JSON.stringify(extra));
    const status = await cli(['status', '--socket', sock]);
    assert.equal(status.code, 0, status.stderr);
    if (workers > 0) {
      assert.equal(tr?.kind, 'batched');
      if (tr?.kind !== 'batched') return;
      // Every NTS reply came from the worker: nothing was forwarded to the main thread.
      assert.deepEqual(tr.nts, { requests: oks + 1, responses: oks, naks: 1, rejected: 0 });
      assert.equal(tr.forwarded, 0);
      assert.match(status.stdout, new RegExp(`NTS in the workers: ${oks} replies, 1 NAKs`));
    } else {
      assert.equal(tr?.kind, 'node:dgram');
      assert.doesNotMatch(status.stdout, /NTS in the workers/);
    }
  });
}
