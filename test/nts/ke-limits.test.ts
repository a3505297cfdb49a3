/**
 * NTS-KE server limits (ports 11640-11641, 12100-12101): a connection that never completes its TLS
 * handshake is dropped after the handshake timeout, connections beyond the cap are refused while it is
 * open, one address holds at most max-connections-per-source, and idle connections are closed.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { nodeRandomBytes, ntsKeClient, startNtsKeServer } from '../../src/io/nts-ke.js';
import { TcpLimiter } from '../../src/io/tcp-limits.js';
import { CookieJar } from '../../src/nts/cookie.js';
import { certFixture } from './responder.js';

test('NTS-KE server: handshake timeout and connection cap', async (t) => {
  const fx = await certFixture(t);
  if (fx === null) return;
  const { key, cert } = fx;
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const ke = await startNtsKeServer({
    key,
    cert,
    port: 11640,
    jar,
    ntpPort: 11641,
    maxConnections: 1,
    handshakeTimeoutMs: 400,
  });
  t.after(() => ke.close());

  // A silent TCP client holds the only slot until the handshake timeout closes it.
  const t0 = Date.now();
  const silent = connect(11640, '127.0.0.1');
  const closed = new Promise<number>((resolve) => silent.on('close', () => resolve(Date.now() - t0)));
  silent.on('error', () => {});
  await new Promise<void>((r) => silent.once('connect', () => r()));
  const refused = await ntsKeClient({ host: 'localhost', port: 11640, ca: cert, timeoutMs: 2000 });
  assert.equal(refused.ok, false, 'a second connection beyond the cap is refused');
  const after = await closed;
  assert.ok(after >= 350 && after < 3000, `silent connection closed after ${after} ms`);
  const ok = await ntsKeClient({ host: 'localhost', port: 11640, ca: cert });
  assert.ok(ok.ok, ok.ok ? '' : ok.message);
  assert.equal(ke.served(), 1);
});

/** Opens `n` TCP connections from `localAddress` to `port` that never send anything. */
async function idleClients(n: number, port: number, localAddress: string): Promise<Socket[]> {
  const socks: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => {});
    socks.push(s);
  }
  await Promise.all(
    socks.map(
      (s) => new Promise<void>((r) => (s.readyState === 'open' ? r() : s.once('connect', () => r()))),
    ),
  );
  return socks;
}

test('NTS-KE server: 100 idle connections from one address do not exhaust max-connections', async (t) => {
  const fx = await certFixture(t);
  if (fx === null) return;
  const { key, cert } = fx;
  const limiter = new TcpLimiter({ perSource: 8, idleMs: 600 });
  const ke = await startNtsKeServer({
    key,
    cert,
    port: 12100,
    jar: new CookieJar(nodeCrypto, nodeRandomBytes),
    ntpPort: 12101,
    maxConnections: 100,
    handshakeTimeoutMs: 10_000,
    limiter,
  });
  t.after(() => ke.close());
  const idle = await idleClients(100, 12100, '127.0.0.1');
  t.after(() => {
    for (const s of idle) s.destroy();
  });
  await waitUntil(() => limiter.counters().refusedPerSource >= 92, 3000);
  assert.equal(limiter.openFrom('127.0.0.1'), 8, 'one address holds at most max-connections-per-source');
  // Another client gets its keys while the idle ones are still open.
  const ok = await ntsKeClient({
    host: '127.0.0.1',
    port: 12100,
    ca: cert,
    localAddress: '127.0.0.2',
    timeoutMs: 3000,
  });
  assert.ok(ok.ok, ok.ok ? '' : `${ok.code}: ${ok.message}`);
  // The idle timeout (well before the 10 s handshake timeout) closes the rest.
  const t0 = Date.now();
  await waitUntil(() => limiter.openFrom('127.0.0.1') === 0, 3000);
  assert.equal(limiter.openFrom('127.0.0.1'), 0, 'idle connections closed');
  assert.ok(Date.now() - t0 < 2500);
  assert.equal(limiter.counters().idleClosed, 8);
});

async function waitUntil(probe: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!probe() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

test('[nts] max-connections-per-source and idle-timeout parse with defaults 8 and 2 s', () => {
  const d = parseConfig('').nts;
  assert.equal(d?.maxConnectionsPerSource, 8);
  assert.equal(d?.idleTimeout, 2);
  const c = parseConfig('[nts]\nmax-connections-per-source = 2\nidle-timeout = 0.5\n').nts;
  assert.equal(c?.maxConnectionsPerSource, 2);
  assert.equal(c?.idleTimeout, 0.5);
  assert.throws(() => parseConfig('[nts]\nidle-timeout = 0\n'), /idle-timeout/);
});
