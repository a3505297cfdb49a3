// The cookie jar's per-client AEADs (CookieJar.clientAeads): made once per pair of keys, never
// handed out for other keys (also when the first bytes agree), bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto, nodeRandomBytes } from '../../src/io/crypto.js';
import { CLIENT_AEAD_CACHE, CookieJar, type NtsKeys } from '../../src/nts/cookie.js';
import { AEAD_AES_SIV_CMAC_256 } from '../../src/wire/crypto.js';

const keysOf = (): NtsKeys => ({
  aead: AEAD_AES_SIV_CMAC_256,
  c2s: nodeRandomBytes(32),
  s2c: nodeRandomBytes(32),
});

test('clientAeads: one pair per client keys, right keys only, bounded', () => {
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const k = keysOf();
  const a = jar.clientAeads(k);
  assert.ok(a !== null);
  // A cookie opened again gives fresh arrays with the same keys: the same AEADs.
  assert.equal(jar.clientAeads({ ...k, c2s: Uint8Array.from(k.c2s), s2c: Uint8Array.from(k.s2c) }), a);
  // Same first bytes, another key: its own AEADs, which seal differently.
  const other = { ...k, c2s: Uint8Array.from(k.c2s) };
  other.c2s[15] = (other.c2s[15] ?? 0) ^ 1;
  const b = jar.clientAeads(other);
  assert.ok(b !== null && b !== a);
  const ad = [new Uint8Array(8)];
  assert.notDeepEqual(b.c2s.seal(ad, new Uint8Array(0)), a.c2s.seal(ad, new Uint8Array(0)));
  // What each seals, the other key's direct AEAD opens only for its own.
  const direct = nodeCrypto.aead(AEAD_AES_SIV_CMAC_256, k.s2c);
  assert.ok(direct !== null);
  assert.deepEqual(direct.open(ad, a.s2c.seal(ad, Uint8Array.of(1, 2, 3))), Uint8Array.of(1, 2, 3));
  // Wrong lengths: none.
  assert.equal(jar.clientAeads({ ...k, c2s: new Uint8Array(16) }), null);
  // Bounded: after CLIENT_AEAD_CACHE other clients the first one's AEADs are made again.
  const first = keysOf();
  const f1 = jar.clientAeads(first);
  for (let i = 0; i < CLIENT_AEAD_CACHE; i++) jar.clientAeads(keysOf());
  const f2 = jar.clientAeads(first);
  assert.ok(f1 !== null && f2 !== null && f1 !== f2);
});
