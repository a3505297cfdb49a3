/**
 * The daemon on the batched transport (`[serve] workers`): workers answer plain requests from the
 * address each was sent to; what they forward (interleaved requests, the daemon's own replies)
 * goes through the daemon's usual path and is answered on the same sockets; `workers = 0` keeps
 * the node:dgram path and says so. Ports 12430–12439.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/daemon/log.js';
import { fastServerSupport } from '../../src/io/fast-server.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { waitFor } from '../support/peers.js';

const skip = fastServerSupport() === null ? false : `no batched sockets: ${fastServerSupport()}`;

/** A daemon with `toml` and no control socket. */
function daemon(toml: string) {
  return startDaemon(parseConfig(`${toml}[observe]\ncontrol-socket = false\n`), { logger: silentLogger });
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
    assert.ok(st.transport?.kind === 'batched' && st.transport.forwarded > 0, JSON.stringify(st.transport));
    // The client's own replies came in through its worker and were forwarded to its main thread.
    const ct = snap.transport;
    assert.ok(ct?.kind === 'batched' && ct.forwarded > 0, JSON.stringify(ct));
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('workers = 0: the node:dgram path, same answers, and the reason in the snapshot', async () => {
  const d = await daemon(`[serve]
listen = ["127.0.0.1"]
port = 12433
workers = 0
[local]
stratum = 1
`);
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

test('two daemons cannot share a port through SO_REUSEPORT', { skip }, async () => {
  const cfg = `[serve]\nlisten = ["127.0.0.1"]\nport = 12434\nworkers = 2\n[observe]\ncontrol-socket = false\n`;
  const d = await startDaemon(parseConfig(cfg), { logger: silentLogger });
  try {
    await assert.rejects(startDaemon(parseConfig(cfg), { logger: silentLogger }), /could not bind.*12434/);
  } finally {
    await d.stop();
  }
});
