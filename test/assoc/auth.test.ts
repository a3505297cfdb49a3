/**
 * Symmetric-key authentication in the engine with AES-CMAC keys (RFC 8573): a client association's
 * requests carry a 16-byte CMAC and its replies must verify; the server answers an authenticated
 * request signed with the same key, and a failed one with a crypto-NAK, counted by reason; a key
 * the provider cannot compute stops the engine from starting instead of going out unsigned.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyRing, verifyAuth } from '../../src/assoc/util.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { seeded } from '../../src/sim/rng.js';
import { defaultSourceConfig, defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import type { Action, SymmetricKey } from '../../src/system/types.js';
import type { CryptoProvider } from '../../src/wire/crypto.js';
import { macKey, signPacket, verifyPacketMac, withCryptoNak } from '../../src/wire/mac.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { FakeDiscipline } from '../support/fake-discipline.js';

const AES128: SymmetricKey = { id: 9, type: 'AES128CMAC', key: new Uint8Array(16).map((_, i) => i) };
const AES256: SymmetricKey = { id: 10, type: 'AES256CMAC', key: new Uint8Array(32).map((_, i) => 255 - i) };
const SERVER = { address: '192.0.2.1', port: 123 };
const CLIENT = { address: '192.0.2.50', port: 40123 };
const LOCAL = { address: '192.0.2.99', port: 123 };

function engine(keys: SymmetricKey[], crypto: CryptoProvider = nodeCrypto): NtpSystem {
  return new NtpSystem(
    { ...defaultSystemConfig(), keys, localStratum: 3 },
    { discipline: new FakeDiscipline({ poll: 6 }), random: seeded(5), crypto },
  );
}

function sent(acts: Action[]): NtpPacket[] {
  const out: NtpPacket[] = [];
  for (const a of acts)
    if (a.kind === 'send') {
      const d = decodePacket(a.bytes);
      assert.ok(d.ok);
      assert.equal(a.bytes.length, 48 + (d.packet.mac === null ? 0 : 4 + d.packet.mac.digest.length));
      out.push(d.packet);
    }
  return out;
}

test('a client association with an AES128CMAC key signs its requests with a 16-byte CMAC', () => {
  for (const k of [AES128, AES256]) {
    const sys = engine([k]);
    sys.addSource(0n, { ...defaultSourceConfig(SERVER.address), key: k.id, iburst: true });
    let reqs = sent(sys.start(0n));
    for (let t = 1n; reqs.length === 0 && t < 100n; t++) reqs = sent(sys.handleTimer(t * 1_000_000_000n));
    const req = reqs[0];
    assert.ok(req !== undefined, 'a request went out');
    assert.equal(req.mac?.keyId, k.id);
    assert.equal(req.mac?.digest.length, 16);
    assert.equal(verifyPacketMac(req, macKey(nodeCrypto, k.type, k.key)), 'ok');
  }
});

test('server: an AES-CMAC request is answered signed with the same key; failures get a crypto-NAK, by reason', () => {
  const sys = engine([AES128, AES256]);
  const base: NtpPacket = { ...emptyPacket(), mode: MODE.CLIENT, transmitTimestamp: 0xe100_0000_0000_0001n };
  const ask = (p: NtpPacket) => {
    const replies = sent(sys.handlePacket(1_000_000_000n, encodePacket(p), CLIENT, LOCAL));
    assert.equal(replies.length, 1);
    return replies[0] as NtpPacket;
  };
  for (const k of [AES128, AES256]) {
    const mk = macKey(nodeCrypto, k.type, k.key);
    const r = ask(signPacket(base, k.id, mk));
    assert.equal(r.mode, MODE.SERVER);
    assert.equal(r.mac?.keyId, k.id);
    assert.equal(verifyPacketMac(r, mk), 'ok');
  }
  const wrong = macKey(nodeCrypto, 'AES128CMAC', new Uint8Array(16).fill(7));
  const nak1 = ask(signPacket(base, AES128.id, wrong));
  assert.equal(nak1.mac?.keyId, 0);
  assert.equal(nak1.mac?.digest.length, 0);
  ask(signPacket(base, 77, wrong)); // a key ID the server does not hold
  ask(withCryptoNak(base, 5));
  ask(signPacket(base, AES128.id, wrong));
  assert.deepEqual(sys.server.authFailuresByReason, { 'bad-mac': 2, 'unknown-key': 1, 'crypto-nak': 1 });
  assert.equal(sys.server.authFailures, 4);
});

test('a key the provider cannot compute stops the engine; the key ring never signs with it', () => {
  const noCmac: CryptoProvider = { ...nodeCrypto, name: 'no-cmac', supports: (a) => !a.endsWith('CMAC') };
  assert.throws(() => engine([AES128], noCmac), /key 9 \(AES128CMAC\): not available in no-cmac/);
  const ring = new KeyRing([AES128], noCmac);
  assert.equal(ring.macKey(AES128.id), null);
  const signed = signPacket(emptyPacket(), AES128.id, macKey(nodeCrypto, 'AES128CMAC', AES128.key));
  assert.equal(verifyAuth(signed, ring, undefined), 'unsupported-key');
  assert.equal(verifyAuth(signed, new KeyRing([AES128], nodeCrypto), undefined), 'ok');
  assert.equal(verifyAuth(signed, new KeyRing([AES128], nodeCrypto), 3), 'wrong-key-id');
  assert.equal(verifyAuth(emptyPacket(), ring, 9), 'missing');
});
