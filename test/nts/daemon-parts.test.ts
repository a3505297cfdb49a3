/**
 * The pieces of NTS in the daemon that need no network: `[nts]` and `[[server]] nts` configuration
 * (values, defaults, errors with file and line), the cookie jar's master-key export/import and the key
 * file format that carries them across restarts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkConfig, parseConfig } from '../../src/config/parse.js';
import { parseNtsKeyFile } from '../../src/daemon/nts.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { nodeRandomBytes } from '../../src/io/nts-ke.js';
import { CookieJar } from '../../src/nts/cookie.js';
import { AEAD_AES_SIV_CMAC_256 } from '../../src/wire/crypto.js';

test('[nts] and [[server]] nts keys: values and defaults', () => {
  const c = parseConfig(`
[[server]]
address = "time.example"
nts = true
iburst = true
[[server]]
address = "ntp.example"
nts = true
nts-port = 4461
[[server]]
address = "plain.example"
[nts]
trusted-certs = "/etc/ntpkit/ca.pem"
server-cert = "/etc/ntpkit/cert.pem"
server-key = "/etc/ntpkit/key.pem"
ke-listen = ["127.0.0.1"]
rotate-interval = 3600
`);
  assert.deepEqual(
    c.servers.map((s) => [s.host, s.nts, s.ntsPort]),
    [
      ['time.example', true, 4460],
      ['ntp.example', true, 4461],
      ['plain.example', false, 4460],
    ],
  );
  assert.equal(c.nts?.trustedCerts, '/etc/ntpkit/ca.pem');
  assert.equal(c.nts?.serverCert, '/etc/ntpkit/cert.pem');
  assert.equal(c.nts?.kePort, 4460);
  assert.deepEqual(c.nts?.keListen, ['127.0.0.1']);
  assert.equal(c.nts?.rotateInterval, 3600);
  assert.equal(c.nts?.keepKeys, 3);
  assert.equal(c.nts?.maxConnections, 100);
  assert.equal(c.nts?.insecureSkipVerify, false);
  const d = parseConfig('');
  assert.equal(d.nts?.serverCert, null);
  assert.equal(d.nts?.keListen, null);
});

test('NTS configuration errors carry file, line and key', () => {
  const text = `[[server]]
address = "a.example"
nts = true
key = 5

[[peer]]
address = "b.example"
nts = true

[nts]
server-cert = "c.pem"
ke-port = 70000
ke-listen = ["not-an-ip"]
trusted-cert = "x"
`;
  const { config, issues } = checkConfig(text, 'nts.toml');
  assert.equal(config, null);
  const byKey = new Map(issues.map((i) => [i.key, i]));
  const both = issues.find((i) => i.key === 'server[0].key' && /nts or a symmetric key/.test(i.message));
  assert.equal(both?.line, 4, JSON.stringify(issues));
  assert.equal(byKey.get('peer[0].nts')?.line, 8, 'nts only for [[server]]');
  assert.equal(byKey.get('nts.ke-port')?.line, 12);
  assert.equal(byKey.get('nts.ke-listen[0]')?.line, 13);
  assert.equal(byKey.get('nts.trusted-cert')?.line, 14);
  assert.equal(byKey.get('nts.server-cert')?.line, 11, 'server-cert without server-key');
  assert.match(byKey.get('nts.server-cert')?.message ?? '', /go together/);
  for (const i of issues) assert.equal(i.file, 'nts.toml');
});

test('CookieJar: exported master keys open old cookies in a new jar; forgotten keys do not', () => {
  const a = new CookieJar(nodeCrypto, nodeRandomBytes, 3);
  const keys = { aead: AEAD_AES_SIV_CMAC_256, c2s: nodeRandomBytes(32), s2c: nodeRandomBytes(32) };
  const c1 = a.seal(keys);
  a.rotate();
  const c2 = a.seal(keys);
  const b = new CookieJar(nodeCrypto, nodeRandomBytes, 3);
  assert.equal(b.open(c1).ok, false, 'a fresh jar does not know the keys');
  b.importKeys(a.exportKeys());
  assert.equal(b.currentKeyId(), a.currentKeyId());
  for (const c of [c1, c2]) {
    const o = b.open(c);
    assert.ok(o.ok);
    assert.deepEqual(o.keys.c2s, keys.c2s);
  }
  // New cookies of the restored jar open in the original one, and rotation continues the IDs.
  const c3 = b.seal(keys);
  assert.ok(a.open(c3).ok);
  const id = b.rotate();
  assert.equal(id, (a.currentKeyId() + 1) >>> 0);
  b.rotate();
  b.rotate();
  assert.equal(b.open(c1).ok, false, 'keys beyond keep are forgotten');
  assert.throws(() => b.importKeys([]), RangeError);
  assert.throws(() => b.importKeys([{ id: 1, key: new Uint8Array(16) }]), RangeError);
});

test('key file: round trip, and anything malformed is refused (never throws)', () => {
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  jar.rotate();
  const text = JSON.stringify({
    version: 1,
    rotated: 1_700_000_000,
    keys: jar.exportKeys().map((k) => ({ id: k.id, key: Buffer.from(k.key).toString('hex') })),
  });
  const p = parseNtsKeyFile(text);
  assert.ok(p.ok);
  assert.equal(p.rotated, 1_700_000_000);
  assert.deepEqual(p.keys, jar.exportKeys());
  for (const [bad, why] of [
    ['', /not JSON/],
    ['null', /not a JSON object/],
    ['{"version":2,"rotated":0,"keys":[]}', /version/],
    ['{"version":1,"rotated":0,"keys":[]}', /no keys/],
    ['{"version":1,"rotated":0,"keys":[{"id":1,"key":"00"}]}', /keys\[0\]\.key/],
    ['{"version":1,"keys":[{"id":1,"key":"00"}]}', /rotated/],
  ] as const) {
    const r = parseNtsKeyFile(bad);
    assert.ok(!r.ok && why.test(r.reason), `${bad}: ${JSON.stringify(r)}`);
  }
  fc.assert(
    fc.property(fc.string(), (s) => {
      const r = parseNtsKeyFile(s);
      return r.ok ? r.keys.length > 0 : r.reason.length > 0;
    }),
  );
});

test('key file: a bad key ID (1.5, -7, 1e20, "3", a duplicate) is named, never thrown', () => {
  const key = '00'.repeat(32);
  for (const id of ['1.5', '-7', '1e20', '"3"', '4294967296']) {
    const r = parseNtsKeyFile(
      `{"version":1,"rotated":0,"keys":[{"id":2,"key":"${key}"},{"id":${id},"key":"${key}"}]}`,
    );
    assert.ok(!r.ok, id);
    assert.match(r.reason, /^keys\[1\]\.id .* is not a key ID/, id);
  }
  const dup = parseNtsKeyFile(
    `{"version":1,"rotated":0,"keys":[{"id":2,"key":"${key}"},{"id":2,"key":"${key}"}]}`,
  );
  assert.ok(!dup.ok && /keys\[1\]\.id 2 appears twice/.test(dup.reason));
});
