/**
 * The server responder (RFC 5905 section 9.2 fast_xmit; RFC 9769 section 3 interleaved server),
 * kiss-o'-death responses and the no-amplification rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildKissResponse,
  InterleavedTable,
  ServerResponder,
  type ServerState,
} from '../../src/assoc/server.js';
import { KeyRing } from '../../src/assoc/util.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { seeded } from '../../src/sim/rng.js';
import { defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import { kissCode } from '../../src/wire/kiss.js';
import { macKey, signPacket, verifyPacketMac } from '../../src/wire/mac.js';
import {
  decodePacket,
  emptyPacket,
  encodePacket,
  makeExtension,
  type NtpPacket,
} from '../../src/wire/packet.js';
import { refidFromString } from '../../src/wire/refid.js';
import { FakeDiscipline } from '../support/fake-discipline.js';

const KEY = { id: 3, type: 'MD5' as const, key: new TextEncoder().encode('md5-key') };
const RING = new KeyRing([KEY], nodeCrypto);
const NO_KEYS = new KeyRing([], nodeCrypto);
const CLIENT = { address: '198.51.100.7', port: 40123 };

const state: ServerState = {
  leap: 0,
  stratum: 2,
  precision: -23,
  rootDelay: 0x0000_0400,
  rootDispersion: 0x0000_0200,
  referenceId: 0xc0000201,
  referenceTimestamp: 0xe000_0000_0000_0000n,
};

function request(over: Partial<NtpPacket> = {}): NtpPacket {
  return { ...emptyPacket(), mode: 3, poll: 6, transmitTimestamp: 0xe100_0000_1234_5678n, ...over };
}

test('9.2: a mode 3 request gets a mode 4 response with our system variables', () => {
  const srv = new ServerResponder(16);
  const req = request();
  const r = srv.respond(
    req,
    48,
    CLIENT.address,
    0xe100_0001_0000_0000n,
    0xe100_0001_0000_1000n,
    state,
    NO_KEYS,
  );
  const p = r.packet;
  assert.equal(p.mode, 4);
  assert.equal(p.version, 4);
  assert.equal(p.stratum, 2);
  assert.equal(p.leap, 0);
  assert.equal(p.poll, 6);
  assert.equal(p.precision, -23);
  assert.equal(p.rootDelay, state.rootDelay);
  assert.equal(p.rootDispersion, state.rootDispersion);
  assert.equal(p.referenceId, state.referenceId);
  assert.equal(p.referenceTimestamp, state.referenceTimestamp);
  assert.equal(p.originTimestamp, req.transmitTimestamp);
  assert.equal(p.receiveTimestamp, 0xe100_0001_0000_0000n);
  assert.equal(p.transmitTimestamp, 0xe100_0001_0000_1000n);
  assert.equal(r.interleaved, false);
  assert.equal(r.bytes.length, 48);
});

test('9.2: unsynchronised server answers leap 3 and stratum 0 (16 on the wire is 0)', () => {
  const srv = new ServerResponder(4);
  const r = srv.respond(request(), 48, CLIENT.address, 5n, 6n, { ...state, stratum: 16, leap: 0 }, NO_KEYS);
  assert.equal(r.packet.leap, 3);
  assert.equal(r.packet.stratum, 0);
});

test('9.2: version is echoed (NTPv3 request → v3 answer); a mode 1 request is answered in mode 2', () => {
  const srv = new ServerResponder(4);
  assert.equal(
    srv.respond(request({ version: 3 }), 48, CLIENT.address, 5n, 6n, state, NO_KEYS).packet.version,
    3,
  );
  const r = srv.respond(request({ mode: 1 }), 48, CLIENT.address, 5n, 6n, state, NO_KEYS);
  assert.equal(r.packet.mode, 2);
  assert.equal(r.slot, -1);
});

test('RFC 9769 3: interleaved response carries the precise transmit time of the previous response', () => {
  const srv = new ServerResponder(8);
  const r1 = srv.respond(request(), 48, CLIENT.address, 1000n, 1001n, state, NO_KEYS);
  srv.transmitted(r1.slot, r1.rx, 1005n);
  // The client asks for interleaved: origin = our receive timestamp, receive = its own receive time.
  const req2 = request({ originTimestamp: 1000n, receiveTimestamp: 777n, transmitTimestamp: 888n });
  const r2 = srv.respond(req2, 48, CLIENT.address, 2000n, 2001n, state, NO_KEYS);
  assert.equal(r2.interleaved, true);
  assert.equal(r2.packet.originTimestamp, 777n);
  assert.equal(r2.packet.receiveTimestamp, 2000n);
  assert.equal(r2.packet.transmitTimestamp, 1005n);
  // Another client echoing the same timestamp gets a basic answer.
  const r3 = srv.respond(req2, 48, '203.0.113.9', 3000n, 3001n, state, NO_KEYS);
  assert.equal(r3.interleaved, false);
  assert.equal(r3.packet.originTimestamp, 888n);
  assert.equal(srv.interleavedResponses, 1);
});

test('RFC 9769 3: without a precise transmit timestamp (or after eviction) the answer is basic', () => {
  const srv = new ServerResponder(2);
  srv.respond(request(), 48, CLIENT.address, 1000n, 1001n, state, NO_KEYS);
  const noTx = srv.respond(
    request({ originTimestamp: 1000n, receiveTimestamp: 5n }),
    48,
    CLIENT.address,
    2000n,
    2001n,
    state,
    NO_KEYS,
  );
  assert.equal(noTx.interleaved, false);
  const t = new InterleavedTable(2);
  const s1 = t.save('a', 10n);
  t.setTx(s1, 10n, 11n);
  assert.ok(t.lookup('a', 10n) !== null);
  t.save('b', 20n);
  t.save('c', 30n); // evicts a
  assert.equal(t.lookup('a', 10n), null);
  assert.equal(t.count(), 2);
});

test('interleaved table memory is fixed by its size (property over many clients)', () => {
  const t = new InterleavedTable(32);
  for (let i = 0; i < 10_000; i++) {
    const slot = t.save(`10.0.${i >> 8}.${i & 255}`, BigInt(i + 1));
    t.setTx(slot, BigInt(i + 1), BigInt(i + 2));
    assert.ok(t.count() <= 32);
  }
  assert.ok(t.lookup('10.0.39.15', 10_000n) !== null);
  assert.equal(t.lookup('10.0.0.1', 2n), null);
});

test("7.4: buildKissResponse makes a RATE/DENY/RSTR kiss with the client's transmit timestamp", () => {
  for (const code of ['RATE', 'DENY', 'RSTR'] as const) {
    const req = request();
    const k = buildKissResponse(req, code, state);
    assert.equal(k.mode, 4);
    assert.equal(k.stratum, 0);
    assert.equal(k.leap, 3);
    assert.equal(kissCode(k), code);
    assert.equal(k.referenceId, refidFromString(code));
    assert.equal(k.originTimestamp, req.transmitTimestamp);
    assert.equal(k.mac, null);
    assert.ok(encodePacket(k).length <= encodePacket(req).length);
  }
  assert.equal(buildKissResponse(request({ mode: 1 }), 'RATE', state).mode, 2);
});

test('no amplification: extension fields are not echoed; unknown key → 4-byte crypto-NAK', () => {
  const srv = new ServerResponder(4);
  const withExt = request({ extensions: [makeExtension(0x0104, new Uint8Array(32))] });
  const extBytes = encodePacket(withExt);
  const r = srv.respond(withExt, extBytes.length, CLIENT.address, 5n, 6n, state, NO_KEYS);
  assert.equal(r.bytes.length, 48);
  const signed = signPacket(request(), 99, macKey(nodeCrypto, 'MD5', new TextEncoder().encode('unknown')));
  const sb = encodePacket(signed);
  const nak = srv.respond(signed, sb.length, CLIENT.address, 5n, 6n, state, RING);
  assert.equal(nak.auth, 'failed');
  assert.equal(nak.bytes.length, 52);
  assert.ok(nak.bytes.length <= sb.length);
});

test('authenticated request with a known key gets a response signed with the same key', () => {
  const srv = new ServerResponder(4);
  const signed = signPacket(request(), KEY.id, macKey(nodeCrypto, 'MD5', KEY.key));
  const sb = encodePacket(signed);
  const r = srv.respond(signed, sb.length, CLIENT.address, 5n, 6n, state, RING);
  assert.equal(r.auth, 'ok');
  const d = decodePacket(r.bytes);
  assert.ok(d.ok);
  assert.equal(d.packet.mac?.keyId, KEY.id);
  assert.equal(verifyPacketMac(d.packet, macKey(nodeCrypto, 'MD5', KEY.key)), 'ok');
});

test('NtpSystem.handlePacket answers mode 3, asks for the precise transmit time only when interleaving is asked, and serves local stratum', () => {
  const d = new FakeDiscipline();
  const sys = new NtpSystem(
    { ...defaultSystemConfig(), localStratum: 3 },
    { discipline: d, random: seeded(1), crypto: nodeCrypto },
  );
  const acts = sys.handlePacket(5_000_000_000n, encodePacket(request()), CLIENT, {
    address: '192.0.2.1',
    port: 123,
  });
  const send = acts.find((a) => a.kind === 'send');
  assert.ok(send !== undefined && send.kind === 'send');
  assert.deepEqual(send.to, CLIENT);
  assert.deepEqual(send.from, { address: '192.0.2.1', port: 123 });
  // A basic request: no precise transmit time wanted; the host refreshes the transmit timestamp.
  assert.equal(send.txId, undefined);
  assert.equal(send.transmitAt, 40);
  const p = decodePacket(send.bytes);
  assert.ok(p.ok);
  // A request whose origin is our receive timestamp asks for interleaved mode: the precise
  // transmit time of this response will be needed for the next one.
  const again = sys.handlePacket(
    6_000_000_000n,
    encodePacket({ ...request(), originTimestamp: p.packet.receiveTimestamp, receiveTimestamp: 77n }),
    CLIENT,
  );
  const send2 = again.find((a) => a.kind === 'send');
  assert.ok(send2 !== undefined && send2.kind === 'send' && send2.txId !== undefined);
  assert.equal(p.packet.stratum, 3);
  assert.equal(kissCode(p.packet), null);
  assert.equal(p.packet.referenceId, refidFromString('LOCL'));
  assert.equal(p.packet.receiveTimestamp, d.clock.read(5_000_000_000n) & ((1n << 64n) - 1n));
  // Malformed input never throws.
  assert.doesNotThrow(() => sys.handlePacket(1n, new Uint8Array(7), CLIENT));
  // Mode 4 from nobody is rejected with an event.
  const stray = sys.handlePacket(1n, encodePacket({ ...request(), mode: 4 }), CLIENT);
  assert.ok(stray.some((a) => a.kind === 'event' && a.event.kind === 'reject'));
});
