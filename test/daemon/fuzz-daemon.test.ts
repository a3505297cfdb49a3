/**
 * Bounded fuzzing of the real daemon (fast-check, fixed seeds, a few seconds): mutated datagrams into
 * its NTP socket and mutated NTS-KE messages into its NTS-KE server. Nothing throws (no error is
 * logged, the daemon keeps serving), no reply to a datagram is longer than the datagram (mode 6
 * from loopback excepted: local ntpq is always answered in full), the log stays small, and every
 * NTS-KE connection is answered with an error record or closed. Ports 12120-12121.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/index.js';
import { createLogger } from '../../src/daemon/log.js';
import { ntsKeClient } from '../../src/io/nts-ke.js';
import { buildKeRequest, KE_ALPN } from '../../src/nts/ke.js';
import { emptyPacket, encodePacket, MODE, makeExtension } from '../../src/wire/packet.js';
import { makeCert } from '../nts/responder.js';
import { freeTempDir, removeDir, skipReason } from '../support/peers.js';

const KE_PORT = 12120;

/** A client request, optionally with extension fields and a MAC-sized tail of random bytes. */
const requestArb = fc
  .record({
    mode: fc.integer({ min: 0, max: 7 }),
    version: fc.integer({ min: 0, max: 7 }),
    xmt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    exts: fc.array(
      fc.record({
        type: fc.constantFrom(0x0104, 0x0204, 0x0304, 0x0404, 0x8002, 0x0002, 0xffff),
        body: fc.uint8Array({ minLength: 0, maxLength: 120 }),
      }),
      { maxLength: 3 },
    ),
    mac: fc.constantFrom(0, 20, 24),
    macBytes: fc.uint8Array({ minLength: 24, maxLength: 24 }),
  })
  .map((r) => {
    const p = emptyPacket();
    p.mode = r.mode;
    p.version = Math.max(1, r.version);
    p.transmitTimestamp = r.xmt;
    p.extensions = r.exts.map((e) => makeExtension(e.type, e.body));
    const head = encodePacket(p);
    const out = new Uint8Array(head.length + r.mac);
    out.set(head);
    out.set(r.macBytes.subarray(0, r.mac), head.length);
    return out;
  });

/** Requests, byte flips, truncations and extensions of them, and plain random bytes. */
const datagramArb = fc.oneof(
  requestArb,
  fc
    .tuple(
      requestArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    )
    .map(([b, flips]) => {
      const out = Uint8Array.from(b);
      for (const [i, v] of flips) out[i % out.length] = v;
      return out;
    }),
  fc.tuple(requestArb, fc.nat()).map(([b, n]) => b.subarray(0, n % (b.length + 1))),
  fc.uint8Array({ minLength: 0, maxLength: 600 }),
);

/**
 * Sends each datagram from its own socket (so replies match their request) and collects the replies.
 * The sockets stay open to the end: a socket closed after its batch frees its port for a later one,
 * and a late reply (a long control response, under load) would then count for the wrong request.
 */
async function sendAll(
  port: number,
  datagrams: Uint8Array[],
): Promise<{ request: Uint8Array; replies: Buffer[] }[]> {
  const out: { request: Uint8Array; replies: Buffer[] }[] = [];
  const open: dgram.Socket[] = [];
  for (let i = 0; i < datagrams.length; i += 25) {
    const batch = datagrams.slice(i, i + 25);
    const socks = await Promise.all(
      batch.map(async (request) => {
        const s = dgram.createSocket('udp4');
        const entry = { request, replies: [] as Buffer[] };
        s.on('message', (m) => entry.replies.push(m));
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
        s.send(request, port, '127.0.0.1');
        out.push(entry);
        return s;
      }),
    );
    await new Promise((r) => setTimeout(r, 150));
    open.push(...socks);
  }
  for (const s of open) s.close();
  return out;
}

/** One TLS (ALPN ntske/1) connection sending `bytes`; resolves with what came back once it closes. */
function keExchange(bytes: Uint8Array, ca: Buffer): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tls.connect({
      host: '127.0.0.1',
      port: KE_PORT,
      ca,
      ALPNProtocols: [KE_ALPN],
      servername: 'localhost',
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply: Buffer.concat(chunks), closed: false });
    }, 4000);
    s.on('secureConnect', () => s.end(bytes));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), closed: true });
    });
  });
}

describe('fuzzing the daemon (bounded)', () => {
  let daemon: Daemon | null = null;
  let cert: Buffer | null = null;
  const lines: { level: string; msg: string }[] = [];
  let dir: string | null = null;
  before(async () => {
    if (skipReason('openssl') !== null) return;
    dir = await freeTempDir('ntpkit-fuzz-');
    const fx = await makeCert(dir);
    cert = fx.cert;
    daemon = await startDaemon(
      parseConfig(`
[serve]
listen = ["127.0.0.1"]
port = 0
[[key]]
id = 1
type = "SHA1"
value = "HEX:${'11'.repeat(20)}"
[[key]]
id = 2
type = "AES128CMAC"
value = "HEX:${'22'.repeat(16)}"
[nts]
server-cert = "${fx.certPath}"
server-key = "${fx.keyPath}"
ke-port = ${KE_PORT}
ke-listen = ["127.0.0.1"]
handshake-timeout = 2
[observe]
control-socket = false
`),
      { logger: createLogger({ level: 'info', format: 'json' }, (l) => lines.push(JSON.parse(l))) },
    );
  });
  after(async () => {
    await daemon?.stop();
    if (dir !== null) await removeDir(dir);
  });

  it('600 mutated datagrams: no error, no reply longer than its request, still serving', async (t) => {
    if (daemon === null) return t.skip('no certificate (openssl)');
    const port = daemon.endpoints[0]?.port ?? 0;
    const inputs = fc.sample(datagramArb, { numRuns: 600, seed: 12_120 });
    const t0 = Date.now();
    const results = await sendAll(port, inputs);
    let answered = 0;
    for (const { request, replies } of results) {
      if (replies.length > 0) answered++;
      if (((request[0] ?? 0) & 7) === MODE.CONTROL) continue;
      for (const r of replies)
        assert.ok(
          r.length <= request.length,
          `reply of ${r.length} bytes to a ${request.length}-byte request ${Buffer.from(request).toString('hex')}`,
        );
    }
    t.diagnostic(`${results.length} datagrams, ${answered} answered, ${Date.now() - t0} ms`);
    assert.ok(answered > 0, 'valid requests among them were answered');
    const errors = lines.filter((l) => l.level === 'error');
    assert.deepEqual(errors, [], 'nothing threw inside the daemon');
    assert.ok(lines.length < 60, `${lines.length} log lines for 600 hostile datagrams`);
    // Still serving.
    const after = await sendAll(port, [
      encodePacket({ ...emptyPacket(), mode: MODE.CLIENT, version: 4, transmitTimestamp: 5n }),
    ]);
    assert.equal(after[0]?.replies.length, 1);
  });

  it('80 mutated NTS-KE messages: each closed or answered, and a good client still gets keys', async (t) => {
    if (daemon === null || cert === null) return t.skip('no certificate (openssl)');
    const ca = cert;
    const good = buildKeRequest();
    const keArb = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc
        .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })
        .map((flips) => {
          const out = Uint8Array.from(good);
          for (const [i, v] of flips) out[i % out.length] = v;
          return out;
        }),
      fc.nat().map((n) => good.subarray(0, n % good.length)),
    );
    const inputs = fc.sample(keArb, { numRuns: 80, seed: 12_121 });
    const t0 = Date.now();
    for (let i = 0; i < inputs.length; i += 8) {
      const rs = await Promise.all(inputs.slice(i, i + 8).map((b) => keExchange(b, ca)));
      for (const r of rs) assert.ok(r.closed, 'the server ends every connection');
    }
    t.diagnostic(`${inputs.length} NTS-KE connections in ${Date.now() - t0} ms`);
    assert.deepEqual(
      lines.filter((l) => l.level === 'error'),
      [],
    );
    const ok = await ntsKeClient({ host: '127.0.0.1', port: KE_PORT, ca, servername: 'localhost' });
    assert.ok(ok.ok, ok.ok ? '' : ok.message);
  });
});
