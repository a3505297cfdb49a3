import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { EF } from '../../src/nts/ntp.js';
import type { Answer } from '../../src/serve/answer.js';
import { buildKod, NtpServer, type ServeDecision, type ServeEngine } from '../../src/serve/server.js';
import { Rng } from '../../src/sim/rng.js';
import { defaultSourceConfig, defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import type { SymmetricKey, SystemConfig } from '../../src/system/types.js';
import { kissCode } from '../../src/wire/kiss.js';
import { macKey, signPacket } from '../../src/wire/mac.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { FakeDiscipline } from '../support/fake-discipline.js';

const S = 1_000_000_000n;
const LOCAL = { address: '192.0.2.1', port: 123 };
const INSIDE = { address: '192.0.2.50', port: 40123 };
const OUTSIDE = { address: '198.51.100.7', port: 40123 };
const MD5: SymmetricKey = { id: 5, type: 'MD5', key: new TextEncoder().encode('secret-md5-key') };

function engine(over: Partial<SystemConfig> = {}): NtpSystem {
  const rng = new Rng(1);
  return new NtpSystem(
    { ...defaultSystemConfig(), localStratum: 3, ...over },
    { discipline: new FakeDiscipline(), random: () => rng.next(), crypto: nodeCrypto },
  );
}

function packet(mode: number, over: Partial<NtpPacket> = {}): NtpPacket {
  return { ...emptyPacket(), mode, poll: 6, transmitTimestamp: 0xe100_0000_1234_5678n, ...over };
}

function bytesOf(mode: number, over: Partial<NtpPacket> = {}): Uint8Array {
  return encodePacket(packet(mode, over));
}

/** A mode 6 (ntpq) read-variables request: a 12-byte header. */
function mode6(): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = (2 << 3) | 6;
  b[1] = 2;
  b[3] = 1;
  return b;
}

function reply(d: ServeDecision): NtpPacket {
  assert.ok(d.kind === 'respond' || d.kind === 'kod', `a reply, got ${JSON.stringify(d)}`);
  const p = decodePacket(d.bytes);
  assert.ok(p.ok);
  return p.packet;
}

test('the access list covers every mode a stranger can send: 1, 3, 5, 6 and 7 are refused and counted', () => {
  const sys = engine({ broadcastClient: true, requireAuthForMobilise: false });
  const srv = new NtpServer(sys, { allow: ['192.0.2.0/24'], random: () => 0.5 });
  const modes: [string, Uint8Array][] = [
    ['mode 1', bytesOf(MODE.SYMMETRIC_ACTIVE)],
    ['mode 3', bytesOf(MODE.CLIENT)],
    ['mode 5', bytesOf(MODE.BROADCAST)],
    ['mode 6', mode6()],
    ['mode 7', bytesOf(MODE.PRIVATE)],
  ];
  for (const [name, b] of modes)
    assert.deepEqual(srv.serve(b, OUTSIDE, LOCAL, S), { kind: 'ignore', reason: 'denied' }, name);
  const st = srv.stats();
  assert.equal(st.denied, 5);
  assert.equal(st.invalid.denied, 5);
  assert.equal(st.responses, 0);
  // The same datagrams from inside the list.
  const m1 = srv.serve(bytesOf(MODE.SYMMETRIC_ACTIVE), INSIDE, LOCAL, 2n * S);
  assert.equal(reply(m1).mode, MODE.SYMMETRIC_PASSIVE, 'mode 1 without association: stateless mode 2');
  assert.equal(reply(srv.serve(bytesOf(MODE.CLIENT), INSIDE, LOCAL, 2n * S)).mode, MODE.SERVER);
  assert.deepEqual(srv.serve(bytesOf(MODE.BROADCAST), INSIDE, LOCAL, 2n * S), {
    kind: 'forward',
    to: 'association',
  });
  assert.deepEqual(srv.serve(mode6(), INSIDE, LOCAL, 2n * S), { kind: 'forward', to: 'control' });
  assert.deepEqual(srv.serve(bytesOf(MODE.PRIVATE), INSIDE, LOCAL, 2n * S), {
    kind: 'ignore',
    reason: 'mode-7',
  });
  assert.equal(srv.stats().responses, 2);
});

test('replies to our own requests (modes 2 and 4) go to the associations, which check them', () => {
  const srv = new NtpServer(engine(), { allow: ['192.0.2.0/24'], random: () => 0.5 });
  for (const mode of [MODE.SYMMETRIC_PASSIVE, MODE.SERVER])
    assert.deepEqual(srv.serve(bytesOf(mode), OUTSIDE, LOCAL, S), { kind: 'forward', to: 'association' });
  assert.deepEqual(srv.serve(bytesOf(0), INSIDE, LOCAL, S), { kind: 'ignore', reason: 'bad-mode' });
  assert.deepEqual(srv.serve(new Uint8Array(20), INSIDE, LOCAL, S), { kind: 'ignore', reason: 'short' });
});

test('a configured peer is not subject to the access list; passive mobilisation is', () => {
  const sys = engine({ allowPassive: true, requireAuthForMobilise: false });
  sys.addSource(0n, defaultSourceConfig(OUTSIDE.address, OUTSIDE.port, 'peer'));
  const srv = new NtpServer(sys, { deny: ['198.51.100.0/24', '203.0.113.0/24'], random: () => 0.5 });
  assert.deepEqual(srv.serve(bytesOf(MODE.SYMMETRIC_ACTIVE), OUTSIDE, LOCAL, S), {
    kind: 'forward',
    to: 'association',
  });
  const stranger = { address: '203.0.113.9', port: 123 };
  assert.deepEqual(srv.serve(bytesOf(MODE.SYMMETRIC_ACTIVE), stranger, LOCAL, S), {
    kind: 'ignore',
    reason: 'denied',
  });
  assert.deepEqual(srv.serve(bytesOf(MODE.SYMMETRIC_ACTIVE), INSIDE, LOCAL, S), {
    kind: 'forward',
    to: 'association',
  });
});

test('rate limiting: a burst, then a KoD RATE no longer than the request, then silence; leak asks the injected source', () => {
  const draws: number[] = [];
  const srv = new NtpServer(engine(), {
    rateLimit: { interval: 3, burst: 2, leak: 1, kod: true },
    random: () => {
      draws.push(0);
      return 0.75;
    },
  });
  const req = bytesOf(MODE.CLIENT);
  const got = [0, 1, 2, 3].map((i) => srv.serve(req, INSIDE, LOCAL, S + BigInt(i) * 1000n));
  assert.equal(got[0]?.kind, 'respond');
  assert.equal(got[1]?.kind, 'respond');
  const kod = got[2];
  assert.ok(kod?.kind === 'kod');
  assert.equal(kod.code, 'RATE');
  assert.ok(kod.bytes.length <= req.length);
  assert.equal(kissCode(reply(kod)), 'RATE');
  assert.deepEqual(got[3], { kind: 'ignore', reason: 'rate-kod-limit' });
  assert.equal(draws.length, 2, 'each limited request drew from the injected random source');
  const st = srv.stats();
  assert.equal(st.kodSent, 1);
  assert.equal(st.rateLimited, 2);
  // A source that says "leak" serves a limited request.
  const leaky = new NtpServer(engine(), {
    rateLimit: { interval: 3, burst: 1, leak: 1, kod: true },
    random: () => 0,
  });
  assert.equal(leaky.serve(req, INSIDE, LOCAL, S).kind, 'respond');
  assert.equal(leaky.serve(req, INSIDE, LOCAL, S).kind, 'respond');
});

test('MAC failures get a crypto-NAK and are counted by reason', () => {
  const srv = new NtpServer(engine({ keys: [MD5] }), { random: () => 0.5 });
  const base = packet(MODE.CLIENT);
  const good = srv.serve(
    encodePacket(signPacket(base, MD5.id, macKey(nodeCrypto, 'MD5', MD5.key))),
    INSIDE,
    LOCAL,
    S,
  );
  assert.equal(good.kind === 'respond' ? good.nak : 'none', undefined);
  assert.equal(reply(good).mac?.keyId, MD5.id);
  const wrong = macKey(nodeCrypto, 'MD5', new TextEncoder().encode('wrong'));
  const bad = srv.serve(encodePacket(signPacket(base, MD5.id, wrong)), INSIDE, LOCAL, S);
  assert.ok(bad.kind === 'respond');
  assert.equal(bad.nak, 'auth-bad-mac');
  assert.equal(reply(bad).mac?.digest.length, 0, 'crypto-NAK');
  const unknown = srv.serve(encodePacket(signPacket(base, 77, wrong)), INSIDE, LOCAL, S);
  assert.ok(unknown.kind === 'respond');
  assert.equal(unknown.nak, 'auth-unknown-key');
  const st = srv.stats();
  assert.equal(st.invalid['auth-bad-mac'], 1);
  assert.equal(st.invalid['auth-unknown-key'], 1);
  assert.equal(st.responses, 3);
});

test('an NTS request to a server without NTS gets nothing, counted', () => {
  const srv = new NtpServer(engine(), { random: () => 0.5 });
  const cookie = { type: EF.COOKIE, body: new Uint8Array(64) };
  const d = srv.serve(bytesOf(MODE.CLIENT, { extensions: [cookie] }), INSIDE, LOCAL, S);
  assert.deepEqual(d, { kind: 'ignore', reason: 'nts-not-server' });
  const st = srv.stats();
  assert.equal(st.invalid['nts-not-server'], 1);
  assert.equal(st.responses, 0);
  assert.equal(st.dropped, 1);
});

test('no amplification: an unauthenticated answer longer than its request is not sent', () => {
  let length = 100;
  let authenticated = false;
  const fake: ServeEngine = {
    answerRequest: (_raw, _now, _pkt, _bytes, from): Answer => ({
      kind: 'reply',
      send: { kind: 'send', to: from, bytes: new Uint8Array(length) },
      authenticated,
      interleaved: false,
    }),
    packetTarget: () => 'none',
  };
  const srv = new NtpServer(fake, { random: () => 0.5 });
  const req = bytesOf(MODE.CLIENT);
  assert.deepEqual(srv.serve(req, INSIDE, LOCAL, S), { kind: 'ignore', reason: 'amplification' });
  authenticated = true;
  assert.equal(srv.serve(req, INSIDE, LOCAL, S).kind, 'respond');
  authenticated = false;
  length = 48;
  assert.equal(srv.serve(req, INSIDE, LOCAL, S).kind, 'respond');
  const st = srv.stats();
  assert.equal(st.invalid.amplification, 1);
  assert.equal(st.responses, 2);
});

test('not serving: requests are refused, replies to our own requests still reach the associations', () => {
  const srv = new NtpServer(engine(), { serving: false, random: () => 0.5 });
  assert.deepEqual(srv.serve(bytesOf(MODE.CLIENT), INSIDE, LOCAL, S), {
    kind: 'ignore',
    reason: 'not-serving',
  });
  assert.deepEqual(srv.serve(bytesOf(MODE.SERVER), INSIDE, LOCAL, S), { kind: 'forward', to: 'association' });
  assert.equal(srv.stats().invalid['not-serving'], 1);
});

test('the other services ask the same access list', () => {
  const srv = new NtpServer(engine(), { allow: ['192.0.2.0/24'], random: () => 0.5 });
  assert.equal(srv.allows(INSIDE.address), true);
  assert.equal(srv.allows(OUTSIDE.address), false);
  assert.equal(srv.allows('not-an-address'), false);
  srv.reconfigure({ allow: ['198.51.100.0/24'], random: () => 0.5 });
  assert.equal(srv.allows(OUTSIDE.address), true);
  assert.equal(srv.stats().invalid.denied, 1);
  assert.equal(srv.stats().invalid['bad-address'], 1);
});

test('respond carries what the host needs: local address, transmit-timestamp offset, txId when interleaving', () => {
  const srv = new NtpServer(engine(), { random: () => 0.5 });
  const first = srv.serve(bytesOf(MODE.CLIENT), INSIDE, LOCAL, S, S + 10n);
  assert.ok(first.kind === 'respond');
  assert.deepEqual(first.from, LOCAL);
  assert.equal(first.transmitAt, 40);
  assert.equal(first.txId, undefined);
  const rx = reply(first).receiveTimestamp;
  const again = srv.serve(
    bytesOf(MODE.CLIENT, { originTimestamp: rx, receiveTimestamp: 77n }),
    INSIDE,
    LOCAL,
    2n * S,
  );
  assert.ok(again.kind === 'respond' && again.txId !== undefined);
  assert.equal(buildKod(new Uint8Array(10), 'RATE'), null);
});
