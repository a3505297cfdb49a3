/**
 * The batched server on loopback: worker threads answer basic requests from the published state,
 * from the address each request was sent to, apply their rate-limit shard, and forward everything
 * else to the main thread with its kernel receive time. Ports 12410–12419.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { KeyRing, sign, verifyAuth } from '../../src/assoc/util.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { FastServer, type FastServerOptions, fastServerSupport } from '../../src/io/fast-server.js';
import type { Forwarded } from '../../src/io/worker-protocol.js';
import { unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';

const supported = fastServerSupport() === null;

function request(version = 4): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (version << 3) | 3;
  b[2] = 6;
  b.writeUInt32BE(0xdeadbeef, 40);
  b.writeUInt32BE(0x01020304, 44);
  return b;
}

async function client(address = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

function ask(s: dgram.Socket, msg: Buffer, port: number, host: string, ms = 1500) {
  return new Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo } | null>((res) => {
    const t = setTimeout(() => {
      s.off('message', on);
      res(null);
    }, ms);
    const on = (m: Buffer, rinfo: dgram.RemoteInfo) => {
      clearTimeout(t);
      s.off('message', on);
      res({ msg: m, rinfo });
    };
    s.on('message', on);
    s.send(msg, port, host);
  });
}

/** A batched server on loopback with the test defaults. */
function start(listen: string, port: number, workers: number, o: Partial<FastServerOptions> = {}) {
  return FastServer.start({
    listen: [listen],
    port,
    workers,
    guard: {},
    precision: -24,
    serving: true,
    onForward: () => undefined,
    onWarn: () => undefined,
    ...o,
  });
}

/** Publishes a stratum-2 server whose clock is the host's wall clock. */
function publishWallClock(fs: FastServer, stratum = 2): void {
  const raw = process.hrtime.bigint();
  const t = unixNsToNtpTime(BigInt(Date.now()) * 1_000_000n);
  fs.publish({
    raw,
    time: t,
    timeLater: t + (1n << 32n),
    spanNs: 1e9,
    leap: 0,
    stratum,
    precision: -24,
    referenceId: 0x7f7f0101,
    rootDelay: 0x00000100,
    rootDispersion: 0x00000200,
    rootDispersionLater: 0x00000201,
    referenceTimestamp: t,
  });
}

describe('FastServer', { skip: supported ? false : `no batched sockets: ${fastServerSupport()}` }, () => {
  it('answers a basic request in a worker, from the published clock and variables', async () => {
    const forwarded: Forwarded[] = [];
    const fs = await start('127.0.0.1', 12410, 1, { onForward: (f) => forwarded.push(f) });
    const c = await client();
    try {
      publishWallClock(fs);
      const before = unixNsToNtpTime(BigInt(Date.now()) * 1_000_000n);
      const r = await ask(c, request(4), 12410, '127.0.0.1');
      const after = unixNsToNtpTime(BigInt(Date.now() + 2) * 1_000_000n);
      assert.ok(r !== null, 'a reply');
      const m = r.msg;
      assert.equal(m.length, 48);
      assert.equal(m[0], (0 << 6) | (4 << 3) | 4, 'LI 0, version 4, mode 4');
      assert.equal(m[1], 2);
      assert.equal(m[2], 6, 'poll copied');
      assert.equal(m.readInt8(3), -24);
      assert.equal(m.readUInt32BE(4), 0x100);
      assert.ok(m.readUInt32BE(8) >= 0x200 && m.readUInt32BE(8) < 0x210, 'root dispersion grows slowly');
      assert.equal(m.readUInt32BE(12), 0x7f7f0101);
      assert.equal(m.readUInt32BE(24), 0xdeadbeef, 'origin = the request transmit timestamp');
      assert.equal(m.readUInt32BE(28), 0x01020304);
      const rx = m.readBigUInt64BE(32);
      const tx = m.readBigUInt64BE(40);
      assert.ok(tx > rx, 'transmit after receive');
      assert.ok(rx >= before - (1n << 22n) && tx <= after, 'timestamps from the published clock');
      assert.equal(forwarded.length, 0);
      // Version 3 is answered as version 3.
      const r3 = await ask(c, request(3), 12410, '127.0.0.1');
      assert.equal(((r3?.msg[0] ?? 0) >> 3) & 7, 3);
    } finally {
      c.close();
      await fs.stop();
    }
  });

  it('until the main thread publishes, and for anything but a mode 3 request, forwards', async () => {
    const forwarded: Forwarded[] = [];
    const fs = await start('127.0.0.1', 12411, 1, { onForward: (f) => forwarded.push(f) });
    const c = await client();
    try {
      const t0 = process.hrtime.bigint();
      assert.equal(await ask(c, request(), 12411, '127.0.0.1', 300), null, 'no answer before a publication');
      publishWallClock(fs);
      // A MAC with a key the server does not hold: the worker answers a crypto-NAK itself.
      const mac = Buffer.concat([request(), Buffer.alloc(20, 1)]);
      const nak = await ask(c, mac, 12411, '127.0.0.1', 1000);
      assert.equal(nak?.msg.length, 52, 'crypto-NAK: key ID 0, no digest');
      assert.equal(nak?.msg.readUInt32BE(48), 0);
      const mode6 = Buffer.alloc(12);
      mode6[0] = (2 << 3) | 6;
      await ask(c, mode6, 12411, '127.0.0.1', 300);
      assert.equal(forwarded.length, 2);
      assert.deepEqual(
        forwarded.map((f) => f.bytes.length),
        [48, 12],
      );
      for (const f of forwarded) {
        assert.equal(f.from.address, '127.0.0.1');
        assert.equal(f.from.port, c.address().port);
        assert.equal(f.to.address, '127.0.0.1');
        assert.ok(f.rx > t0 && f.rx < process.hrtime.bigint(), 'kernel receive time on the raw counter');
      }
      // The main thread answers on the worker's descriptor.
      const got = new Promise<Buffer>((r) => c.once('message', (m) => r(m)));
      fs.endpoints[0]?.sender.send(new Uint8Array([1, 2, 3]), forwarded[1]?.from ?? { address: '', port: 0 });
      assert.deepEqual([...(await got)], [1, 2, 3]);
    } finally {
      c.close();
      await fs.stop();
    }
  });

  it('answers a request signed with a configured key, signed with the same key', async () => {
    const key = { id: 7, type: 'SHA1' as const, key: new Uint8Array(20).fill(0x5a) };
    const ring = new KeyRing([key], nodeCrypto);
    const forwarded: Forwarded[] = [];
    const fs = await start('127.0.0.1', 12413, 1, { keys: [key], onForward: (f) => forwarded.push(f) });
    const c = await client();
    try {
      publishWallClock(fs);
      const req = emptyPacket();
      req.mode = MODE.CLIENT;
      req.version = 4;
      req.transmitTimestamp = 0x0abc_0000_0000_0001n;
      const signed = sign(req, ring, 7);
      assert.ok(signed !== null);
      const r = await ask(c, Buffer.from(encodePacket(signed)), 12413, '127.0.0.1', 1000);
      assert.ok(r !== null, 'a reply');
      assert.equal(r.msg.length, 48 + 4 + 20);
      const d = decodePacket(new Uint8Array(r.msg));
      assert.ok(d.ok);
      assert.equal(d.packet.originTimestamp, 0x0abc_0000_0000_0001n);
      assert.equal(d.packet.mac?.keyId, 7);
      assert.equal(verifyAuth(d.packet, ring, 7), 'ok', 'the reply verifies with the key');
      // A wrong digest: crypto-NAK.
      const bad = encodePacket(signed);
      bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
      const n = await ask(c, Buffer.from(bad), 12413, '127.0.0.1', 1000);
      assert.equal(n?.msg.length, 52);
      assert.equal(forwarded.length, 0, 'nothing forwarded');
      assert.equal(fs.stats().responses, 2);
      assert.equal(fs.counters().replies, 2);
    } finally {
      c.close();
      await fs.stop();
    }
  });

  it('on a wildcard address each reply leaves from the address its request went to', async () => {
    const fs = await start('0.0.0.0', 12412, 2);
    const c = await client('0.0.0.0');
    try {
      publishWallClock(fs);
      for (const dst of ['127.0.0.1', '127.0.0.7', '127.0.0.9']) {
        const r = await ask(c, request(), 12412, dst);
        assert.ok(r !== null, `reply via ${dst}`);
        assert.equal(r.rinfo.address, dst);
        assert.equal(r.rinfo.port, 12412);
      }
    } finally {
      c.close();
      await fs.stop();
    }
  });

  it('rate limiting in the worker: KoD RATE beyond the burst, counted in the merged statistics', async () => {
    const fs = await start('127.0.0.1', 12413, 2, {
      guard: { rateLimit: { interval: 4, burst: 2, leak: 0, kod: true, kodInterval: -4 } },
    });
    const c = await client();
    try {
      publishWallClock(fs);
      const kinds: string[] = [];
      for (let k = 0; k < 4; k++) {
        const r = await ask(c, request(), 12413, '127.0.0.1');
        assert.ok(r !== null);
        kinds.push(r.msg[1] === 0 ? r.msg.subarray(12, 16).toString('latin1') : 'time');
        await new Promise((res) => setTimeout(res, 80));
      }
      assert.deepEqual(kinds, ['time', 'time', 'RATE', 'RATE']);
      // Statistics arrive with the workers' next report (each second).
      await new Promise((res) => setTimeout(res, 1300));
      const s = fs.stats();
      assert.equal(s.requests, 4);
      assert.equal(s.kodSent, 2);
      assert.equal(s.rateLimited, 2);
      assert.equal(fs.clients().length, 1);
      assert.equal(fs.counters().replies, 2);
      assert.equal(fs.counters().workers, 2);
    } finally {
      c.close();
      await fs.stop();
    }
  });

  it('with two workers, clients spread by address: one address always meets the same worker', async () => {
    const fs = await start('127.0.0.1', 12414, 2);
    // Eight ports of one address (as chrony, a new port per request), then one port each of 16 addresses.
    const same = await Promise.all(Array.from({ length: 8 }, () => client('127.0.0.1')));
    const many = await Promise.all(Array.from({ length: 16 }, (_, k) => client(`127.0.2.${k + 1}`)));
    try {
      publishWallClock(fs);
      const r1 = await Promise.all(same.map((c) => ask(c, request(), 12414, '127.0.0.1')));
      assert.ok(r1.every((r) => r !== null));
      const per1 = fs.repliesPerWorker();
      assert.deepEqual([...per1].sort(), [0, 8], `one worker for one address: ${per1.join(', ')}`);
      const r2 = await Promise.all(many.map((c) => ask(c, request(), 12414, '127.0.0.1')));
      assert.ok(r2.every((r) => r !== null));
      const per2 = fs.repliesPerWorker().map((n, w) => n - (per1[w] ?? 0));
      assert.deepEqual(per2, [8, 8], `16 addresses spread evenly: ${per2.join(', ')}`);
    } finally {
      for (const c of [...same, ...many]) c.close();
      await fs.stop();
    }
  });
  it('a worker that ends is started again on its sockets, its counters carrying on', {
    skip: !supported,
  }, async () => {
    const warnings: string[] = [];
    const fs = await start('127.0.0.1', 12415, 1, { onWarn: (m) => warnings.push(m) });
    const c = await client();
    try {
      publishWallClock(fs);
      assert.ok((await ask(c, request(), 12415, '127.0.0.1')) !== null);
      const before = fs.stats().responses;
      assert.ok(before >= 1);
      await fs.crashWorker(0);
      // No one reads the socket now; the new worker answers within about a second.
      let r = null;
      for (let i = 0; i < 20 && r === null; i++) r = await ask(c, request(), 12415, '127.0.0.1', 250);
      assert.ok(r !== null, 'answered again after the restart');
      assert.equal(fs.workerRestarts, 1);
      assert.ok(fs.stats().responses > before, `responses ${fs.stats().responses} after ${before}`);
      assert.ok(
        warnings.some((w) => /started? it again|ended/.test(w)),
        warnings.join('; '),
      );
    } finally {
      c.close();
      await fs.stop();
    }
  });
});
