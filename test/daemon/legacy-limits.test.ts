/**
 * Time/Daytime over TCP: clients that connect and never read or close must not hold every slot
 * (issue 12 item 7). One address holds at most the per-source limit, idle connections are closed,
 * and another client is still served meanwhile. Ports 12110-12111.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type LegacyServices, legacyTcpLimits, startLegacyServices } from '../../src/daemon/legacy.js';
import { unixNsToNtpTime } from '../../src/time/ntp-time.js';

const TIME_PORT = 12110;
const DAYTIME_PORT = 12111;

/** Connects from `localAddress` and resolves with everything read until the server closes (or null on error). */
function readAll(port: number, localAddress: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => resolve(null));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.setTimeout(3000, () => s.destroy());
  });
}

describe('legacy TCP services: per-source limit and idle timeout', () => {
  let svc: LegacyServices;
  const hogs: Socket[] = [];
  before(async () => {
    svc = await startLegacyServices(
      {
        time: { port: TIME_PORT, tcp: true, udp: false, address: '127.0.0.1' },
        daytime: { port: DAYTIME_PORT, tcp: true, udp: false, address: '127.0.0.1' },
      },
      () => unixNsToNtpTime(BigInt(Date.now()) * 1_000_000n),
      { tcpLimits: { perSource: 8, idleMs: 700 } },
    );
  });
  after(async () => {
    for (const s of hogs) s.destroy();
    await svc.close();
  });

  it('300 connections that never read from one address leave room for others, and are closed', async () => {
    for (let i = 0; i < 300; i++) {
      const s = connect({ port: TIME_PORT, host: '127.0.0.1', localAddress: '127.0.0.1' });
      s.pause(); // never reads, never closes
      s.on('error', () => {});
      hogs.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(svc.openTcp(), 8, 'one address holds at most 8 connections');
    // Meanwhile another client reads both services.
    const time = await readAll(TIME_PORT, '127.0.0.2');
    assert.equal(time?.length, 4, 'RFC 868 answer to another client');
    const day = await readAll(DAYTIME_PORT, '127.0.0.2');
    assert.match(day?.toString('latin1') ?? '', /\r\n$/, 'RFC 867 answer to another client');
    const c = svc.counters()['time/tcp'];
    assert.ok(c !== undefined && c.dropped >= 292, `dropped ${c?.dropped} of 300 (limit 8 per source)`);
    // The server closes the hogs after the idle timeout (a client that never closes cannot stay).
    const t0 = Date.now();
    while (svc.openTcp() > 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(svc.openTcp(), 0, 'idle connections closed by the server');
    assert.ok(Date.now() - t0 < 1500, `closed ${Date.now() - t0} ms after the check`);
  });

  it('[legacy] max-connections-per-source and idle-timeout reach the services', () => {
    const cfg = parseConfig('[legacy]\ntime-port = 37\nmax-connections-per-source = 3\nidle-timeout = 0.5\n');
    assert.deepEqual(legacyTcpLimits(cfg.legacy), { perSource: 3, idleMs: 500 });
    assert.deepEqual(legacyTcpLimits(parseConfig('').legacy), { perSource: 8, idleMs: 2000 });
    assert.throws(
      () => parseConfig('[legacy]\nmax-connections-per-source = 0\n'),
      /max-connections-per-source/,
    );
  });
});
