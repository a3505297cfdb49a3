/** Property tests (fast-check): codec round trips in both directions. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodePacket, encodePacket, layoutProblem, type NtpPacket } from '../../src/wire/packet.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ts = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const int8 = fc.integer({ min: -128, max: 127 });

const extension = (minLen: number) =>
  fc
    .record({
      type: fc.integer({ min: 0, max: 0xffff }),
      body: fc
        .integer({ min: (minLen - 4) / 4, max: 40 })
        .chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
    })
    .map((e) => ({ type: e.type, body: e.body }));

/** Packets that satisfy the RFC 7822 layout rules (so they must round-trip exactly). */
const validPacket: fc.Arbitrary<NtpPacket> = fc
  .record({
    leap: fc.integer({ min: 0, max: 3 }),
    version: fc.integer({ min: 1, max: 4 }),
    mode: fc.integer({ min: 0, max: 7 }),
    stratum: fc.integer({ min: 0, max: 255 }),
    poll: int8,
    precision: int8,
    rootDelay: u32,
    rootDispersion: u32,
    referenceId: u32,
    referenceTimestamp: ts,
    originTimestamp: ts,
    receiveTimestamp: ts,
    transmitTimestamp: ts,
    middle: fc.array(extension(16), { maxLength: 3 }),
    last: extension(28),
    withExt: fc.boolean(),
    mac: fc.option(
      fc.record({
        keyId: u32,
        digestLen: fc.constantFrom(0, 16, 20, 32, 64),
        seed: fc.integer(),
      }),
    ),
  })
  .map((r) => {
    const v4 = r.version === 4;
    let mac: NtpPacket['mac'] = null;
    if (r.mac !== null) {
      const len = v4 ? Math.min(r.mac.digestLen, 20) : r.mac.digestLen;
      mac = { keyId: r.mac.keyId, digest: new Uint8Array(len).map((_, i) => (r.mac?.seed ?? 0) + i) };
    }
    const extensions = v4 && r.withExt ? (mac === null ? [...r.middle, r.last] : r.middle) : [];
    return {
      leap: r.leap,
      version: r.version,
      mode: r.mode,
      stratum: r.stratum,
      poll: r.poll,
      precision: r.precision,
      rootDelay: r.rootDelay,
      rootDispersion: r.rootDispersion,
      referenceId: r.referenceId,
      referenceTimestamp: r.referenceTimestamp,
      originTimestamp: r.originTimestamp,
      receiveTimestamp: r.receiveTimestamp,
      transmitTimestamp: r.transmitTimestamp,
      extensions,
      mac,
    };
  })
  .filter((p) => layoutProblem(p) === null);

test('decode(encode(p)) = p for every packet that satisfies the layout rules', () => {
  fc.assert(
    fc.property(validPacket, (p) => {
      assert.equal(layoutProblem(p), null);
      const r = decodePacket(encodePacket(p));
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(r.packet, p);
    }),
    { numRuns: 3000 },
  );
});

test('encode(decode(b)) = b for every byte string the decoder accepts', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ minLength: 48, maxLength: 200 }),
    validPacket.map(encodePacket),
    // header with a random version nibble forced valid, plus random tail
    fc
      .tuple(
        fc.uint8Array({ minLength: 48, maxLength: 48 }),
        fc.integer({ min: 1, max: 4 }),
        fc.uint8Array({ maxLength: 120 }),
      )
      .map(([h, v, tail]) => {
        const b = new Uint8Array(h.length + tail.length);
        b.set(h);
        b.set(tail, 48);
        b[0] = ((b[0] ?? 0) & 0xc7) | (v << 3);
        return b;
      }),
  );
  let accepted = 0;
  fc.assert(
    fc.property(bytes, (b) => {
      const r = decodePacket(b);
      if (r.ok) {
        accepted++;
        assert.deepEqual(encodePacket(r.packet), b);
      }
    }),
    { numRuns: 5000 },
  );
  assert.ok(accepted > 1000, `only ${accepted} inputs were accepted`);
});
