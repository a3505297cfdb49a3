import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { type DigestAlgorithm, digest, fromHex, md5, sha1, sha256, toHex } from '../../src/wire/digest.js';
import {
  computeMac,
  equalBytes,
  signPacket,
  verifyMac,
  verifyPacketMac,
  withCryptoNak,
} from '../../src/wire/mac.js';
import { decodePacket, emptyPacket, encodePacket, macInput, makeExtension } from '../../src/wire/packet.js';

const enc = new TextEncoder();

test('known answers (RFC 1321, FIPS 180 examples)', () => {
  assert.equal(toHex(md5(new Uint8Array(0))), 'd41d8cd98f00b204e9800998ecf8427e');
  assert.equal(toHex(md5(enc.encode('abc'))), '900150983cd24fb0d6963f7d28e17f72');
  assert.equal(toHex(sha1(enc.encode('abc'))), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(
    toHex(sha256(enc.encode('abc'))),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

test('pure digests match node:crypto for random inputs of every length around block edges', () => {
  const node: Record<DigestAlgorithm, string> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256' };
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom<DigestAlgorithm>('MD5', 'SHA1', 'SHA256'),
      (b, alg) => {
        assert.equal(toHex(digest(alg, b)), createHash(node[alg]).update(b).digest('hex'));
      },
    ),
    { numRuns: 1500 },
  );
  for (let n = 50; n < 140; n++) {
    const b = new Uint8Array(n).map((_, i) => i * 7);
    for (const alg of ['MD5', 'SHA1', 'SHA256'] as const) {
      assert.equal(toHex(digest(alg, b)), createHash(node[alg]).update(b).digest('hex'), `${alg} ${n}`);
    }
  }
});

test('legacy MAC = H(key || packet) as ntpd and chrony compute it', () => {
  const key = enc.encode('secret-key');
  const p = { ...emptyPacket(), mode: 3, transmitTimestamp: 0xeeac32c6e22d26a5n };
  const bytes = encodePacket(p);
  for (const [alg, name] of [
    ['MD5', 'md5'],
    ['SHA1', 'sha1'],
  ] as const) {
    const expect = createHash(name).update(key).update(bytes).digest('hex');
    assert.equal(toHex(computeMac(alg, key, bytes)), expect);
    const signed = signPacket(p, 7, alg, key);
    const wire = encodePacket(signed);
    assert.equal(wire.length, 48 + 4 + (alg === 'MD5' ? 16 : 20));
    const back = decodePacket(wire);
    assert.ok(back.ok);
    assert.equal(back.packet.mac?.keyId, 7);
    assert.equal(verifyPacketMac(back.packet, alg, key), 'ok');
    assert.equal(verifyPacketMac(back.packet, alg, enc.encode('other')), 'bad-digest');
    wire[40] = (wire[40] ?? 0) ^ 1;
    const bad = decodePacket(wire);
    assert.ok(bad.ok);
    assert.equal(verifyPacketMac(bad.packet, alg, key), 'bad-digest');
  }
});

test('SHA-256: NTPv3 with the full digest by default (as chrony), truncated to 20 bytes on request', () => {
  const key = fromHex('00112233445566778899aabbccddeeff');
  const p = { ...emptyPacket(), mode: 3 };
  const v3 = signPacket(p, 3, 'SHA256', key);
  assert.equal(v3.version, 3);
  assert.equal(v3.mac?.digest.length, 32);
  assert.equal(verifyPacketMac(v3, 'SHA256', key), 'ok');
  const t = signPacket(p, 3, 'SHA256', key, { truncate: true });
  assert.equal(t.version, 4);
  assert.equal(t.mac?.digest.length, 20);
  assert.equal(verifyPacketMac(t, 'SHA256', key), 'ok');
  const withExt = signPacket({ ...p, extensions: [makeExtension(1, new Uint8Array(12))] }, 3, 'SHA256', key);
  assert.equal(withExt.version, 4);
  assert.equal(withExt.mac?.digest.length, 20);
  assert.ok(decodePacket(encodePacket(withExt)).ok);
});

test('short or empty MACs never verify; crypto-NAK is reported as such', () => {
  const key = enc.encode('k');
  const bytes = macInput(emptyPacket());
  const full = computeMac('MD5', key, bytes);
  assert.ok(verifyMac('MD5', key, bytes, full));
  assert.ok(!verifyMac('MD5', key, bytes, full.slice(0, 8)));
  assert.ok(!verifyMac('MD5', key, bytes, new Uint8Array(0)));
  assert.equal(verifyPacketMac(withCryptoNak(emptyPacket()), 'MD5', key), 'crypto-nak');
  assert.equal(verifyPacketMac(emptyPacket(), 'MD5', key), 'missing');
  assert.ok(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.ok(!equalBytes(new Uint8Array([1]), new Uint8Array([1, 0])));
});

test('hex helpers', () => {
  assert.deepEqual(fromHex('00 ff 10'), new Uint8Array([0, 255, 16]));
  assert.throws(() => fromHex('abc'));
  assert.throws(() => fromHex('zz'));
});
