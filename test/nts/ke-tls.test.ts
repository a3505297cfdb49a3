/**
 * Our NTS-KE client against our NTS-KE server over real TLS 1.3 on loopback (ports 11610-11619):
 * both ends derive the same keys; then an NTS-protected NTP exchange with the test responder.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ntsQuery, parseNtsQueryArgs } from '../../src/cli/nts-query.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { nodeRandomBytes, ntsKeClient, startNtsKeServer } from '../../src/io/nts-ke.js';
import { CookieJar } from '../../src/nts/cookie.js';
import { decodeKeMessage, encodeKeMessage, RECORD } from '../../src/nts/ke.js';
import { runCommand } from '../support/peers.js';
import { certFixture, startNtsResponder } from './responder.js';

test('NTS-KE over TLS: keys agree, cookies work, then an NTS query succeeds', async (t) => {
  const fx = await certFixture(t);
  if (fx === null) return;
  const { key, cert } = fx;
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const ke = await startNtsKeServer({ key, cert, port: 11610, jar, ntpPort: 11611, cookies: 5 });
  t.after(() => ke.close());
  const responder = await startNtsResponder({ port: 11611, jar });
  t.after(() => responder.close());

  const r = await ntsKeClient({ host: 'localhost', port: 11610, ca: cert });
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.equal(r.keys.aead, 15);
  assert.equal(r.cookies.length, 5);
  assert.equal(r.ntpPort, 11611);
  assert.equal(r.ntpServer, 'localhost');
  // The server sealed the keys it exported into the cookies: they must equal the client's export.
  for (const c of r.cookies) {
    const o = jar.open(c);
    assert.ok(o.ok);
    assert.deepEqual(o.keys, r.keys);
  }
  assert.notDeepEqual(r.keys.c2s, r.keys.s2c);

  const q = await ntsQuery({
    host: 'localhost',
    kePort: 11610,
    caFile: `${fx.dir}/cert.pem`,
    samples: 3,
    timeoutMs: 1000,
    intervalMs: 10,
  });
  assert.ok(q.ok, q.ok ? '' : q.message);
  assert.equal(q.samples.length, 3);
  // 5 cookies from KE: the first request spends one and asks for 3 more (pool target 8), then 1 each.
  assert.equal(q.nts.replyCookies, 4 + 1 + 1);
  assert.ok(Math.abs(q.best.offset) < 0.01, `offset ${q.best.offset} against our own clock`);
  assert.equal(responder.stats.authenticated, 3);
  assert.equal(ke.served(), 2);

  // Certificate not trusted: KE must fail and no NTP is sent.
  const untrusted = await ntsKeClient({ host: 'localhost', port: 11610, timeoutMs: 3000 });
  assert.ok(!untrusted.ok);
  assert.equal(untrusted.code, 'TLS');
  // Wrong name in the certificate.
  const wrongName = await ntsKeClient({
    host: '127.0.0.1',
    port: 11610,
    ca: cert,
    servername: 'other.example',
  });
  assert.ok(!wrongName.ok);
});

test('a tampering responder is rejected by the NTS query', async (t) => {
  const fx = await certFixture(t);
  if (fx === null) return;
  const { key, cert } = fx;
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const ke = await startNtsKeServer({ key, cert, port: 11612, jar, ntpPort: 11613 });
  t.after(() => ke.close());
  const responder = await startNtsResponder({ port: 11613, jar, tamper: true });
  t.after(() => responder.close());
  const q = await ntsQuery({
    host: 'localhost',
    kePort: 11612,
    caFile: `${fx.dir}/cert.pem`,
    samples: 2,
    timeoutMs: 500,
    intervalMs: 0,
  });
  assert.ok(!q.ok);
  assert.equal(q.stage, 'ntp');
  assert.equal(q.rejections.filter((x) => x.code === 'AUTH_FAILED').length, 2);
});

test('query --nts argument parsing', () => {
  const a = parseNtsQueryArgs([
    '--nts',
    'time.example:4461',
    '-n',
    '3',
    '--ca',
    '/x.pem',
    '--ntp-port',
    '124',
  ]);
  assert.ok(typeof a === 'object' && 'options' in a);
  assert.equal(a.options.kePort, 4461);
  assert.equal(a.options.ntpPort, 124);
  assert.equal(a.options.samples, 3);
  assert.equal(a.options.caFile, '/x.pem');
  const b = parseNtsQueryArgs(['time.example']);
  assert.ok(typeof b === 'object' && 'options' in b);
  assert.equal(b.options.kePort, 4460);
  const c = parseNtsQueryArgs(['--ntp-version', '3', 'h']);
  assert.ok(typeof c === 'object' && 'error' in c);
  assert.equal(parseNtsQueryArgs(['--help']), 'help');
});

test('the CLI (query --nts --json) prints an authenticated result, exit 1 for an untrusted server', async (t) => {
  const fx = await certFixture(t);
  if (fx === null) return;
  const { key, cert, certPath } = fx;
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const ke = await startNtsKeServer({ key, cert, port: 11614, jar, ntpPort: 11615 });
  t.after(() => ke.close());
  const responder = await startNtsResponder({ port: 11615, jar });
  t.after(() => responder.close());
  const mod = fileURLToPath(new URL('../../src/cli/nts-query.js', import.meta.url));
  const script = `const m = await import(${JSON.stringify(mod)}); process.exitCode = await m.run(process.argv.slice(1));`;
  const cli = (args: string[]) =>
    runCommand(process.execPath, ['--input-type=module', '-e', script, '--', ...args], { timeoutMs: 10_000 });
  const ok = await cli(['--nts', 'localhost:11614', '--ca', certPath, '-n', '2', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const j = JSON.parse(ok.stdout) as {
    port: number;
    stratum: number;
    nts: { authenticated: boolean; aead: number };
  };
  assert.equal(j.port, 11615);
  assert.equal(j.stratum, 1);
  assert.equal(j.nts.authenticated, true);
  assert.equal(j.nts.aead, 15);
  const bad = await cli(['--nts', 'localhost:11614', '-t', '1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /NTS-KE .* failed \(TLS\)/);
  const usage = await cli(['--nts', '--ntp-version', '3', 'localhost']);
  assert.equal(usage.code, 2);
});

test('the NTS-KE server answers bad requests with an Error record and refuses other ALPNs', async (t) => {
  const fx = await certFixture(t);
  if (fx === null) return;
  const { key, cert } = fx;
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const ke = await startNtsKeServer({ key, cert, port: 11616, jar });
  t.after(() => ke.close());
  const raw = (request: Uint8Array, alpn = 'ntske/1') =>
    new Promise<{ alpn: string | false | null; data: Uint8Array; error?: string }>((resolve) => {
      const chunks: Buffer[] = [];
      let alpnSeen: string | false | null = false;
      const s = connect({
        host: '127.0.0.1',
        port: 11616,
        ca: cert,
        servername: 'localhost',
        ALPNProtocols: [alpn],
      });
      s.on('secureConnect', () => {
        alpnSeen = s.alpnProtocol;
        s.write(request);
      });
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', (e) =>
        resolve({ alpn: alpnSeen, data: new Uint8Array(Buffer.concat(chunks)), error: e.message }),
      );
      s.on('close', () => resolve({ alpn: alpnSeen, data: new Uint8Array(Buffer.concat(chunks)) }));
    });
  // No AEAD Algorithm record: Error "Bad Request" (1).
  const noAead = await raw(
    encodeKeMessage([{ critical: true, type: RECORD.NEXT_PROTOCOL, body: new Uint8Array([0, 0]) }]),
  );
  const d = decodeKeMessage(noAead.data);
  assert.ok(d.ok, noAead.error);
  assert.deepEqual(d.records[0], { critical: true, type: RECORD.ERROR, body: new Uint8Array([0, 1]) });
  // An unknown critical record: Error "Unrecognized Critical Record" (0).
  const unk = await raw(encodeKeMessage([{ critical: true, type: 99, body: new Uint8Array(0) }]));
  const u = decodeKeMessage(unk.data);
  assert.ok(u.ok);
  assert.deepEqual(u.records[0], { critical: true, type: RECORD.ERROR, body: new Uint8Array([0, 0]) });
  // Another ALPN: the handshake fails (no_application_protocol), nothing is served.
  const other = await raw(encodeKeMessage([]), 'http/1.1');
  assert.equal(other.data.length, 0);
  assert.equal(ke.served(), 0);
});
