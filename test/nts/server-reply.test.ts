/**
 * NTS requests answered in place (src/nts/server-reply.ts through WorkerAnswerer.scanNts and
 * answerNts) against the general path (decode + answer: verifyNtsRequest, buildNtsResponseAfter):
 * the same reply bytes with the same random bytes and clock, on the EVP path and on the
 * node:crypto fallback; requests of other shapes are not taken, refused ones are left to the
 * general path (which NAKs them), and a reply made in place is remembered for interleaved mode.
 * Also the AES-SIV range methods against seal/open on both providers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createNodeCrypto, nodeCrypto, nodeRandomBytes } from '../../src/io/crypto.js';
import { CookieJar, type NtsKeys } from '../../src/nts/cookie.js';
import { buildNtsRequest, EF, NTS_NAK_KISS, ntsField, verifyNtsResponse } from '../../src/nts/ntp.js';
import { NtsInPlace } from '../../src/nts/server-reply.js';
import { emptyView } from '../../src/serve/published.js';
import { WorkerAnswerer } from '../../src/serve/worker-answer.js';
import { AEAD_AES_SIV_CMAC_256, type CryptoProvider } from '../../src/wire/crypto.js';
import { decodePacket, type ExtensionField, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';

const providers: Array<[string, CryptoProvider]> = [
  ['default provider', nodeCrypto],
  ['node:crypto fallback', createNodeCrypto(undefined, null)],
];
const from = { address: '192.0.2.7', port: 40123 };
const to = { address: '192.0.2.1', port: 123 };

/** A deterministic random source: every answerer made with the same seed draws the same bytes. */
function seeded(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n) =>
    Uint8Array.from({ length: n }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x & 0xff;
    });
}

function answerer(crypto: CryptoProvider, jar: CookieJar, seed: number, table = 64): WorkerAnswerer {
  const view = emptyView();
  view.valid = true;
  view.leap = 0;
  view.stratum = 2;
  view.referenceId = 0xc0000201;
  view.rootDelay = 0x1234;
  view.rootDispersion = 0x0567;
  view.dispersionRate = 3;
  view.refSec = 3_970_000_000;
  view.timeSec = 3_970_000_100;
  view.timeFrac = 0x12345678;
  view.rawSec = 5000;
  view.rate = 1.000001;
  const a = new WorkerAnswerer(view, [], crypto, table, seeded(seed));
  a.setNtsKeys(jar.exportKeys());
  return a;
}

function request(
  crypto: CryptoProvider,
  keys: NtsKeys,
  cookie: Uint8Array,
  placeholders: number,
  tweak?: (p: ReturnType<typeof emptyPacket>) => void,
): Uint8Array {
  const base = emptyPacket();
  base.mode = MODE.CLIENT;
  base.poll = 6;
  base.transmitTimestamp = 0xeeac32c6_e22d26a5n;
  tweak?.(base);
  return buildNtsRequest(base, {
    aead: 15,
    c2s: keys.c2s,
    cookie,
    placeholders,
    random: nodeRandomBytes,
    crypto,
  }).bytes;
}

/** The general path's reply (or null) and the in-place one (or 0), same clock, same random seed. */
function both(crypto: CryptoProvider, jar: CookieJar, bytes: Uint8Array, seed: number) {
  const general = answerer(crypto, jar, seed);
  const fast = answerer(crypto, jar, seed);
  const pkt = general.decode(bytes);
  const a = pkt === null ? null : general.answer(pkt, bytes, from, to, 5001_000_123_000n, 5001_000_456_000n);
  const out = new Uint8Array(2048).fill(0xee);
  fast.prepareNts([{ data: bytes, length: bytes.length }], 1);
  const scanned = fast.takesNts(0);
  const head = new DataView(out.buffer, 0, 48);
  const n = scanned ? fast.answerNts(0, bytes, from, 5001, 123_000, 5001, 456_000, out, head) : 0;
  fast.finishNts();
  return { a, scanned, n, out: out.subarray(0, n), fast, general };
}

for (const [name, crypto] of providers) {
  test(`${name}: in place gives the general path's reply, byte for byte`, () => {
    const jar = new CookieJar(crypto, nodeRandomBytes);
    jar.rotate();
    const keys: NtsKeys = { aead: 15, c2s: randomBytes(32), s2c: randomBytes(32) };
    const cookie = jar.seal(keys);
    for (const placeholders of [0, 1, 3, 7]) {
      const bytes = request(crypto, keys, cookie, placeholders);
      const r = both(crypto, jar, bytes, 1000 + placeholders);
      assert.ok(r.scanned, `${placeholders} placeholders: taken`);
      assert.ok(r.a !== null && r.a.kind === 'reply' && r.a.bytes !== undefined && r.a.nak === undefined);
      assert.ok(r.n > 0, 'answered in place');
      assert.equal(Buffer.from(r.out).toString('hex'), Buffer.from(r.a.bytes).toString('hex'));
      const v = verifyNtsResponse(r.out, { aead: 15, s2c: keys.s2c, uniqueId: uidOf(bytes), crypto });
      assert.ok(v.ok, 'the client accepts it');
      assert.equal(v.cookies.length, 1 + placeholders);
      for (const c of v.cookies) assert.ok(jar.open(c).ok, 'the new cookies open');
      assert.deepEqual(r.fast.ntsStats, { requests: 1, responses: 1, naks: 0, rejected: 0 });
    }
  });

  test(`${name}: other shapes are not taken, refused requests are left to the general path`, () => {
    const jar = new CookieJar(crypto, nodeRandomBytes);
    const keys: NtsKeys = { aead: 15, c2s: randomBytes(32), s2c: randomBytes(32) };
    const cookie = jar.seal(keys);
    const good = request(crypto, keys, cookie, 0);
    const scanner = new NtsInPlace();
    const takes = (b: Uint8Array, length: number) => {
      scanner.prepare(jar, [{ data: b, length }], 1);
      const t = scanner.taken(0);
      scanner.finish();
      return t;
    };
    assert.ok(takes(good, good.length));
    assert.equal(takes(good, 48), false, 'a bare header');
    assert.equal(takes(good, good.length - 4), false, 'truncated');
    // NTPv3, mode 4, a MAC after the fields, a field after the authenticator, two cookies,
    // a short Unique Identifier, a placeholder of another length.
    const v3 = Uint8Array.from(good);
    v3[0] = (3 << 3) | 3;
    assert.equal(takes(v3, v3.length), false);
    const m4 = Uint8Array.from(good);
    m4[0] = (4 << 3) | 4;
    assert.equal(takes(m4, m4.length), false);
    const withMac = new Uint8Array(good.length + 20);
    withMac.set(good);
    assert.equal(takes(withMac, withMac.length), false);
    const p = decodePacket(good);
    assert.ok(p.ok);
    const fields = p.packet.extensions;
    const again = (ext: ExtensionField[]) => encodePacket({ ...p.packet, extensions: ext });
    const after = again([...fields, ntsField(0x0f00, new Uint8Array(28))]);
    assert.equal(takes(after, after.length), false);
    const twoCookies = again([fields[0] as ExtensionField, fields[1] as ExtensionField, ...fields.slice(1)]);
    assert.equal(takes(twoCookies, twoCookies.length), false);
    const shortUid = again([ntsField(EF.UNIQUE_ID, new Uint8Array(16)), ...fields.slice(1)]);
    assert.equal(takes(shortUid, shortUid.length), false);
    const badPlaceholder = request(crypto, keys, cookie, 2, undefined);
    const q = decodePacket(badPlaceholder);
    assert.ok(q.ok);
    const ph = q.packet.extensions.slice();
    ph[2] = ntsField(EF.COOKIE_PLACEHOLDER, new Uint8Array(cookie.length + 4));
    const bp = encodePacket({ ...q.packet, extensions: ph });
    assert.equal(takes(bp, bp.length), false);
    // An unknown master key and a forged authenticator: taken by scan, refused in place, and NAKed
    // by the general path.
    const stranger = new CookieJar(crypto, nodeRandomBytes).seal(keys);
    const forged = Uint8Array.from(good);
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    for (const bytes of [request(crypto, keys, stranger, 0), forged]) {
      const r = both(crypto, jar, bytes, 7);
      // The stranger's cookie does not open (not taken); the forged request's does.
      assert.equal(r.scanned, bytes === forged);
      assert.equal(r.n, 0, 'not answered in place');
      assert.deepEqual(r.fast.ntsStats, { requests: 0, responses: 0, naks: 0, rejected: 0 });
      assert.ok(r.a !== null && r.a.kind === 'reply' && r.a.bytes !== undefined);
      const nak = decodePacket(r.a.bytes);
      assert.ok(nak.ok && nak.packet.stratum === 0 && nak.packet.referenceId === NTS_NAK_KISS);
    }
    // Without the master keys nothing is taken.
    const none = answerer(crypto, jar, 1);
    none.setNtsKeys(null);
    none.prepareNts([{ data: good, length: good.length }], 1);
    assert.equal(none.takesNts(0), false);
    none.finishNts();
  });

  test(`${name}: a reply made in place is remembered for an interleaved request`, () => {
    const jar = new CookieJar(crypto, nodeRandomBytes);
    const keys: NtsKeys = { aead: 15, c2s: randomBytes(32), s2c: randomBytes(32) };
    for (const table of [64, 0]) {
      const a = answerer(crypto, jar, 3, table);
      const first = request(crypto, keys, jar.seal(keys), 0);
      const out = new Uint8Array(2048);
      const n = a.answerNtsOne(first, from, 5001, 1000, 5001, 2000, out, new DataView(out.buffer, 0, 48));
      assert.ok(n > 0);
      const rx = new DataView(out.buffer).getBigUint64(32);
      // The client's next request asks for interleaved mode: origin = our receive timestamp.
      const next = request(crypto, keys, jar.seal(keys), 0, (p) => {
        p.originTimestamp = rx;
        p.receiveTimestamp = 0xeeac32c7_00000000n;
      });
      const pkt = a.decode(next);
      assert.ok(pkt !== null);
      const r = a.answer(pkt, next, from, to, 5002_000_000_000n, 5002_000_001_000n);
      assert.ok(r.kind === 'reply');
      assert.equal(r.txId !== undefined, table > 0, `table ${table}: a precise transmit time wanted`);
    }
  });
}

for (const [name, crypto] of providers) {
  test(`${name}: a batch in place gives the general path's replies, refused ones left out`, () => {
    const jar = new CookieJar(crypto, nodeRandomBytes);
    const keys: NtsKeys[] = Array.from({ length: 5 }, () => ({
      aead: 15,
      c2s: randomBytes(32),
      s2c: randomBytes(32),
    }));
    // Cookies under three master keys (two rotations), 40 requests of 5 clients, 0 to 7
    // placeholders; a forged one, a stranger's cookie and an interleaved-asking one among them.
    const cookies: Uint8Array[] = [];
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < 14; i++) cookies.push(jar.seal(keys[cookies.length % 5] as NtsKeys));
      if (r < 2) jar.rotate();
    }
    const reqs = cookies.slice(0, 40).map((c, i) => request(crypto, keys[i % 5] as NtsKeys, c, i % 8));
    const forged = 7;
    reqs[forged] = Uint8Array.from(reqs[forged] as Uint8Array);
    const f = reqs[forged] as Uint8Array;
    f[60] = (f[60] ?? 0) ^ 1;
    const stranger = 11;
    reqs[stranger] = request(
      crypto,
      keys[1] as NtsKeys,
      new CookieJar(crypto, nodeRandomBytes).seal(keys[1] as NtsKeys),
      0,
    );
    const xleave = 23;
    reqs[xleave] = request(crypto, keys[3] as NtsKeys, cookies[23] as Uint8Array, 0, (p) => {
      p.originTimestamp = 0xeeac32c7_00000001n;
      p.receiveTimestamp = 0xeeac32c7_00000002n;
    });
    const general = answerer(crypto, jar, 99);
    const fast = answerer(crypto, jar, 99);
    const outs = reqs.map(() => new Uint8Array(2048));
    fast.prepareNts(
      reqs.map((r) => ({ data: r, length: r.length })),
      reqs.length,
    );
    const lengths = reqs.map((r, i) => {
      if (!fast.takesNts(i)) return -1;
      const o = outs[i] as Uint8Array;
      return fast.answerNts(
        i,
        r,
        from,
        5001,
        1000 * i,
        5001,
        1000 * i + 500,
        o,
        new DataView(o.buffer, 0, 48),
      );
    });
    fast.finishNts();
    assert.deepEqual(
      lengths.map((n, i) => (n > 0 ? 'in place' : `${i}`)).filter((x) => x !== 'in place'),
      [`${forged}`, `${stranger}`, `${xleave}`],
    );
    for (let i = 0; i < reqs.length; i++) {
      if (i === forged || i === stranger || i === xleave) continue;
      const r = reqs[i] as Uint8Array;
      const pkt = general.decode(r);
      assert.ok(pkt !== null);
      const a = general.answer(
        pkt,
        r,
        from,
        to,
        5001_000_000_000n + BigInt(1000 * i),
        5001_000_000_000n + BigInt(1000 * i + 500),
      );
      assert.ok(a.kind === 'reply' && a.bytes !== undefined);
      const n = lengths[i] as number;
      assert.equal(
        Buffer.from((outs[i] as Uint8Array).subarray(0, n)).toString('hex'),
        Buffer.from(a.bytes).toString('hex'),
        `request ${i}`,
      );
      const k = keys[i % 5] as NtsKeys;
      const v = verifyNtsResponse((outs[i] as Uint8Array).slice(0, n), {
        aead: 15,
        s2c: k.s2c,
        uniqueId: uidOf(r),
        crypto,
      });
      assert.ok(v.ok && v.cookies.length === 1 + (i % 8));
      for (const c of v.cookies) assert.ok(jar.open(c).ok);
    }
    assert.equal(fast.ntsStats.responses, reqs.length - 3);
  });
}

function uidOf(bytes: Uint8Array): Uint8Array {
  const p = decodePacket(bytes);
  if (!p.ok) throw new Error('undecodable');
  const f = p.packet.extensions.find((e) => e.type === EF.UNIQUE_ID);
  if (f === undefined) throw new Error('no unique id');
  return f.body;
}

test('AES-SIV sealRange/openRange: the bytes of seal/open on both providers, in place, refusals', () => {
  for (const [name, crypto] of providers) {
    for (let i = 0; i < 40; i++) {
      const key = randomBytes(32);
      const aead = crypto.aead(AEAD_AES_SIV_CMAC_256, key);
      assert.ok(aead?.sealRange !== undefined && aead.openRange !== undefined, name);
      const aLength = [0, 4, 16, 17, 84, 192, 300][i % 7] as number;
      const nLength = [16, 4, 32][i % 3] as number;
      const pLength = [0, 1, 15, 16, 68, 108, 868, 5000][i % 8] as number;
      const buf = new Uint8Array(randomBytes(8 + aLength + nLength + 16 + pLength));
      const aAt = 8;
      const nAt = aAt + aLength;
      const pAt = nAt + nLength + 16;
      const a = buf.subarray(aAt, nAt);
      const n = buf.subarray(nAt, nAt + nLength);
      const pt = Uint8Array.from(buf.subarray(pAt));
      const expect = aead.seal([a, n], pt);
      const out = new Uint8Array(pLength + 40);
      aead.sealRange(buf, aAt, aLength, nAt, nLength, pAt, pLength, out, 3);
      assert.deepEqual(out.subarray(3, 3 + 16 + pLength), expect, `${name}: sealRange ${aLength}/${pLength}`);
      // In place: the plaintext where the ciphertext goes, the tag before it.
      aead.sealRange(buf, aAt, aLength, nAt, nLength, pAt, pLength, buf, pAt - 16);
      assert.deepEqual(buf.subarray(pAt - 16), expect, `${name}: in place`);
      const back = new Uint8Array(pLength + 5).fill(0xaa);
      assert.ok(aead.openRange(buf, aAt, aLength, nAt, nLength, pAt - 16, 16 + pLength, back, 5 - 5));
      assert.deepEqual(back.subarray(0, pLength), pt);
      const at = pAt - 16 + ((i * 13) % (16 + pLength));
      buf[at] = (buf[at] ?? 0) ^ 4;
      assert.equal(aead.openRange(buf, aAt, aLength, nAt, nLength, pAt - 16, 16 + pLength, back, 0), false);
      assert.ok(
        back.subarray(0, pLength).every((b) => b === 0),
        `${name}: zeroed when refused`,
      );
      assert.equal(aead.openRange(buf, aAt, aLength, nAt, nLength, pAt - 16, 15, back, 0), false);
      assert.throws(() =>
        aead.sealRange?.(buf, aAt, aLength, nAt, nLength, pAt, pLength, out, out.length - 10),
      );
    }
  }
});
