import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/daemon/log.js';
import { emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';

// Ports of engineer `server`: 12000-12099.
const TIME_PORT = 12010;
const INSIDE = '127.0.0.1';
const OUTSIDE = '127.0.0.2';

const CONFIG = `
[serve]
listen = ["127.0.0.1"]
port = 0
[access]
deny = ["${OUTSIDE}"]
[system]
accept-broadcast = true
[legacy]
time-port = ${TIME_PORT}
address = "127.0.0.1"
[observe]
control-socket = false
`;

function ntp(mode: number): Uint8Array {
  return encodePacket({ ...emptyPacket(), mode, poll: 6, transmitTimestamp: 0xe100_0000_1234_5678n });
}

function ntpq(): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = (2 << 3) | 6;
  b[1] = 2;
  b[3] = 1;
  return b;
}

/** Sends the datagrams from `local` and returns the modes of the answers. */
async function answered(local: string, port: number, packets: Uint8Array[]): Promise<number[]> {
  const s = dgram.createSocket('udp4');
  const got = new Set<number>();
  await new Promise<void>((r) => s.bind(0, local, () => r()));
  s.on('message', (m) => got.add((m[0] ?? 0) & 7));
  for (const b of packets) s.send(b, port, INSIDE);
  await new Promise((r) => setTimeout(r, 300));
  s.close();
  return [...got].sort();
}

async function timeBytes(local: string): Promise<number> {
  return new Promise((resolve) => {
    const c = net.connect({ port: TIME_PORT, host: INSIDE, localAddress: local });
    let n = 0;
    c.on('data', (b) => {
      n += b.length;
    });
    c.on('close', () => resolve(n));
    c.on('error', () => resolve(n));
  });
}

test('[access] covers every mode and the Time service: a denied host gets nothing, each refusal counted', async () => {
  const d = await startDaemon(parseConfig(CONFIG), { logger: silentLogger });
  try {
    const port = d.endpoints[0]!.port;
    const packets = [MODE.SYMMETRIC_ACTIVE, MODE.CLIENT, MODE.BROADCAST, MODE.PRIVATE].map(ntp);
    packets.push(ntpq());
    assert.deepEqual(await answered(OUTSIDE, port, packets), [], 'nothing for a denied host');
    assert.equal(await timeBytes(OUTSIDE), 0, 'the Time service refuses it too');
    const st = d.snapshot().server;
    assert.equal(st.invalid.denied, 6, JSON.stringify(st));
    // Allowed: mode 1 gets the stateless mode 2 answer, mode 3 a mode 4, ntpq its mode 6 reply.
    assert.deepEqual(await answered(INSIDE, port, packets), [2, 4, 6]);
    assert.equal(await timeBytes(INSIDE), 4);
    assert.equal(d.snapshot().server.invalid['mode-7'], 1);
  } finally {
    await d.stop();
  }
});
