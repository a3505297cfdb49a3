import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHex } from '../../src/wire/hex.js';
import { isCryptoNak, withCryptoNak } from '../../src/wire/mac.js';
import {
  type DecodeErrorCode,
  decodePacket,
  emptyPacket,
  encodePacket,
  LEAP,
  layoutProblem,
  MODE,
  makeExtension,
  type NtpPacket,
} from '../../src/wire/packet.js';

function errorCode(bytes: Uint8Array): DecodeErrorCode | 'OK' {
  const r = decodePacket(bytes);
  return r.ok ? 'OK' : r.error.code;
}

function header(first = 0x23): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = first;
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An extension field of total length `len` with type `type`. */
function ef(type: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = type >> 8;
  b[1] = type & 0xff;
  b[2] = len >> 8;
  b[3] = len & 0xff;
  for (let i = 4; i < len; i++) b[i] = i;
  return b;
}

test('decodes every header field of a hand-made packet', () => {
  const bytes = fromHex(
    'e4 02 fa e9 00012345 8000ffff c0a80001 eeac327f7a30e4ed 0863859d8434fed8 eeac328159e05b29 ffffffffffffffff',
  );
  const r = decodePacket(bytes);
  assert.ok(r.ok);
  const p = r.packet;
  assert.equal(p.leap, LEAP.UNSYNC);
  assert.equal(p.version, 4);
  assert.equal(p.mode, MODE.SERVER);
  assert.equal(p.stratum, 2);
  assert.equal(p.poll, -6);
  assert.equal(p.precision, -23);
  assert.equal(p.rootDelay, 0x00012345);
  assert.equal(p.rootDispersion, 0x8000ffff);
  assert.equal(p.referenceId, 0xc0a80001);
  assert.equal(p.referenceTimestamp, 0xeeac327f7a30e4edn);
  assert.equal(p.originTimestamp, 0x0863859d8434fed8n);
  assert.equal(p.receiveTimestamp, 0xeeac328159e05b29n);
  assert.equal(p.transmitTimestamp, 0xffffffffffffffffn);
  assert.deepEqual(p.extensions, []);
  assert.equal(p.mac, null);
  assert.deepEqual(encodePacket(p), bytes);
});

test('emptyPacket is all zero except version 4', () => {
  const b = encodePacket(emptyPacket());
  assert.equal(b.length, 48);
  assert.equal(b[0], 4 << 3);
  assert.ok(b.subarray(1).every((x) => x === 0));
});

test('too short and unknown versions are rejected with typed errors', () => {
  assert.equal(errorCode(new Uint8Array(0)), 'TOO_SHORT');
  assert.equal(errorCode(new Uint8Array(47)), 'TOO_SHORT');
  assert.equal(errorCode(header(0x03)), 'BAD_VERSION'); // version 0
  assert.equal(errorCode(header(0x2b)), 'BAD_VERSION'); // version 5
  assert.equal(errorCode(header(0x3b)), 'BAD_VERSION'); // version 7
  for (const v of [1, 2, 3, 4]) assert.equal(errorCode(header((v << 3) | 3)), 'OK');
});

test('MAC trailers: 4-byte crypto-NAK, 20-byte MD5, 24-byte SHA-1', () => {
  for (const len of [4, 20, 24]) {
    const mac = new Uint8Array(len).map((_, i) => i + 1);
    const r = decodePacket(concat(header(), mac));
    assert.ok(r.ok, `MAC of ${len}`);
    assert.equal(r.packet.mac?.keyId, 0x01020304);
    assert.equal(r.packet.mac?.digest.length, len - 4);
    assert.deepEqual(r.packet.extensions, []);
  }
  const nak = decodePacket(concat(header(), new Uint8Array(4)));
  assert.ok(nak.ok && isCryptoNak(nak.packet));
  const built = encodePacket(withCryptoNak(emptyPacket()));
  assert.equal(built.length, 52);
});

test('stray bytes and truncated MACs are rejected', () => {
  for (const n of [1, 2, 3]) assert.equal(errorCode(concat(header(), new Uint8Array(n))), 'TRAILING_BYTES');
  for (const n of [5, 8, 12, 16, 17, 19, 21, 22, 23]) {
    assert.equal(errorCode(concat(header(), new Uint8Array(n))), 'TRUNCATED_MAC', `${n} bytes`);
  }
});

test('RFC 7822: more than 24 remaining bytes are an extension field', () => {
  const r = decodePacket(concat(header(), ef(0x0104, 28)));
  assert.ok(r.ok);
  assert.equal(r.packet.extensions.length, 1);
  assert.equal(r.packet.extensions[0]?.type, 0x0104);
  assert.equal(r.packet.extensions[0]?.body.length, 24);
  assert.equal(r.packet.mac, null);
  // two fields, the first of minimum size 16, then a MAC
  const two = decodePacket(concat(header(), ef(1, 16), ef(2, 32), new Uint8Array(20)));
  assert.ok(two.ok);
  assert.deepEqual(
    two.packet.extensions.map((e) => e.type),
    [1, 2],
  );
  assert.equal(two.packet.mac?.digest.length, 16);
  // an extension followed by a crypto-NAK
  const nak = decodePacket(concat(header(), ef(3, 28), new Uint8Array(4)));
  assert.ok(nak.ok);
  assert.equal(nak.packet.extensions.length, 1);
  assert.equal(nak.packet.mac?.digest.length, 0);
  // a 16-byte field before a crypto-NAK leaves 20 bytes: that reads as one MD5 MAC
  const amb = decodePacket(concat(header(), ef(3, 16), new Uint8Array(4)));
  assert.ok(amb.ok);
  assert.equal(amb.packet.extensions.length, 0);
  const p = {
    ...emptyPacket(),
    extensions: [makeExtension(3, new Uint8Array(0))],
    mac: { keyId: 0, digest: new Uint8Array(0) },
  };
  assert.match(layoutProblem(p) ?? '', /take for a MAC/);
});

test('RFC 7822: a last field of 16..24 bytes without MAC is read as a (bad) MAC', () => {
  // 20 and 24 bytes are indistinguishable from MACs and are taken as MACs.
  const r = decodePacket(concat(header(), ef(5, 20)));
  assert.ok(r.ok);
  assert.equal(r.packet.extensions.length, 0);
  assert.equal(r.packet.mac?.digest.length, 16);
  assert.equal(errorCode(concat(header(), ef(5, 16))), 'TRUNCATED_MAC');
  const p = { ...emptyPacket(), extensions: [{ type: 5, body: new Uint8Array(16) }] };
  assert.match(layoutProblem(p) ?? '', /at least 28/);
  assert.equal(layoutProblem({ ...p, extensions: [makeExtension(5, new Uint8Array(3), 28)] }), null);
});

test('bad extension lengths are rejected', () => {
  const bad = (len: number, total: number) => {
    const f = ef(9, total);
    f[2] = len >> 8;
    f[3] = len & 0xff;
    return errorCode(concat(header(), f));
  };
  assert.equal(bad(0, 28), 'BAD_EXTENSION_LENGTH');
  assert.equal(bad(12, 28), 'BAD_EXTENSION_LENGTH');
  assert.equal(bad(30, 32), 'BAD_EXTENSION_LENGTH'); // not a multiple of 4
  assert.equal(bad(64, 28), 'TRUNCATED_EXTENSION');
  assert.equal(bad(0xfffc, 40), 'TRUNCATED_EXTENSION');
  // a valid field followed by garbage that is neither a MAC nor a field
  assert.equal(errorCode(concat(header(), ef(1, 28), new Uint8Array(2))), 'TRAILING_BYTES');
});

test('NTPv1-3 packets carry no extension fields: the remainder must be a MAC', () => {
  const v3 = header(0x1b);
  assert.equal(errorCode(concat(v3, new Uint8Array(36))), 'OK'); // SHA-256 MAC as chrony sends it
  assert.equal(errorCode(concat(v3, new Uint8Array(68))), 'OK');
  assert.equal(errorCode(concat(v3, ef(1, 28))), 'OK'); // read as a 28-byte MAC, not an extension
  assert.equal(errorCode(concat(v3, new Uint8Array(72))), 'BAD_MAC_LENGTH');
  assert.equal(errorCode(concat(v3, new Uint8Array(30))), 'BAD_MAC_LENGTH');
  assert.equal(errorCode(concat(v3, new Uint8Array(10))), 'TRUNCATED_MAC');
  assert.equal(errorCode(concat(v3, new Uint8Array(2))), 'TRAILING_BYTES');
  assert.match(
    layoutProblem({ ...emptyPacket(), version: 3, extensions: [makeExtension(1, new Uint8Array(0), 28)] }) ??
      '',
    /no extension/,
  );
});

test('encode masks fields and writes signed poll/precision as int8', () => {
  const p: NtpPacket = { ...emptyPacket(), leap: 1, mode: 5, stratum: 255, poll: -128, precision: 127 };
  const b = encodePacket(p);
  assert.equal(b[0], (1 << 6) | (4 << 3) | 5);
  assert.equal(b[1], 255);
  assert.equal(b[2], 0x80);
  assert.equal(b[3], 0x7f);
  const back = decodePacket(b);
  assert.ok(back.ok);
  assert.equal(back.packet.poll, -128);
  assert.equal(back.packet.precision, 127);
});

test('encode refuses an extension body that is not a multiple of 4', () => {
  assert.throws(
    () => encodePacket({ ...emptyPacket(), extensions: [{ type: 1, body: new Uint8Array(25) }] }),
    RangeError,
  );
  assert.throws(
    () => encodePacket({ ...emptyPacket(), extensions: [{ type: 1, body: new Uint8Array(8) }] }),
    RangeError,
  );
});

test('makeExtension pads to a multiple of 4 and the minimum length', () => {
  assert.equal(makeExtension(1, new Uint8Array(1)).body.length, 12);
  assert.equal(makeExtension(1, new Uint8Array(13)).body.length, 16);
  assert.equal(makeExtension(1, new Uint8Array(0), 28).body.length, 24);
});
