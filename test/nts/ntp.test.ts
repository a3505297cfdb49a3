/**
 * NTS extension fields for NTP (RFC 8915 section 5): a client session and a server cookie jar talking
 * in-process; tampering, replay protection (Unique Identifier), NAKs, cookie rotation and fuzzing.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { nodeCrypto } from '../../src/io/crypto.js';
import { CookieJar, type NtsKeys, type RandomBytes } from '../../src/nts/cookie.js';
import {
  buildNtsNak,
  buildNtsResponse,
  decodeInnerFields,
  EF,
  encodeInnerFields,
  NtsClientSession,
  type NtsServerContext,
  verifyNtsRequest,
  verifyNtsResponse,
} from '../../src/nts/ntp.js';
import { seeded as uniform } from '../../src/sim/rng.js';
import { bytesFromRandom } from '../../src/system/defaults.js';
import { decodePacket, emptyPacket, layoutProblem, MODE, type NtpPacket } from '../../src/wire/packet.js';

/** Deterministic random bytes (the simulator's PRNG), so failures reproduce. */
function seeded(seed: number): RandomBytes {
  return bytesFromRandom(uniform(seed));
}

function setup(seed = 1) {
  const random = seeded(seed);
  const jar = new CookieJar(nodeCrypto, random);
  const keys: NtsKeys = { aead: 15, c2s: random(32), s2c: random(32) };
  const cookies = Array.from({ length: 8 }, () => jar.seal(keys));
  return { random, jar, keys, session: new NtsClientSession(nodeCrypto, keys, cookies) };
}

function clientBase(t: bigint): NtpPacket {
  const p = emptyPacket();
  p.mode = MODE.CLIENT;
  p.transmitTimestamp = t;
  return p;
}

function serverHeader(ctx: NtsServerContext): NtpPacket {
  const h = emptyPacket();
  h.mode = MODE.SERVER;
  h.stratum = 2;
  h.originTimestamp = ctx.packet.transmitTimestamp;
  h.receiveTimestamp = 0xe0000000_00000000n;
  h.transmitTimestamp = 0xe0000000_00001000n;
  return h;
}

function serve(jar: CookieJar, random: RandomBytes, bytes: Uint8Array) {
  const v = verifyNtsRequest(bytes, jar);
  assert.ok(v.ok, v.ok ? '' : v.message);
  return { ctx: v.context, response: buildNtsResponse(serverHeader(v.context), v.context, jar, random) };
}

test('a full exchange verifies, keeps the packet layout valid and refills the cookie pool', () => {
  const { random, jar, keys, session } = setup();
  for (let round = 0; round < 20; round++) {
    const req = session.request(clientBase(BigInt(round + 1) << 32n), random);
    assert.ok(req !== null);
    assert.equal(session.cookies.length, 7);
    assert.equal(layoutProblem(req.packet), null);
    const { ctx, response } = serve(jar, random, req.bytes);
    assert.deepEqual(ctx.keys, keys);
    assert.equal(ctx.cookiesWanted, 1);
    assert.equal(response.length, req.bytes.length, 'the response must not be larger than the request');
    const r = session.response(response, req);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.cookies.length, 1);
    assert.equal(r.packet.originTimestamp, req.packet.transmitTimestamp);
    assert.equal(session.cookies.length, 8);
    const d = decodePacket(response);
    assert.ok(d.ok);
    assert.equal(layoutProblem(d.packet), null);
  }
});

test('placeholders ask for more cookies; the response size still matches the request', () => {
  const { random, jar, session } = setup(2);
  for (let i = 0; i < 5; i++) session.cookies.pop();
  const req = session.request(clientBase(1n << 32n), random);
  assert.ok(req !== null);
  assert.equal(req.packet.extensions.filter((e) => e.type === EF.COOKIE_PLACEHOLDER).length, 5);
  const { ctx, response } = serve(jar, random, req.bytes);
  assert.equal(ctx.cookiesWanted, 6);
  assert.equal(response.length, req.bytes.length);
  const r = session.response(response, req);
  assert.ok(r.ok);
  assert.equal(r.cookies.length, 6);
  assert.equal(session.cookies.length, 8);
  // Every new cookie is distinct and opens to the same keys.
  assert.equal(new Set(r.cookies.map((c) => Buffer.from(c).toString('hex'))).size, 6);
  for (const c of r.cookies) assert.ok(jar.open(c).ok);
});

test('every single-byte change of the response is rejected', () => {
  const { random, jar, session } = setup(3);
  const req = session.request(clientBase(7n << 32n), random);
  assert.ok(req !== null);
  const { response } = serve(jar, random, req.bytes);
  let rejected = 0;
  for (let i = 0; i < response.length; i++) {
    const bad = Uint8Array.from(response);
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    const r = verifyNtsResponse(bad, {
      aead: 15,
      s2c: session.keys.s2c,
      uniqueId: req.uniqueId,
      crypto: nodeCrypto,
    });
    if (!r.ok) rejected++;
  }
  // No padding in this authenticator (16-byte nonce, 124-byte ciphertext): every byte is covered.
  assert.equal(rejected, response.length);
  assert.ok(
    verifyNtsResponse(response, {
      aead: 15,
      s2c: session.keys.s2c,
      uniqueId: req.uniqueId,
      crypto: nodeCrypto,
    }).ok,
  );
});

test('replayed or foreign responses fail on the Unique Identifier; wrong keys fail authentication', () => {
  const { random, jar, session, keys } = setup(4);
  const req1 = session.request(clientBase(1n << 32n), random);
  const req2 = session.request(clientBase(2n << 32n), random);
  assert.ok(req1 !== null && req2 !== null);
  const { response } = serve(jar, random, req1.bytes);
  const replay = verifyNtsResponse(response, {
    aead: 15,
    s2c: keys.s2c,
    uniqueId: req2.uniqueId,
    crypto: nodeCrypto,
  });
  assert.ok(!replay.ok);
  assert.equal(replay.code, 'UNIQUE_ID_MISMATCH');
  const wrongKey = verifyNtsResponse(response, {
    aead: 15,
    s2c: keys.c2s,
    uniqueId: req1.uniqueId,
    crypto: nodeCrypto,
  });
  assert.ok(!wrongKey.ok);
  assert.equal(wrongKey.code, 'AUTH_FAILED');
});

test('the server rejects tampered requests and NAKs unusable cookies', () => {
  const { random, jar, session } = setup(5);
  const req = session.request(clientBase(9n << 32n), random);
  assert.ok(req !== null);
  // Change a header byte covered by the authenticator.
  const bad = Uint8Array.from(req.bytes);
  bad[2] = (bad[2] ?? 0) ^ 1;
  const v = verifyNtsRequest(bad, jar);
  assert.ok(!v.ok);
  assert.equal(v.code, 'AUTH_FAILED');
  // Rotate the master key away: the cookie becomes unknown and the server answers with a NAK.
  jar.rotate();
  jar.rotate();
  jar.rotate();
  const v2 = verifyNtsRequest(req.bytes, jar);
  assert.ok(!v2.ok);
  assert.equal(v2.code, 'BAD_COOKIE');
  assert.ok(v2.nakUniqueId !== undefined);
  const h = emptyPacket();
  h.mode = MODE.SERVER;
  h.originTimestamp = req.packet.transmitTimestamp;
  const nak = buildNtsNak(h, v2.nakUniqueId);
  const r = session.response(nak, req);
  assert.ok(!r.ok);
  assert.equal(r.code, 'NTS_NAK');
  // A plain request is recognised as such.
  const plain = verifyNtsRequest(new Uint8Array(48).fill(0x23, 0, 1), jar);
  assert.ok(!plain.ok);
  assert.equal(plain.code, 'NOT_NTS');
});

test('cookies survive rotation within the keep window only', () => {
  const random = seeded(6);
  const jar = new CookieJar(nodeCrypto, random, 2);
  const keys: NtsKeys = { aead: 15, c2s: random(32), s2c: random(32) };
  const c = jar.seal(keys);
  assert.equal(c.length, 104);
  jar.rotate();
  const o = jar.open(c);
  assert.ok(o.ok);
  assert.deepEqual(o.keys, keys);
  jar.rotate();
  const gone = jar.open(c);
  assert.ok(!gone.ok);
  assert.equal(gone.error, 'UNKNOWN_KEY');
  const fresh = jar.seal(keys);
  fresh[50] = (fresh[50] ?? 0) ^ 4;
  const forged = jar.open(fresh);
  assert.ok(!forged.ok);
  assert.equal(forged.error, 'AUTH_FAILED');
});

test('inner extension fields round-trip', () => {
  const fields = [
    { type: EF.COOKIE, body: new Uint8Array(100).fill(9) },
    { type: 0x1234, body: new Uint8Array(0) },
  ];
  assert.deepEqual(decodeInnerFields(encodeInnerFields(fields)), fields);
  assert.equal(decodeInnerFields(new Uint8Array([0, 1, 0, 5, 0])), null);
});

test('fuzz: mutated requests and responses never throw and are never accepted', () => {
  const { random, jar, session } = setup(7);
  const req = session.request(clientBase(3n << 32n), random);
  assert.ok(req !== null);
  const { response } = serve(jar, random, req.bytes);
  const mutate = (src: Uint8Array) =>
    fc
      .array(fc.tuple(fc.nat(src.length - 1), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .chain((muts) =>
        fc.nat(src.length).map((cut) => {
          const b = Uint8Array.from(src);
          for (const [i, x] of muts) b[i] = (b[i] ?? 0) ^ x;
          return b.subarray(0, Math.max(cut, src.length - 8));
        }),
      );
  fc.assert(
    fc.property(mutate(req.bytes), mutate(response), fc.uint8Array({ maxLength: 400 }), (q, r, junk) => {
      const vq = verifyNtsRequest(q, jar);
      const vr = verifyNtsResponse(r, {
        aead: 15,
        s2c: session.keys.s2c,
        uniqueId: req.uniqueId,
        crypto: nodeCrypto,
      });
      verifyNtsRequest(junk, jar);
      verifyNtsResponse(junk, {
        aead: 15,
        s2c: session.keys.s2c,
        uniqueId: req.uniqueId,
        crypto: nodeCrypto,
      });
      // No authenticator padding exists in these packets: every byte is covered, so nothing passes.
      assert.equal(vq.ok, false);
      assert.equal(vr.ok, false);
    }),
    { numRuns: 2000 },
  );
});
