/**
 * The daemon on the batched transport (`[serve] workers`): workers answer client requests from the
 * address each was sent to, interleaved ones with the kernel transmit stamp of the previous reply;
 * what they forward (the daemon's own replies, other modes) goes through the daemon's usual path
 * and is answered on the same sockets; `workers = 0` keeps the node:dgram path and says so.
 * Ports 12430–12439.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { mergeClients } from '../../src/daemon/fast-transport.js';
import { startDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/daemon/log.js';
import { fastServerSupport } from '../../src/io/fast-server.js';
import { toTimestamp } from '../../src/time/ntp-time.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { waitFor } from '../support/peers.js';

const skip = fastServerSupport() === null ? false : `no batched sockets: ${fastServerSupport()}`;

/** A daemon with `toml` and no control socket. */
function daemon(toml: string) {
  return startDaemon(parseConfig(`${toml}[observe]\ncontrol-socket = false\n`), { logger: silentLogger });
}

/** A stratum-1 daemon on 127.0.0.1:`port` with `workers` server workers. */
function stratumOne(port: number, workers: number) {
  return daemon(
    `[serve]\nlisten = ["127.0.0.1"]\nport = ${port}\nworkers = ${workers}\n[local]\nstratum = 1\n`,
  );
}

function request(xmt: bigint): Uint8Array {
  const p = emptyPacket();
  p.mode = MODE.CLIENT;
  p.version = 4;
  p.transmitTimestamp = xmt;
  return encodePacket(p);
}

async function ask(to: string, port: number, xmt: bigint) {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '0.0.0.0', () => r()));
  try {
    return await new Promise<{ m: Uint8Array; from: string; port: number } | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 2000);
      s.once('message', (m, rinfo) => {
        clearTimeout(t);
        resolve({ m: new Uint8Array(m), from: rinfo.address, port: rinfo.port });
      });
      s.send(request(xmt), port, to);
    });
  } finally {
    s.close();
  }
}

test('workers answer from the address each request was sent to; status says batched', { skip }, async () => {
  const d = await daemon(`[serve]
listen = ["0.0.0.0"]
port = 12430
workers = 2
[local]
stratum = 1
`);
  try {
    for (const [i, dst] of ['127.0.0.1', '127.0.0.4', '127.0.0.6'].entries()) {
      const r = await ask(dst, 12430, 0x1111_0000_0000_0000n + BigInt(i));
      assert.ok(r !== null, `a reply via ${dst}`);
      assert.equal(r.from, dst);
      assert.equal(r.port, 12430);
      const p = decodePacket(r.m);
      assert.ok(p.ok);
      assert.equal(p.packet.mode, MODE.SERVER);
      assert.equal(p.packet.stratum, 1);
      assert.equal(p.packet.originTimestamp, 0x1111_0000_0000_0000n + BigInt(i));
      // The served time is the daemon's clock.
      const us = Number(p.packet.transmitTimestamp - d.now()) / 2 ** 32;
      assert.ok(Math.abs(us) < 0.5, `transmit time ${us} s from the daemon's clock`);
    }
    const s = d.snapshot();
    assert.equal(s.transport?.kind, 'batched');
    assert.equal(s.transport?.kind === 'batched' ? s.transport.workers : 0, 2);
    assert.equal(s.server.requests, 3);
    assert.equal(s.server.responses, 3);
    assert.equal(s.timestamping?.rxKernel, 3);
  } finally {
    await d.stop();
  }
});

test('a daemon client in interleaved mode: forwarded requests, interleaved answers, synchronised', {
  skip,
}, async () => {
  const server = await daemon(`[serve]
listen = ["127.0.0.2"]
port = 12431
workers = 1
[local]
stratum = 2
`);
  const client = await daemon(`[[server]]
address = "127.0.0.2"
port = 12431
iburst = true
xleave = true
minpoll = -3
maxpoll = -3
[serve]
listen = ["127.0.0.1"]
port = 12432
workers = 1
[clock]
stepout = 1
`);
  try {
    const ok = await waitFor(
      () => {
        const src = client.snapshot().system.sources[0];
        return client.snapshot().system.synchronised && src?.interleaved === true;
      },
      20_000,
      100,
    );
    const snap = client.snapshot();
    assert.ok(ok, JSON.stringify({ ...snap.system.sources[0], filter: [] }));
    assert.equal(snap.system.stratum, 3);
    const st = server.snapshot();
    assert.ok(st.server.interleavedResponses > 0, JSON.stringify(st.server));
    // The server's worker answered the interleaved requests itself, with kernel transmit stamps.
    assert.ok(st.transport?.kind === 'batched' && st.transport.forwarded === 0, JSON.stringify(st.transport));
    assert.ok((st.timestamping?.txKernel ?? 0) > 0, JSON.stringify(st.timestamping));
    // The client's own replies came in through its worker and were forwarded to its main thread.
    const ct = snap.transport;
    assert.ok(ct?.kind === 'batched' && ct.forwarded > 0, JSON.stringify(ct));
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('workers = 0: the node:dgram path, same answers, and the reason in the snapshot', async () => {
  const d = await stratumOne(12433, 0);
  try {
    const r = await ask('127.0.0.1', 12433, 42n);
    assert.ok(r !== null);
    const p = decodePacket(r.m);
    assert.ok(p.ok);
    assert.equal(p.packet.originTimestamp, 42n);
    assert.deepEqual(d.snapshot().transport, { kind: 'node:dgram', reason: '[serve] workers = 0' });
  } finally {
    await d.stop();
  }
});

test('by default one worker per core where batched sockets work, else node:dgram with the reason', async () => {
  const d = await daemon(`[serve]
listen = ["127.0.0.1"]
port = 12437
[local]
stratum = 1
`);
  try {
    const r = await ask('127.0.0.1', 12437, 43n);
    assert.ok(r !== null);
    const t = d.snapshot().transport;
    const why = fastServerSupport();
    if (why === null) {
      assert.equal(t?.kind, 'batched');
      assert.equal(t?.kind === 'batched' ? t.workers : 0, availableParallelism());
      // The main thread's own sends keep kernel transmit stamps: the status says "kernel".
      assert.equal(d.snapshot().timestamping?.mode, 'kernel');
    } else assert.deepEqual(t, { kind: 'node:dgram', reason: why });
  } finally {
    await d.stop();
  }
});

test('two daemons cannot share a port through SO_REUSEPORT', { skip }, async () => {
  const cfg = `[serve]\nlisten = ["127.0.0.1"]\nport = 12434\nworkers = 2\n[observe]\ncontrol-socket = false\n`;
  const d = await startDaemon(parseConfig(cfg), { logger: silentLogger });
  try {
    await assert.rejects(startDaemon(parseConfig(cfg), { logger: silentLogger }), /could not bind.*12434/);
  } finally {
    await d.stop();
  }
});

test('a worker answers interleaved requests with the kernel transmit time of its previous reply', {
  skip,
}, async () => {
  const d = await stratumOne(12435, 2);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const exchange = (p: NtpPacket) =>
    new Promise<NtpPacket>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply')), 2000);
      s.once('message', (m) => {
        clearTimeout(t);
        const r = decodePacket(new Uint8Array(m));
        if (r.ok) resolve(r.packet);
        else reject(new Error('undecodable reply'));
      });
      s.send(encodePacket(p), 12435, '127.0.0.1');
    });
  const req = (origin: bigint, receive: bigint, transmit: bigint) => {
    const p = emptyPacket();
    p.mode = MODE.CLIENT;
    p.version = 4;
    p.originTimestamp = origin;
    p.receiveTimestamp = receive;
    p.transmitTimestamp = transmit;
    return p;
  };
  try {
    // 1: basic (origin zero). 2: asks for interleaving with reply 1's receive timestamp; basic
    // answer (no precise time of reply 1 was measured), whose precise transmit time is measured.
    const r1 = await exchange(req(0n, 0n, 0x1000n));
    assert.equal(r1.originTimestamp, 0x1000n);
    const before2 = toTimestamp(d.now());
    const r2 = await exchange(req(r1.receiveTimestamp, 0x2222n, 0x2000n));
    const after2 = toTimestamp(d.now());
    assert.equal(r2.originTimestamp, 0x2000n, 'reply 2 is basic');
    // 3: interleaved: origin = our receive timestamp, transmit = the kernel's time of reply 2.
    const r3 = await exchange(req(r2.receiveTimestamp, 0x3333n, 0x3000n));
    assert.equal(r3.originTimestamp, 0x3333n, 'reply 3 is interleaved');
    assert.ok(r3.receiveTimestamp > r2.receiveTimestamp);
    const tx2 = r3.transmitTimestamp;
    assert.ok(
      tx2 > r2.receiveTimestamp && tx2 >= before2 && tx2 <= after2,
      `${tx2} in [${before2}, ${after2}]`,
    );
    // The kernel stamp is after the basic transmit timestamp written before sendmmsg, by little.
    const lag = Number(tx2 - r2.transmitTimestamp) / 2 ** 32;
    assert.ok(lag > -50e-6 && lag < 1e-3, `kernel stamp − user-space transmit timestamp ${lag} s`);
    // A request echoing an unknown receive timestamp gets a basic answer.
    const r4 = await exchange(req(r3.receiveTimestamp + 12345n, 0x4444n, 0x4000n));
    assert.equal(r4.originTimestamp, 0x4000n);
    const snap = d.snapshot();
    assert.equal(snap.server.interleavedResponses, 1, JSON.stringify(snap.server));
    assert.ok(
      snap.transport?.kind === 'batched' && snap.transport.forwarded === 0,
      JSON.stringify(snap.transport),
    );
    assert.ok((snap.timestamping?.txKernel ?? 0) >= 2, JSON.stringify(snap.timestamping));
    // The client list comes with the worker's report, at most a second old.
    const marked = await waitFor(
      () => d.snapshot().clients.find((c) => c.address === '127.0.0.1')?.interleaved === true,
      3000,
      100,
    );
    assert.ok(marked, JSON.stringify(d.snapshot().clients));
  } finally {
    s.close();
    await d.stop();
  }
});

test('a worker measures the send latency of its basic replies and advances their transmit timestamps by it', {
  skip,
}, async () => {
  const d = await stratumOne(12436, 1);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const exchange = (origin: bigint, receive: bigint, transmit: bigint) =>
    new Promise<NtpPacket>((resolve, reject) => {
      const p = emptyPacket();
      p.mode = MODE.CLIENT;
      p.version = 4;
      p.originTimestamp = origin;
      p.receiveTimestamp = receive;
      p.transmitTimestamp = transmit;
      const t = setTimeout(() => reject(new Error('no reply')), 2000);
      s.once('message', (m) => {
        clearTimeout(t);
        const r = decodePacket(new Uint8Array(m));
        if (r.ok) resolve(r.packet);
        else reject(new Error('undecodable reply'));
      });
      s.send(encodePacket(p), 12436, '127.0.0.1');
    });
  try {
    // Basic requests, a few ms apart: the worker measures some of its replies (their kernel
    // transmit stamps minus the readings that became their transmit timestamps).
    let n = 0x1_0000n;
    for (let i = 0; i < 40; i++) {
      await exchange(0n, 0n, n++);
      await new Promise((r) => setTimeout(r, 3));
    }
    const sl = d.snapshot().timestamping?.sendLatency;
    assert.ok(sl !== undefined && sl.samples >= 4 && sl.median !== null, JSON.stringify(sl));
    assert.ok(
      sl.compensation > 0 && sl.compensation <= sl.median && sl.compensation < 500e-6,
      JSON.stringify(sl),
    );
    // Interleaved exchanges tell the kernel transmit time of each basic reply before them: with
    // the compensation, that stamp minus the reply's transmit timestamp is the latency minus the
    // compensation (about the median latency without it).
    const lags: number[] = [];
    let prev = await exchange(0n, 0n, n++);
    for (let i = 0; i < 12; i++) {
      const basic = await exchange(prev.receiveTimestamp, 0x2222n, n++);
      const next = await exchange(basic.receiveTimestamp, 0x3333n, n++);
      if (next.originTimestamp === 0x3333n)
        lags.push(Number(next.transmitTimestamp - basic.transmitTimestamp) / 2 ** 32);
      prev = await exchange(0n, 0n, n++);
      await new Promise((r) => setTimeout(r, 3));
    }
    assert.ok(lags.length >= 8, `${lags.length} interleaved answers`);
    const sorted = [...lags].sort((a, b) => a - b);
    const med = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const now = d.snapshot().timestamping?.sendLatency;
    assert.ok(now !== undefined && now.median !== null);
    assert.ok(
      med < now.median - now.compensation / 2,
      `kernel stamp − transmit timestamp: median ${med * 1e6} µs; latency median ${now.median * 1e6} µs, compensation ${now.compensation * 1e6} µs`,
    );
  } finally {
    s.close();
    await d.stop();
  }
});

test('one client row per address although the workers forward some of its requests to the main thread', {
  skip,
}, async () => {
  const d = await stratumOne(12438, 2);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  let replies = 0;
  s.on('message', () => replies++);
  try {
    // Plain requests are the worker's; one with an 84-byte extension field of an unassigned type
    // (RFC 7822: ignored) is forwarded, and the main thread's server answers it.
    for (let i = 0; i < 12; i++) {
      const plain = request(100n + BigInt(i));
      const ef = new Uint8Array(48 + 84);
      ef.set(plain);
      new DataView(ef.buffer).setUint16(48, 0x7f7f);
      new DataView(ef.buffer).setUint16(50, 84);
      for (const m of [plain, ef]) {
        const before = replies;
        s.send(m, 12438, '127.0.0.1');
        await waitFor(() => replies > before, 2000, 5);
      }
    }
    assert.equal(replies, 24);
    const snap = d.snapshot();
    assert.ok(
      snap.transport?.kind === 'batched' && snap.transport.forwarded === 12,
      JSON.stringify(snap.transport),
    );
    const ok = await waitFor(
      () => d.snapshot().clients.find((c) => c.address === '127.0.0.1')?.requests === 24,
      3000,
      100,
    );
    const rows = d.snapshot().clients.filter((c) => c.address === '127.0.0.1');
    assert.ok(ok, JSON.stringify(rows));
    assert.equal(rows.length, 1, JSON.stringify(rows));
    const row = rows[0];
    assert.ok(row !== undefined && row.lastSeen >= 0 && row.lastSeen < 3, JSON.stringify(row));
  } finally {
    s.close();
    await d.stop();
  }
});

test('mergeClients: counts add up, the most recent row gives port and interleaved', () => {
  const rows = mergeClients([
    {
      address: '192.0.2.1',
      port: 1000,
      requests: 3,
      lastSeen: 5,
      firstSeen: 20,
      interval: 7.5,
      kodSent: 1,
      dropped: 0,
      interleaved: false,
    },
    {
      address: '192.0.2.2',
      requests: 1,
      lastSeen: 1,
      interval: null,
      kodSent: 0,
      dropped: 0,
      interleaved: false,
    },
    {
      address: '192.0.2.1',
      port: 2000,
      requests: 2,
      lastSeen: 1,
      firstSeen: 9,
      interval: 8,
      kodSent: 0,
      dropped: 2,
      interleaved: true,
    },
  ]);
  assert.equal(rows.length, 2);
  const a = rows.find((r) => r.address === '192.0.2.1');
  assert.deepEqual(a, {
    address: '192.0.2.1',
    port: 2000,
    requests: 5,
    lastSeen: 1,
    firstSeen: 20,
    interval: (20 - 1) / 4,
    kodSent: 1,
    dropped: 2,
    interleaved: true,
  });
});

test('an idle server wakes about once a second per worker and republishes the clock about once a second; stop is prompt', {
  skip,
}, async () => {
  const d = await stratumOne(12439, 2);
  let stopped = false;
  try {
    assert.ok((await ask('127.0.0.1', 12439, 7n)) !== null);
    await new Promise((r) => setTimeout(r, 300));
    const before = d.snapshot().transport;
    await new Promise((r) => setTimeout(r, 3000));
    const after = d.snapshot().transport;
    assert.ok(before?.kind === 'batched' && after?.kind === 'batched');
    const wakeups = (after.wakeups ?? 0) - (before.wakeups ?? 0);
    const publishes = (after.publishes ?? 0) - (before.publishes ?? 0);
    // 3 s idle: each of the 2 workers times out about 3 times; the free-running clock is a line.
    assert.ok(wakeups >= 2 && wakeups <= 10, `worker wake-ups in 3 s idle: ${wakeups}`);
    assert.ok(publishes >= 2 && publishes <= 5, `publications in 3 s idle: ${publishes}`);
    // The eventfd wakes the workers out of their one-second poll at once.
    const t0 = performance.now();
    await d.stop();
    stopped = true;
    const took = performance.now() - t0;
    assert.ok(took < 600, `stop took ${took.toFixed(0)} ms`);
  } finally {
    if (!stopped) await d.stop();
  }
});
