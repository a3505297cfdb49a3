/**
 * NTS in the sans-IO engine (deterministic harness): an NTS client association and an NTS-serving
 * NtpSystem. The test plays the host's part of NTS-KE: it hands out keys and cookies sealed by the
 * server's jar through `setNtsSession`, as src/daemon/nts.ts does after a TLS key establishment.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { CookieJar, type NtsKeys } from '../../src/nts/cookie.js';
import { EF, NtsClientSession } from '../../src/nts/ntp.js';
import { seeded } from '../../src/sim/rng.js';
import { defaultSourceConfig } from '../../src/system/system.js';
import type { SystemEvent } from '../../src/system/types.js';
import { AEAD_AES_SIV_CMAC_256 } from '../../src/wire/crypto.js';
import { decodePacket, emptyPacket, MODE } from '../../src/wire/packet.js';
import { type FakeLab, type FakeNode, fakeLab } from '../support/fake-discipline.js';

function seededBytes(seed: number): (n: number) => Uint8Array {
  const r = seeded(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

function setup(seed: number) {
  const h = fakeLab(seed);
  const s = h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    sources: [{ ...defaultSourceConfig('10.0.0.1'), minpoll: 4, maxpoll: 6, iburst: true, nts: true }],
    discipline: { offset: 0.2 },
  });
  h.link('S', 'C', { delay: 0.002, jitter: 0.0002 });
  const rnd = seededBytes(seed);
  const jar = new CookieJar(nodeCrypto, rnd);
  s.system.setNtsServer(jar);
  const id = c.ids[0] ?? '';
  /** What NTS-KE would give the client: fresh keys and 8 cookies holding them. */
  const ke = () => {
    const keys: NtsKeys = { aead: AEAD_AES_SIV_CMAC_256, c2s: rnd(32), s2c: rnd(32) };
    const cookies = Array.from({ length: 8 }, () => jar.seal(keys));
    c.apply(c.system.setNtsSession(h.now, id, { keys, cookies, address: '10.0.0.1', port: 123 }));
  };
  h.start();
  return { h, s, c, jar, id, ke };
}

function src(c: FakeNode, h: FakeLab) {
  const x = c.system.snapshot(h.now).sources[0];
  assert.ok(x !== undefined);
  return x;
}

const keEvents = (c: FakeNode) =>
  c.events.filter((e): e is Extract<SystemEvent, { kind: 'nts-ke' }> => e.kind === 'nts-ke');

test('NTS source sends nothing without a session and asks for NTS-KE once', () => {
  const { h, c } = setup(1);
  h.runFor(60);
  assert.equal(c.sent, 0, 'no packet leaves without cookies');
  assert.deepEqual(
    keEvents(c).map((e) => e.reason),
    ['no-session'],
  );
  const x = src(c, h);
  assert.equal(x.authMethod, 'nts');
  assert.equal(x.nts?.session, false);
  assert.equal(x.reach, 0);
});

test('authenticated exchanges: reachable, synchronised, cookie pool stays full, response = request size', () => {
  const { h, s, c, ke } = setup(2);
  h.keepWire = true;
  ke();
  h.runFor(300);
  const x = src(c, h);
  assert.equal(x.auth, 'ok');
  assert.equal(x.authMethod, 'nts');
  assert.ok(x.reach !== 0);
  assert.equal(x.nts?.cookies, 8);
  assert.equal(x.nts?.authFailures, 0);
  assert.equal(c.system.snapshot(h.now).sysPeer, '10.0.0.1');
  assert.ok(Math.abs(c.error()) < 0.001, `error ${c.error()}`);
  assert.ok(s.system.ntsServer.stats.responses > 5);
  // Every request carries NTS fields; every response is authenticated and no larger than its request.
  const reqs = h.wire.filter((p) => p.from === 'C');
  const resps = h.wire.filter((p) => p.from === 'S');
  assert.ok(reqs.length > 5 && resps.length === reqs.length);
  for (const p of reqs) {
    const d = decodePacket(p.bytes);
    assert.ok(d.ok && d.packet.mode === MODE.CLIENT);
    assert.ok(d.packet.extensions.some((e) => e.type === EF.COOKIE));
  }
  const maxReq = Math.max(...reqs.map((p) => p.bytes.length));
  for (const p of resps) {
    const d = decodePacket(p.bytes);
    assert.ok(d.ok && d.packet.extensions.some((e) => e.type === EF.AUTHENTICATOR));
    assert.ok(p.bytes.length <= maxReq);
  }
});

test('tampered and unauthenticated responses are rejected with a counter and give no sample', () => {
  const { h, c, ke } = setup(3);
  ke();
  h.runFor(120);
  const before = src(c, h);
  assert.ok(before.reach !== 0);
  let tampered = 0;
  let stripped = 0;
  h.filter = (p) => {
    if (p.from !== 'S') return 'deliver';
    if (tampered <= stripped) {
      // Flip a bit of the receive timestamp: the authenticator no longer verifies.
      p.bytes[34] = (p.bytes[34] ?? 0) ^ 0x01;
      tampered++;
    } else {
      // Turn the authenticator (after header and Unique Identifier) into an unknown field: the
      // response is no longer NTS-authenticated.
      assert.equal(((p.bytes[84] ?? 0) << 8) | (p.bytes[85] ?? 0), EF.AUTHENTICATOR);
      p.bytes[84] = 0x7f;
      stripped++;
    }
    return 'deliver';
  };
  h.runFor(200);
  const x = src(c, h);
  assert.ok(tampered > 2 && stripped > 2);
  assert.ok((x.rejected['nts-auth-failed'] ?? 0) >= tampered, JSON.stringify(x.rejected));
  assert.ok((x.rejected['nts-no-authenticator'] ?? 0) >= stripped, JSON.stringify(x.rejected));
  assert.equal(x.nts?.authFailures, tampered + stripped);
  assert.equal(x.auth, 'failed');
  // Nothing was accepted: the last valid packet is the one before the tampering started.
  assert.ok(x.when !== null && x.when >= 199, `last valid packet ${x.when} s ago`);
  assert.equal(x.reach, 0, 'nothing authenticated arrived for 8 polls');
});

test('master keys rotated away: NTS NAK, session dropped, new NTS-KE, then authenticated again', () => {
  const { h, c, jar, ke } = setup(4);
  ke();
  h.runFor(100);
  assert.ok(src(c, h).reach !== 0);
  for (let i = 0; i < 3; i++) jar.rotate();
  h.runFor(100);
  const x = src(c, h);
  assert.equal(x.nts?.naks, 1);
  assert.equal(x.nts?.session, false);
  assert.equal(x.kod, 'NTSN');
  assert.deepEqual(
    keEvents(c).map((e) => e.reason),
    ['nak'],
  );
  const sentBefore = c.sent;
  h.runFor(100);
  assert.equal(c.sent, sentBefore, 'no request without a session');
  ke();
  h.runFor(100);
  const y = src(c, h);
  assert.equal(y.nts?.session, true);
  assert.equal(y.auth, 'ok');
  assert.equal(y.kod, null);
  assert.equal(y.nts?.cookies, 8);
  assert.ok((y.reach & 1) === 1);
});

test('NTS requests to a server without NTS get no answer; plain requests still do', () => {
  const { h, s, c, ke } = setup(5);
  s.system.setNtsServer(null);
  ke();
  h.runFor(100);
  assert.equal(src(c, h).reach, 0);
  assert.ok(s.system.ntsServer.stats.rejected > 0);
  assert.equal(s.system.ntsServer.stats.responses, 0);
});

test('server: an NTS response is sealed as sent (the host is not asked to rewrite its transmit timestamp)', () => {
  const { h, s, jar } = setup(6);
  h.runFor(5);
  const rnd = seededBytes(60);
  const keys: NtsKeys = { aead: AEAD_AES_SIV_CMAC_256, c2s: rnd(32), s2c: rnd(32) };
  const session = new NtsClientSession(nodeCrypto, keys, [jar.seal(keys)]);
  const base = emptyPacket();
  base.mode = MODE.CLIENT;
  base.transmitTimestamp = 0x1234n << 32n;
  const req = session.request(base, rnd);
  assert.ok(req !== null);
  const from = { address: '10.0.0.9', port: 40000 };
  const sends = s.system
    .handlePacket(h.now, req.bytes, from, { address: '10.0.0.1', port: 123 })
    .filter((a) => a.kind === 'send');
  assert.equal(sends.length, 1);
  const act = sends[0];
  assert.ok(act !== undefined && act.kind === 'send');
  assert.equal(act.transmitAt, undefined);
  assert.equal(act.bytes.length, req.bytes.length, 'one cookie for one: as long as the request');
  const v = session.response(act.bytes, req);
  assert.ok(v.ok, v.ok ? '' : v.code);
  assert.equal(v.packet.originTimestamp, base.transmitTimestamp);
  // The same request with a forgotten cookie key: an NTS NAK echoing the Unique Identifier.
  for (let i = 0; i < 3; i++) jar.rotate();
  const nak = s.system.handlePacket(h.now, req.bytes, from).find((a) => a.kind === 'send');
  assert.ok(nak !== undefined && nak.kind === 'send');
  const n = session.response(nak.bytes, req);
  assert.ok(!n.ok && n.code === 'NTS_NAK', JSON.stringify(n));
  assert.ok(nak.bytes.length < req.bytes.length);
});
