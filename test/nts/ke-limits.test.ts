/**
 * NTS-KE server limits (ports 11640-11641): a connection that never completes its TLS handshake is
 * dropped after the handshake timeout, and connections beyond the cap are refused while it is open.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { nodeRandomBytes, ntsKeClient, startNtsKeServer } from '../../src/io/nts-ke.js';
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
