/**
 * Digests through the node:crypto provider (RFC 1321 and FIPS 180 known answers) and the NTP MAC
 * constructions on top of it (src/wire/mac.ts): H(key || packet) for digest keys, AES-CMAC for
 * RFC 8573 keys, NTPv3 fallback and truncation for SHA-256, crypto-NAKs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkAuth, KeyRing, sign } from '../../src/assoc/util.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import type { SymmetricKey } from '../../src/system/types.js';
import type { DigestAlgorithm } from '../../src/wire/crypto.js';
import { fromHex, toHex } from '../../src/wire/hex.js';
import {
  computeMac,
  MAC_LENGTH,
  type MacAlgorithm,
  macKey,
  signPacket,
  verifyMac,
  verifyPacketMac,
  withCryptoNak,
} from '../../src/wire/mac.js';
import { decodePacket, emptyPacket, encodePacket, macInput, makeExtension } from '../../src/wire/packet.js';

const enc = new TextEncoder();
const d = (alg: DigestAlgorithm, s: string | Uint8Array) =>
  toHex(nodeCrypto.digest(alg, typeof s === 'string' ? enc.encode(s) : s));

test('MD5 known answers (RFC 1321 appendix A.5 test suite)', () => {
  const suite: Array<[string, string]> = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    [
      '12345678901234567890123456789012345678901234567890123456789012345678901234567890',
      '57edf4a22be3c955ac49da2e2107b67a',
    ],
  ];
  for (const [m, h] of suite) assert.equal(d('MD5', m), h, JSON.stringify(m));
});

test('SHA-1 and SHA-256 known answers (FIPS 180 examples, RFC 3174 / RFC 6234 test cases)', () => {
  const two = 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq';
  assert.equal(d('SHA1', 'abc'), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(d('SHA1', two), '84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  assert.equal(d('SHA1', 'a'.repeat(1_000_000)), '34aa973cd4c4daa4f61eeb2bdbad27316534016f');
  assert.equal(d('SHA256', 'abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(d('SHA256', two), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  assert.equal(
    d('SHA256', 'a'.repeat(1_000_000)),
    'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
  );
  assert.equal(d('SHA256', ''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('digest of several parts is the digest of their concatenation', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 90 }), { maxLength: 4 }),
      fc.constantFrom<DigestAlgorithm>('MD5', 'SHA1', 'SHA256'),
      (parts, alg) => {
        const h = createHash(alg === 'SHA1' ? 'sha1' : alg.toLowerCase());
        for (const p of parts) h.update(p);
        assert.equal(toHex(nodeCrypto.digest(alg, ...parts)), h.digest('hex'));
      },
    ),
    { numRuns: 300 },
  );
});

test('legacy MAC = H(key || packet) as ntpd and chrony compute it', () => {
  const key = enc.encode('secret-key');
  const p = { ...emptyPacket(), mode: 3, transmitTimestamp: 0xeeac32c6e22d26a5n };
  const bytes = encodePacket(p);
  for (const [alg, name] of [
    ['MD5', 'md5'],
    ['SHA1', 'sha1'],
  ] as const) {
    const k = macKey(nodeCrypto, alg, key);
    const expect = createHash(name).update(key).update(bytes).digest('hex');
    assert.equal(toHex(computeMac(k, bytes)), expect);
    const signed = signPacket(p, 7, k);
    const wire = encodePacket(signed);
    assert.equal(wire.length, 48 + 4 + (alg === 'MD5' ? 16 : 20));
    const back = decodePacket(wire);
    assert.ok(back.ok);
    assert.equal(back.packet.mac?.keyId, 7);
    assert.equal(verifyPacketMac(back.packet, k), 'ok');
    assert.equal(verifyPacketMac(back.packet, macKey(nodeCrypto, alg, enc.encode('other'))), 'bad-digest');
    wire[40] = (wire[40] ?? 0) ^ 1;
    const bad = decodePacket(wire);
    assert.ok(bad.ok);
    assert.equal(verifyPacketMac(bad.packet, k), 'bad-digest');
  }
});

test('AES-CMAC MAC (RFC 8573): 16 bytes of CMAC(key, packet), NTPv4, for AES-128 and AES-256 keys', () => {
  const p = { ...emptyPacket(), mode: 3, transmitTimestamp: 0xeeac32c6e22d26a5n };
  for (const [type, len] of [
    ['AES128CMAC', 16],
    ['AES256CMAC', 32],
  ] as const) {
    const raw = new Uint8Array(len).map((_, i) => i * 3 + 1);
    const k = macKey(nodeCrypto, type, raw);
    const signed = signPacket(p, 9, k);
    assert.equal(signed.version, 4);
    const wire = encodePacket(signed);
    assert.equal(wire.length, 48 + 4 + 16);
    // The MAC is the CMAC of the 48 header bytes alone (the key is not prepended, unlike digests).
    const cmac = nodeCrypto.cmac(type === 'AES128CMAC' ? 'AES128' : 'AES256', raw);
    assert.equal(toHex(wire.subarray(52)), toHex(cmac.mac(wire.subarray(0, 48))));
    const back = decodePacket(wire);
    assert.ok(back.ok);
    assert.equal(verifyPacketMac(back.packet, k), 'ok');
    const other = Uint8Array.from(raw);
    other[0] = (other[0] ?? 0) ^ 0x80;
    assert.equal(verifyPacketMac(back.packet, macKey(nodeCrypto, type, other)), 'bad-digest');
    wire[47] = (wire[47] ?? 0) ^ 1;
    const bad = decodePacket(wire);
    assert.ok(bad.ok);
    assert.equal(verifyPacketMac(bad.packet, k), 'bad-digest');
  }
  assert.throws(() => macKey(nodeCrypto, 'AES128CMAC', new Uint8Array(20)), RangeError);
});

test('SHA-256: NTPv3 with the full digest by default (as chrony), truncated to 20 bytes on request', () => {
  const key = macKey(nodeCrypto, 'SHA256', fromHex('00112233445566778899aabbccddeeff'));
  const p = { ...emptyPacket(), mode: 3 };
  const v3 = signPacket(p, 3, key);
  assert.equal(v3.version, 3);
  assert.equal(v3.mac?.digest.length, 32);
  assert.equal(verifyPacketMac(v3, key), 'ok');
  const t = signPacket(p, 3, key, { truncate: true });
  assert.equal(t.version, 4);
  assert.equal(t.mac?.digest.length, 20);
  assert.equal(verifyPacketMac(t, key), 'ok');
  const withExt = signPacket({ ...p, extensions: [makeExtension(1, new Uint8Array(12))] }, 3, key);
  assert.equal(withExt.version, 4);
  assert.equal(withExt.mac?.digest.length, 20);
  assert.ok(decodePacket(encodePacket(withExt)).ok);
});

test('short or empty MACs never verify; crypto-NAK is reported as such', () => {
  const key = macKey(nodeCrypto, 'MD5', enc.encode('k'));
  const bytes = macInput(emptyPacket());
  const full = computeMac(key, bytes);
  assert.ok(verifyMac(key, bytes, full));
  assert.ok(!verifyMac(key, bytes, full.slice(0, 8)));
  assert.ok(!verifyMac(key, bytes, new Uint8Array(0)));
  assert.equal(verifyPacketMac(withCryptoNak(emptyPacket()), key), 'crypto-nak');
  assert.equal(verifyPacketMac(emptyPacket(), key), 'missing');
});

test('KeyRing: sign and check per key type; a wrong key, a missing key and an unusable type fail', () => {
  const types: Array<[MacAlgorithm, number]> = [
    ['MD5', 16],
    ['SHA1', 20],
    ['SHA256', 32],
    ['AES128CMAC', 16],
    ['AES256CMAC', 32],
  ];
  const keys: SymmetricKey[] = types.map(([type, n], i) => ({
    id: i + 1,
    type,
    key: new Uint8Array(n).fill(i + 1),
  }));
  const ring = new KeyRing(keys, nodeCrypto);
  const wrong = new KeyRing(
    keys.map((k) => ({ ...k, key: k.key.map((x) => x ^ 0xff) })),
    nodeCrypto,
  );
  const p = { ...emptyPacket(), mode: 3 };
  for (const k of keys) {
    const s = sign(p, ring, k.id);
    assert.ok(s !== null);
    assert.equal(s.mac?.digest.length, MAC_LENGTH[k.type], k.type);
    const d = decodePacket(encodePacket(s));
    assert.ok(d.ok);
    assert.equal(checkAuth(d.packet, ring, k.id), 'ok', k.type);
    assert.equal(checkAuth(d.packet, ring, undefined), 'ok', k.type);
    assert.equal(checkAuth(d.packet, wrong, k.id), 'failed', `${k.type} with the wrong key`);
    assert.equal(checkAuth(d.packet, ring, k.id === 1 ? 2 : 1), 'failed', 'another key ID required');
  }
  assert.equal(sign(p, ring, 99), null, 'a missing key signs nothing');
  assert.equal(sign(p, ring, undefined), p);
  assert.equal(checkAuth(p, ring, undefined), 'none');
  assert.equal(checkAuth(p, ring, 1), 'failed');
  // A provider without MD5 (a FIPS OpenSSL): the MD5 key is reported unusable and never signs.
  const noMd5 = { ...nodeCrypto, supports: (a: Parameters<typeof nodeCrypto.supports>[0]) => a !== 'MD5' };
  const limited = new KeyRing(keys, noMd5);
  assert.deepEqual(
    limited.unsupported().map((k) => k.id),
    [1],
  );
  assert.equal(sign(p, limited, 1), null);
  assert.ok(sign(p, limited, 2) !== null);
});

test('hex helpers', () => {
  assert.deepEqual(fromHex('00 ff 10'), new Uint8Array([0, 255, 16]));
  assert.equal(toHex(new Uint8Array([0, 255, 16])), '00ff10');
  assert.throws(() => fromHex('abc'));
  assert.throws(() => fromHex('zz'));
});
