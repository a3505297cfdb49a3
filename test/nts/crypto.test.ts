/**
 * The node:crypto provider's AES constructions (src/io/crypto.ts): AES-CMAC (RFC 4493, and AES-256
 * from NIST SP 800-38B) and AES-SIV (RFC 5297) against their published vectors, CMAC against
 * OpenSSL's own CMAC (`openssl mac`, an independent implementation) on random messages, and the
 * SIV's authentication properties.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  createNodeCrypto,
  dbl,
  NodeCmac,
  NodeSiv,
  nodeCrypto,
  nodeRandomBytes,
} from '../../src/io/crypto.js';
import { AEAD_AES_SIV_CMAC_256, type Aead } from '../../src/wire/crypto.js';
import { skipReason } from '../support/peers.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const M = hex(
  '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
);

function siv(key: Uint8Array): Aead {
  const a = nodeCrypto.aead(AEAD_AES_SIV_CMAC_256, key);
  assert.ok(a !== null);
  return a;
}

test('AES-128-CMAC (RFC 4493 section 4 examples, subkeys included), one keyed object reused', () => {
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const [k1, k2] = new NodeCmac(128, key).subkeys();
  assert.equal(toHex(k1), 'fbeed618357133667c85e08f7236a8de');
  assert.equal(toHex(k2), 'f7ddac306ae266ccf90bc11ee46d513b');
  const c = nodeCrypto.cmac('AES128', key);
  const expect: Array<[number, string]> = [
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ];
  // Twice over, in another order: the long-lived CBC state must not leak from one MAC into the next.
  for (const [n, mac] of [...expect, ...expect.reverse()])
    assert.equal(toHex(c.mac(M.subarray(0, n))), mac, `${n}`);
});

test('AES-256-CMAC (NIST SP 800-38B appendix D.3 examples)', () => {
  const c = nodeCrypto.cmac(
    'AES256',
    hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4'),
  );
  assert.equal(toHex(c.mac(M.subarray(0, 0))), '028962f61b7bf89efc6b551f4667d983');
  assert.equal(toHex(c.mac(M.subarray(0, 16))), '28a7023f452e8f82bd4bf28d8c37c35c');
  assert.equal(toHex(c.mac(M.subarray(0, 40))), 'aaf3d8f1de5640c232f5b169b9c911e6');
  assert.equal(toHex(c.mac(M)), 'e1992190549f6ed5696a2c056c315410');
});

test('CMAC rejects keys of the wrong length', () => {
  assert.throws(() => nodeCrypto.cmac('AES128', new Uint8Array(15)), RangeError);
  assert.throws(() => nodeCrypto.cmac('AES128', new Uint8Array(32)), RangeError);
  assert.throws(() => nodeCrypto.cmac('AES256', new Uint8Array(16)), RangeError);
});

const opensslMissing = skipReason('openssl');

test('CMAC equals OpenSSL`s own CMAC (openssl mac) on random keys and messages', {
  skip: opensslMissing ?? false,
}, () => {
  for (let i = 0; i < 24; i++) {
    const bits = i % 2 === 0 ? 128 : 256;
    const key = randomBytes(bits / 8);
    const msg = randomBytes(i * 7 - (i % 3)); // 0 .. 158 bytes, block edges included
    const ours = toHex(nodeCrypto.cmac(bits === 128 ? 'AES128' : 'AES256', key).mac(msg));
    const theirs = execFileSync(
      'openssl',
      ['mac', '-cipher', `AES-${bits}-CBC`, '-macopt', `hexkey:${key.toString('hex')}`, 'CMAC'],
      { input: msg },
    )
      .toString()
      .trim()
      .toLowerCase();
    assert.equal(ours, theirs, `AES-${bits}, ${msg.length} bytes`);
  }
});

test('dbl is multiplication by x in GF(2^128)', () => {
  assert.equal(toHex(dbl(hex('80000000000000000000000000000000'))), '00000000000000000000000000000087');
  assert.equal(toHex(dbl(hex('00000000000000000000000000000001'))), '00000000000000000000000000000002');
  assert.equal(toHex(dbl(hex('c0000000000000000000000000000001'))), '80000000000000000000000000000085');
});

test('AES-SIV deterministic example (RFC 5297 A.1)', () => {
  const a = siv(hex('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff'));
  const ad = hex('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
  const pt = hex('11223344 55667788 99aabbcc ddee');
  const out = a.seal([ad], pt);
  assert.equal(toHex(out), '85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c');
  assert.deepEqual(a.open([ad], out), pt);
});

test('AES-SIV nonce-based example (RFC 5297 A.2), S2V value included', () => {
  const key = hex('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f');
  const ad1 = hex(
    '00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100',
  );
  const ad2 = hex('10203040 50607080 90a0');
  const nonce = hex('09f91102 9d74e35b d84156c5 635688c0');
  const pt = hex(
    '74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553',
  );
  assert.equal(toHex(new NodeSiv(15, key).s2v([ad1, ad2, nonce], pt)), '7bdb6e3b432667eb06f4d14bff2fbd0f');
  const a = siv(key);
  const out = a.seal([ad1, ad2, nonce], pt);
  assert.equal(
    toHex(out),
    '7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d',
  );
  assert.deepEqual(a.open([ad1, ad2, nonce], out), pt);
});

test('AES-SIV round-trips and rejects every single-bit change of ciphertext or associated data', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 70 }),
      fc.nat(),
      (key, ad, pt, flip) => {
        const a = siv(key);
        const nonce = new Uint8Array(16).fill(7);
        const sealed = a.seal([ad, nonce], pt);
        assert.equal(sealed.length, pt.length + 16);
        assert.deepEqual(a.open([ad, nonce], sealed), pt);
        const bad = Uint8Array.from(sealed);
        const bit = flip % (bad.length * 8);
        bad[bit >> 3] = (bad[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        assert.equal(a.open([ad, nonce], bad), null);
        if (ad.length > 0) {
          const ad2 = Uint8Array.from(ad);
          ad2[flip % ad.length] = (ad2[flip % ad.length] ?? 0) ^ 1;
          assert.equal(a.open([ad2, nonce], sealed), null);
        }
        // The associated-data vector is not a concatenation: splitting it differently must fail.
        assert.equal(a.open([ad, nonce.subarray(0, 8), nonce.subarray(8)], sealed), null);
      },
    ),
    { numRuns: 300 },
  );
  assert.equal(siv(new Uint8Array(32)).open([], new Uint8Array(15)), null);
});

test('AES-SIV CTR equals OpenSSL aes-128-ctr from V with bits 63 and 31 cleared, carries included (RFC 5297 2.5)', () => {
  // 1 KiB is 64 counter blocks: keys are drawn until the counter's low byte wraps within them,
  // so the increment carries into the next byte at least once.
  let wrapped = 0;
  for (let i = 0; i < 200 && wrapped < 3; i++) {
    const key = randomBytes(32);
    const pt = randomBytes(1024);
    const sealed = siv(key).seal([randomBytes(20)], pt);
    const q = Uint8Array.from(sealed.subarray(0, 16));
    q[8] = (q[8] ?? 0) & 0x7f;
    q[12] = (q[12] ?? 0) & 0x7f;
    const ctr = createCipheriv('aes-128-ctr', key.subarray(16), q);
    assert.equal(toHex(sealed.subarray(16)), toHex(ctr.update(pt)));
    if ((q[15] ?? 0) > 0xc0) wrapped++;
  }
  assert.equal(wrapped, 3);
});

test('the provider refuses what it cannot do and says so', () => {
  assert.equal(nodeCrypto.aead(16, new Uint8Array(48)), null, 'AEAD 16 is not provided');
  assert.equal(nodeCrypto.aead(AEAD_AES_SIV_CMAC_256, new Uint8Array(16)), null, 'wrong key length');
  // An OpenSSL without MD5 and AES-256 (a FIPS build, say) reports it, and digest() throws.
  const limited = createNodeCrypto({ hashes: ['sha1', 'sha256'], ciphers: ['aes-128-cbc', 'aes-128-ecb'] });
  assert.equal(limited.supports('MD5'), false);
  assert.equal(limited.supports('SHA1'), true);
  assert.equal(limited.supports('AES128-CMAC'), true);
  assert.equal(limited.supports('AES256-CMAC'), false);
  assert.throws(() => limited.digest('MD5', new Uint8Array(1)), RangeError);
  assert.throws(() => limited.cmac('AES256', new Uint8Array(32)), RangeError);
  for (const alg of ['MD5', 'SHA1', 'SHA256', 'AES128-CMAC', 'AES256-CMAC', 'AEAD_AES_SIV_CMAC_256'] as const)
    assert.equal(nodeCrypto.supports(alg), true, alg);
  assert.match(nodeCrypto.name, /OpenSSL/);
  assert.ok(nodeCrypto.equal(hex('0102'), hex('0102')));
  assert.ok(!nodeCrypto.equal(hex('0102'), hex('0103')));
  assert.ok(!nodeCrypto.equal(hex('01'), hex('0100')));
});

test('nodeRandomBytes: fresh bytes of the asked length, from the pool and beyond it', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 600; i++) {
    const n = [16, 32, 4, 300][i % 4] ?? 16;
    const b = nodeRandomBytes(n);
    assert.equal(b.length, n);
    assert.ok(b instanceof Uint8Array && !Buffer.isBuffer(b));
    seen.add(toHex(b));
  }
  assert.equal(seen.size, 600, 'no output repeats (the pool is refilled, never reused)');
  const ones = [...nodeRandomBytes(200)].reduce((a, x) => a + x.toString(2).replaceAll('0', '').length, 0);
  assert.ok(ones > 600 && ones < 1000, `${ones} of 1600 bits set`);
});
