/**
 * The EVP path of the crypto provider (src/io/crypto-evp.ts: AES-CMAC and AES-SIV over OpenSSL's
 * EVP through koffi): the RFC 4493 / SP 800-38B / RFC 5297 vectors, then byte-for-byte equality
 * with the node:crypto path (src/io/crypto.ts) on random keys, associated data and plaintexts,
 * lengths across the EVP chunk (4096 bytes) included, and the provider's choice of path.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createNodeCrypto, NodeCmac, NodeSiv, nodeCrypto, nodeRandomBytes } from '../../src/io/crypto.js';
import { EvpCmac, EvpSiv, evpAes } from '../../src/io/crypto-evp.js';
import { CookieJar } from '../../src/nts/cookie.js';
import { AEAD_AES_SIV_CMAC_256 } from '../../src/wire/crypto.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const evp = evpAes();
const skip = evp === null ? 'no OpenSSL EVP through koffi on this platform' : false;

const M = hex(
  '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
);

test('EVP AES-128-CMAC: RFC 4493 section 4 examples, reused in both orders', { skip }, () => {
  if (evp === null) return;
  const c = new EvpCmac(evp, 128, hex('2b7e151628aed2a6abf7158809cf4f3c'));
  const expect: Array<[number, string]> = [
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ];
  for (const [n, mac] of [...expect, ...[...expect].reverse()])
    assert.equal(toHex(c.mac(M.subarray(0, n))), mac, `${n}`);
});

test('EVP AES-256-CMAC: NIST SP 800-38B appendix D.3 examples', { skip }, () => {
  if (evp === null) return;
  const c = new EvpCmac(evp, 256, hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4'));
  assert.equal(toHex(c.mac(M.subarray(0, 0))), '028962f61b7bf89efc6b551f4667d983');
  assert.equal(toHex(c.mac(M.subarray(0, 16))), '28a7023f452e8f82bd4bf28d8c37c35c');
  assert.equal(toHex(c.mac(M.subarray(0, 40))), 'aaf3d8f1de5640c232f5b169b9c911e6');
  assert.equal(toHex(c.mac(M)), 'e1992190549f6ed5696a2c056c315410');
  assert.throws(() => new EvpCmac(evp, 256, new Uint8Array(16)), RangeError);
});

test('EVP AES-SIV: RFC 5297 A.1 and A.2 (S2V value included)', { skip }, () => {
  if (evp === null) return;
  const a1 = new EvpSiv(
    evp,
    15,
    hex('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff'),
  );
  const ad = hex('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
  const pt = hex('11223344 55667788 99aabbcc ddee');
  const out = a1.seal([ad], pt);
  assert.equal(toHex(out), '85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c');
  assert.deepEqual(a1.open([ad], out), pt);
  const a2 = new EvpSiv(
    evp,
    15,
    hex('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f'),
  );
  const ad1 = hex(
    '00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100',
  );
  const ad2 = hex('10203040 50607080 90a0');
  const nonce = hex('09f91102 9d74e35b d84156c5 635688c0');
  const pt2 = hex(
    '74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553',
  );
  assert.equal(toHex(a2.s2v([ad1, ad2, nonce], pt2)), '7bdb6e3b432667eb06f4d14bff2fbd0f');
  const sealed = a2.seal([ad1, ad2, nonce], pt2);
  assert.equal(
    toHex(sealed),
    '7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d',
  );
  assert.deepEqual(a2.open([ad1, ad2, nonce], sealed), pt2);
});

test('EVP and node:crypto paths give the same CMACs and SIV outputs, across chunk edges', { skip }, () => {
  if (evp === null) return;
  const lengths = [0, 1, 4, 15, 16, 17, 68, 108, 4079, 4080, 4095, 4096, 4097, 4112, 8192, 9001];
  for (const bits of [128, 256]) {
    const key = randomBytes(bits / 8);
    const e: EvpCmac = new EvpCmac(evp, bits, key);
    const n = new NodeCmac(bits, key);
    for (const len of lengths) {
      const msg = randomBytes(len);
      assert.equal(toHex(e.mac(msg)), toHex(n.mac(msg)), `CMAC AES-${bits}, ${len} bytes`);
    }
  }
  for (const keyLength of [32, 64]) {
    const key = randomBytes(keyLength);
    const e: EvpSiv = new EvpSiv(evp, 15, key);
    const n = new NodeSiv(15, key);
    const ids = [randomBytes(4), randomBytes(4)];
    for (let i = 0; i < lengths.length * 2; i++) {
      const pt = randomBytes(lengths[i % lengths.length] ?? 0);
      // The first string alternates between two short ones (S2V keeps the last one's value) and
      // long ones; sometimes there is none.
      const first =
        i % 5 === 4 ? randomBytes(lengths[(i * 7) % lengths.length] ?? 0) : (ids[i % 2] as Uint8Array);
      const ad = i % 9 === 8 ? [] : [first, randomBytes(16)];
      const sealed: Uint8Array = e.seal(ad, pt);
      assert.equal(toHex(sealed), toHex(n.seal(ad, pt)), `SIV ${keyLength}-byte key, ${pt.length} bytes`);
      assert.deepEqual(e.open(ad, sealed), new Uint8Array(pt));
      assert.deepEqual(n.open(ad, sealed), new Uint8Array(pt));
      const bad = Uint8Array.from(sealed);
      const at = (i * 31) % bad.length;
      bad[at] = (bad[at] ?? 0) ^ (1 << (i % 8));
      assert.equal(e.open(ad, bad), null, `a flipped bit at ${at} is refused`);
      if (ad.length > 0) {
        const ad2 = [Uint8Array.from(ad[0] ?? []), ad[1] ?? new Uint8Array(0)];
        ad2[0] = Uint8Array.from([...(ad[0] ?? []), 0]);
        assert.equal(e.open(ad2, sealed), null, 'other associated data is refused');
      }
    }
  }
  assert.equal(new EvpSiv(evp, 15, randomBytes(32)).open([], new Uint8Array(15)), null);
});

const forcedFallback =
  process.env.NTPKIT_CRYPTO === 'node' ? 'NTPKIT_CRYPTO=node forces the fallback' : false;

test('the provider uses the EVP path where it exists, node:crypto otherwise', {
  skip: skip || forcedFallback,
}, () => {
  assert.match(nodeCrypto.name, /EVP through FFI/);
  const fallback = createNodeCrypto(undefined, null);
  assert.doesNotMatch(fallback.name, /FFI/);
  const key = randomBytes(32);
  const a = nodeCrypto.aead(AEAD_AES_SIV_CMAC_256, key);
  const b = fallback.aead(AEAD_AES_SIV_CMAC_256, key);
  assert.ok(a instanceof EvpSiv && b instanceof NodeSiv);
  const pt = randomBytes(68);
  assert.equal(toHex(a.seal([pt.subarray(0, 4)], pt)), toHex(b.seal([pt.subarray(0, 4)], pt)));
  assert.ok(nodeCrypto.cmac('AES128', randomBytes(16)) instanceof EvpCmac);
  assert.ok(fallback.cmac('AES128', randomBytes(16)) instanceof NodeCmac);
});

test('cookies carry the current master key ID after rotation and import, and open on both paths', () => {
  const fallback = createNodeCrypto(undefined, null);
  for (const crypto of [nodeCrypto, fallback]) {
    const jar = new CookieJar(crypto, nodeRandomBytes);
    const keys = { aead: 15, c2s: randomBytes(32), s2c: randomBytes(32) };
    const id0 = jar.currentKeyId();
    const c0 = jar.seal(keys);
    const id1 = jar.rotate();
    const c1 = jar.seal(keys);
    const idOf = (c: Uint8Array) => Buffer.from(c).readUInt32BE(0);
    assert.equal(idOf(c0), id0);
    assert.equal(idOf(c1), id1);
    for (const c of [c0, c1]) {
      const o = jar.open(c);
      assert.ok(o.ok);
      assert.deepEqual(o.keys.c2s, new Uint8Array(keys.c2s));
      assert.deepEqual(o.keys.s2c, new Uint8Array(keys.s2c));
    }
    // A changed byte anywhere after the key ID fails, and leaves the jar working.
    for (const at of [4, 20, 40, 103]) {
      const bad = Uint8Array.from(c1);
      bad[at] = (bad[at] ?? 0) ^ 0x20;
      assert.deepEqual(jar.open(bad), { ok: false, error: 'AUTH_FAILED' }, `byte ${at}`);
      assert.ok(jar.open(c1).ok);
    }
    // Another jar with the exported keys (a worker's) opens both and seals under the last.
    const other = new CookieJar(crypto === nodeCrypto ? fallback : nodeCrypto, nodeRandomBytes);
    other.importKeys(jar.exportKeys());
    assert.ok(other.open(c0).ok && other.open(c1).ok);
    const c2 = other.seal(keys);
    assert.equal(idOf(c2), id1);
    assert.ok(jar.open(c2).ok);
  }
});
