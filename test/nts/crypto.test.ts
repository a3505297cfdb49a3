/**
 * AES (FIPS 197), AES-CMAC (RFC 4493) and AES-SIV (RFC 5297): published vectors, and comparison with
 * node:crypto's AES-ECB on random keys and blocks.
 */

import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { Aes } from '../../src/nts/aes.js';
import { AesSiv, aesCmac, Cmac, dbl, sivDecrypt, sivEncrypt } from '../../src/nts/siv.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('AES known answers (FIPS 197 appendix C)', () => {
  const pt = hex('00112233445566778899aabbccddeeff');
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  assert.equal(toHex(new Aes(key.subarray(0, 16)).encrypt(pt)), '69c4e0d86a7b0430d8cdb78070b4c55a');
  assert.equal(toHex(new Aes(key.subarray(0, 24)).encrypt(pt)), 'dda97ca4864cdfe06eaf70a0ec0d7191');
  assert.equal(toHex(new Aes(key).encrypt(pt)), '8ea2b7ca516745bfeafc49904b496089');
  assert.throws(() => new Aes(new Uint8Array(15)), RangeError);
});

test('AES matches node:crypto aes-128/192/256-ecb on random keys and blocks', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(16, 24, 32),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (n, keyBytes, block) => {
        const key = keyBytes.subarray(0, n);
        const c = createCipheriv(`aes-${n * 8}-ecb`, key, null);
        c.setAutoPadding(false);
        const expected = toHex(Buffer.concat([c.update(block), c.final()]));
        assert.equal(toHex(new Aes(key).encrypt(block)), expected);
      },
    ),
    { numRuns: 600 },
  );
});

test('AES-CMAC (RFC 4493 section 4 examples, subkeys included)', () => {
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const [k1, k2] = new Cmac(key).subkeys();
  assert.equal(toHex(k1), 'fbeed618357133667c85e08f7236a8de');
  assert.equal(toHex(k2), 'f7ddac306ae266ccf90bc11ee46d513b');
  const m = hex(
    '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
  );
  assert.equal(toHex(aesCmac(key, m.subarray(0, 0))), 'bb1d6929e95937287fa37d129b756746');
  assert.equal(toHex(aesCmac(key, m.subarray(0, 16))), '070a16b46b4d4144f79bdd9dd04a287c');
  assert.equal(toHex(aesCmac(key, m.subarray(0, 40))), 'dfa66747de9ae63030ca32611497c827');
  assert.equal(toHex(aesCmac(key, m)), '51f0bebf7e3b9d92fc49741779363cfe');
});

test('dbl is multiplication by x in GF(2^128)', () => {
  assert.equal(toHex(dbl(hex('80000000000000000000000000000000'))), '00000000000000000000000000000087');
  assert.equal(toHex(dbl(hex('00000000000000000000000000000001'))), '00000000000000000000000000000002');
});

test('AES-SIV deterministic example (RFC 5297 A.1)', () => {
  const key = hex('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff');
  const ad = hex('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
  const pt = hex('11223344 55667788 99aabbcc ddee');
  const out = sivEncrypt(key, [ad], pt);
  assert.equal(toHex(out), '85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c');
  assert.deepEqual(sivDecrypt(key, [ad], out), pt);
});

test('AES-SIV nonce-based example (RFC 5297 A.2)', () => {
  const key = hex('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f');
  const ad1 = hex(
    '00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100',
  );
  const ad2 = hex('10203040 50607080 90a0');
  const nonce = hex('09f91102 9d74e35b d84156c5 635688c0');
  const pt = hex(
    '74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553',
  );
  const out = sivEncrypt(key, [ad1, ad2, nonce], pt);
  assert.equal(
    toHex(out),
    '7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d',
  );
  assert.deepEqual(sivDecrypt(key, [ad1, ad2, nonce], out), pt);
});

test('AES-SIV round-trips and rejects every single-bit change of ciphertext or associated data', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 70 }),
      fc.nat(),
      (key, ad, pt, flip) => {
        const siv = new AesSiv(key);
        const nonce = new Uint8Array(16).fill(7);
        const sealed = siv.encrypt([ad, nonce], pt);
        assert.equal(sealed.length, pt.length + 16);
        assert.deepEqual(siv.decrypt([ad, nonce], sealed), pt);
        const bad = Uint8Array.from(sealed);
        const bit = flip % (bad.length * 8);
        bad[bit >> 3] = (bad[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        assert.equal(siv.decrypt([ad, nonce], bad), null);
        if (ad.length > 0) {
          const ad2 = Uint8Array.from(ad);
          ad2[flip % ad.length] = (ad2[flip % ad.length] ?? 0) ^ 1;
          assert.equal(siv.decrypt([ad2, nonce], sealed), null);
        }
        // The associated-data vector is not a concatenation: splitting it differently must fail.
        assert.equal(siv.decrypt([ad, nonce.subarray(0, 8), nonce.subarray(8)], sealed), null);
      },
    ),
    { numRuns: 300 },
  );
  assert.equal(sivDecrypt(new Uint8Array(32), [], new Uint8Array(15)), null);
});
