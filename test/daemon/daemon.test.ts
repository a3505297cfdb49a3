import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { buildKod, startDaemon } from '../../src/daemon/index.js';
import { createLogger, silentLogger } from '../../src/daemon/log.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { refidToString } from '../../src/wire/refid.js';

const BASE = `
[serve]
listen = ["127.0.0.1"]
port = 0
[observe]
control-socket = false
`;

function request(xmt: bigint): Uint8Array {
  const p = emptyPacket();
  p.mode = MODE.CLIENT;
  p.version = 4;
  p.transmitTimestamp = xmt;
  return encodePacket(p);
}

/** Sends `n` requests to `port` and collects replies for `waitMs`. */
async function exchange(port: number, n: number, waitMs: number): Promise<Uint8Array[]> {
  const s = dgram.createSocket('udp4');
  const replies: Uint8Array[] = [];
  s.on('message', (m) => replies.push(new Uint8Array(m)));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < n; i++) s.send(request(0x1234_5678_0000_0000n + BigInt(i)), port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, waitMs));
  s.close();
  return replies;
}

test('startDaemon binds, snapshots an unsynchronised clock, and stops', async () => {
  const d = await startDaemon(parseConfig(BASE), { logger: silentLogger });
  try {
    assert.equal(d.endpoints.length, 1);
    assert.equal(d.endpoints[0]?.address, '127.0.0.1');
    assert.ok((d.endpoints[0]?.port ?? 0) > 0);
    const s = d.snapshot();
    assert.equal(s.version, '0.1.0');
    assert.ok(s.uptime >= 0 && s.uptime < 10);
    assert.equal(s.system.synchronised, false);
    assert.equal(s.system.stratum, 16);
    assert.equal(s.system.leap, 3);
    // The software clock starts at the host's time.
    const unix = Number(d.now() >> 32n) - 2_208_988_800;
    assert.ok(Math.abs(unix - Date.now() / 1000) < 2, `clock reads ${unix}`);
  } finally {
    await d.stop();
  }
  await d.stopped;
  await d.stop(); // idempotent
});

test('the state file is written at stop and read at start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nkd-state-'));
  try {
    const file = join(dir, 'state.json');
    await writeFile(
      file,
      JSON.stringify({ version: 1, discipline: 'rfc5905', frequencyPpm: 12.5, savedAt: 0 }),
    );
    const cfg = parseConfig(`${BASE}\n[clock]\nstate-file = "${file}"\n`);
    const d = await startDaemon(cfg, { logger: silentLogger });
    assert.ok(
      Math.abs(d.snapshot().system.frequencyPpm - 12.5) < 1e-6,
      `freq ${d.snapshot().system.frequencyPpm}`,
    );
    await d.stop();
    const st = JSON.parse(readFileSync(file, 'utf8')) as { frequencyPpm: number; savedAt: number };
    assert.ok(Math.abs(st.frequencyPpm - 12.5) < 1e-6);
    assert.ok(Math.abs(st.savedAt - Date.now() / 1000) < 5);
    assert.deepEqual(readdirSync(dir), ['state.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rate limiting answers a flood with KoD RATE (origin = request transmit) and counts it', async () => {
  const cfg = parseConfig(`${BASE}\n[rate-limit]\ninterval = 4\nburst = 1\nleak = 0\nkod = true\n`);
  const d = await startDaemon(cfg, { logger: silentLogger });
  try {
    const port = d.endpoints[0]!.port;
    const replies = await exchange(port, 20, 300);
    const kods = replies
      .map((r) => decodePacket(r))
      .filter((x) => x.ok && x.packet.stratum === 0 && refidToString(x.packet.referenceId) === 'RATE')
      .map((x) => (x.ok ? x.packet : null));
    assert.ok(kods.length >= 1, `got ${replies.length} replies`);
    const k = kods[0]!;
    assert.equal(refidToString(k.referenceId), 'RATE');
    assert.equal(k.leap, 3);
    assert.equal(k.mode, MODE.SERVER);
    assert.ok(k.originTimestamp >= 0x1234_5678_0000_0000n && k.originTimestamp < 0x1234_5678_0000_0014n);
    const st = d.snapshot().server;
    assert.equal(st.requests, 20);
    assert.ok(st.rateLimited >= 18, JSON.stringify(st));
    assert.ok(st.kodSent >= 1);
    assert.equal(d.snapshot().clients[0]?.address, '127.0.0.1');
  } finally {
    await d.stop();
  }
});

test('access control: a denied client gets nothing and is counted', async () => {
  const cfg = parseConfig(`${BASE}\n[access]\ndeny = ["127.0.0.0/8"]\n`);
  const d = await startDaemon(cfg, { logger: silentLogger });
  try {
    const replies = await exchange(d.endpoints[0]!.port, 3, 200);
    assert.equal(replies.length, 0);
    assert.equal(d.snapshot().server.denied, 3);
  } finally {
    await d.stop();
  }
});

test('buildKod never exceeds the request and refuses garbage', () => {
  const req = request(42n);
  const kod = buildKod(req, 'RATE');
  assert.ok(kod !== null && kod.length <= req.length);
  assert.equal(buildKod(new Uint8Array(10), 'RATE'), null);
});

test('a busy port is reported, not ignored', async () => {
  const d1 = await startDaemon(parseConfig(BASE), { logger: silentLogger });
  try {
    const port = d1.endpoints[0]!.port;
    await assert.rejects(
      startDaemon(parseConfig(BASE.replace('port = 0', `port = ${port}`)), { logger: silentLogger }),
      /could not bind/,
    );
  } finally {
    await d1.stop();
  }
});

test('IPv6: a request to ::1 is answered from ::1', async (t) => {
  const cfg = parseConfig(BASE.replace('listen = ["127.0.0.1"]', 'listen = ["127.0.0.1", "::1"]'));
  let d: Awaited<ReturnType<typeof startDaemon>>;
  try {
    d = await startDaemon(cfg, { logger: silentLogger });
  } catch (e) {
    t.skip(`no IPv6 loopback: ${String(e)}`);
    return;
  }
  const s = dgram.createSocket('udp6');
  try {
    const v6 = d.endpoints.find((e) => e.address === '::1');
    if (v6 === undefined) {
      t.skip('::1 could not be bound');
      return;
    }
    await new Promise<void>((r) => s.bind(0, '::1', () => r()));
    const got = new Promise<{ m: Buffer; from: string } | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      s.once('message', (m, rinfo) => {
        clearTimeout(timer);
        resolve({ m, from: rinfo.address });
      });
    });
    s.send(request(0xabcdn), v6.port, '::1');
    const r = await got;
    assert.ok(r !== null, 'no answer over IPv6');
    assert.equal(r.from, '::1');
    const p = decodePacket(new Uint8Array(r.m));
    assert.ok(p.ok);
    assert.equal(p.packet.mode, MODE.SERVER);
    assert.equal(p.packet.originTimestamp, 0xabcdn);
    const st = d.snapshot();
    assert.equal(st.server.requests, 1);
    assert.equal(st.server.responses, 1);
    assert.equal(st.server.interleavedResponses, 0);
    assert.match(st.clients[0]?.address ?? '', /^::1\b/);
  } finally {
    s.close();
    await d.stop();
  }
});

test('[legacy] starts the RFC 868 Time service on the software clock', async () => {
  const cfg = parseConfig(`${BASE}\n[legacy]\ntime-port = 11260\naddress = "127.0.0.1"\nudp = false\n`);
  const d = await startDaemon(cfg, { logger: silentLogger });
  try {
    assert.deepEqual(
      d.legacyBindings.map((b) => [b.service, b.transport, b.port]),
      [['time', 'tcp', 11260]],
    );
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const c = net.connect(11260, '127.0.0.1');
      const chunks: Buffer[] = [];
      c.on('data', (b) => chunks.push(b));
      c.on('end', () => resolve(Buffer.concat(chunks)));
      c.on('error', reject);
    });
    assert.equal(bytes.length, 4);
    const secs1900 = bytes.readUInt32BE(0);
    const ours = Number((d.now() >> 32n) & 0xffffffffn);
    assert.ok(Math.abs(secs1900 - ours) <= 1, `${secs1900} vs ${ours}`);
  } finally {
    await d.stop();
  }
});

test('[[refclock]]: a driver that cannot open is logged and its refclock stays unreachable', async () => {
  const lines: string[] = [];
  const cfg = parseConfig(`${BASE}\n[[refclock]]\ndriver = "PPS"\nparameter = "/nonexistent/pps9"\n`);
  const d = await startDaemon(cfg, {
    logger: createLogger({ level: 'info', format: 'json' }, (l) => lines.push(l)),
  });
  try {
    const src = d.snapshot().system.sources;
    assert.equal(src.length, 1);
    assert.equal(src[0]?.reach, 0);
    assert.ok(
      lines.some((l) => l.includes('refclock cannot be opened')),
      lines.join(''),
    );
  } finally {
    await d.stop();
  }
});
