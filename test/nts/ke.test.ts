/** NTS-KE record codec (RFC 8915 section 4): round trips, negotiation rules, malformed input. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  buildKeError,
  buildKeRequest,
  buildKeResponse,
  decodeKeMessage,
  encodeKeMessage,
  encodeKeRecords,
  exporterContext,
  interpretKeRequest,
  interpretKeResponse,
  KE_ERROR,
  type KeRecord,
  RECORD,
  scanKeMessage,
} from '../../src/nts/ke.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const KNOWN = new Set(['TRUNCATED', 'TOO_LONG', 'NO_END', 'DATA_AFTER_END', 'BAD_END']);

const arbRecord: fc.Arbitrary<KeRecord> = fc.record({
  critical: fc.boolean(),
  type: fc.integer({ min: 1, max: 0x7fff }),
  body: fc.uint8Array({ maxLength: 40 }),
});

test('client request bytes are what RFC 8915 prescribes', () => {
  // Next Protocol {0}, AEAD {15}, End of Message: all critical.
  assert.equal(toHex(buildKeRequest()), '80010002000080040002000f80000000');
  assert.equal(
    toHex(buildKeRequest({ server: 'a.b', port: 123 })),
    '80010002000080040002000f00060003612e6200070002007b80000000',
  );
});

test('exporter context: protocol, AEAD, direction', () => {
  assert.equal(toHex(exporterContext(15, 's2c')), '0000000f01');
  assert.equal(toHex(exporterContext(15, 'c2s')), '0000000f00');
});

test('records round-trip through encode and decode', () => {
  fc.assert(
    fc.property(fc.array(arbRecord, { maxLength: 12 }), (records) => {
      const bytes = encodeKeMessage(records);
      const d = decodeKeMessage(bytes);
      assert.ok(d.ok);
      assert.deepEqual(
        d.records.slice(0, -1),
        records.map((r) => ({ ...r })),
      );
      assert.deepEqual(d.records.at(-1), {
        critical: true,
        type: RECORD.END_OF_MESSAGE,
        body: new Uint8Array(0),
      });
      assert.deepEqual(encodeKeRecords(d.records), bytes);
    }),
    { numRuns: 500 },
  );
});

test('streaming scan needs the whole message and reports its length', () => {
  const msg = buildKeResponse({
    aead: 15,
    cookies: [new Uint8Array(100).fill(1), new Uint8Array(100).fill(2)],
    port: 11123,
  });
  for (let cut = 0; cut < msg.length; cut++) {
    const s = scanKeMessage(msg.subarray(0, cut));
    assert.ok(s.ok && !s.complete, `prefix of ${cut} bytes must be incomplete`);
  }
  const extra = new Uint8Array(msg.length + 3);
  extra.set(msg);
  const s = scanKeMessage(extra);
  assert.ok(s.ok && s.complete);
  assert.equal(s.length, msg.length);
  const d = decodeKeMessage(extra);
  assert.ok(!d.ok);
  assert.equal(d.error.code, 'DATA_AFTER_END');
});

test('malformed messages give typed errors', () => {
  const cases: Array<[string, string]> = [
    ['8001', 'TRUNCATED'],
    ['800100020000800400', 'TRUNCATED'],
    ['80010002000080040002000f', 'NO_END'],
    ['800000020000', 'BAD_END'],
    ['8000000000', 'DATA_AFTER_END'],
  ];
  for (const [h, code] of cases) {
    const d = decodeKeMessage(new Uint8Array(Buffer.from(h, 'hex')));
    assert.ok(!d.ok, h);
    assert.equal(d.error.code, code, h);
  }
  const huge = new Uint8Array(20000);
  for (let i = 0; i < huge.length; i += 4) huge.set([0, 9, 0, 0], i);
  const s = scanKeMessage(huge);
  assert.ok(!s.ok);
  assert.equal(s.error.code, 'TOO_LONG');
});

test('fuzz: arbitrary and mutated bytes never throw and yield known errors', () => {
  const good = buildKeResponse({ aead: 15, cookies: [new Uint8Array(64).fill(3)], server: 'x', port: 1 });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc
          .tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(good.length))
          .map(([i, x, cut]) => {
            const b = Uint8Array.from(good);
            b[i] = (b[i] ?? 0) ^ x;
            return b.subarray(0, cut);
          }),
      ),
      (bytes) => {
        const d = decodeKeMessage(bytes);
        if (!d.ok) assert.ok(KNOWN.has(d.error.code), d.error.code);
        else {
          assert.deepEqual(encodeKeRecords(d.records), bytes);
          interpretKeResponse(d.records);
          interpretKeRequest(d.records);
        }
        scanKeMessage(bytes);
      },
    ),
    { numRuns: 5000 },
  );
});

function records(bytes: Uint8Array): KeRecord[] {
  const d = decodeKeMessage(bytes);
  assert.ok(d.ok);
  return d.records;
}

test('server side: negotiates NTPv4 and the first supported AEAD, refuses bad requests', () => {
  const ok = interpretKeRequest(records(buildKeRequest({ aeads: [30, 15], port: 5 })));
  assert.ok(ok.ok);
  assert.equal(ok.info.aead, 15);
  assert.equal(ok.info.port, 5);
  const noAead = interpretKeRequest(records(buildKeRequest({ aeads: [30] })));
  assert.ok(!noAead.ok);
  assert.equal(noAead.problem.code, 'NO_AEAD');
  assert.equal(noAead.errorRecordCode, KE_ERROR.BAD_REQUEST);
  const noProto = interpretKeRequest(
    records(encodeKeMessage([{ critical: true, type: 4, body: new Uint8Array([0, 15]) }])),
  );
  assert.ok(!noProto.ok);
  assert.equal(noProto.problem.code, 'NO_PROTOCOL');
  const unknownCrit = interpretKeRequest([
    ...records(buildKeRequest()).slice(0, -1),
    { critical: true, type: 1000, body: new Uint8Array(0) },
  ]);
  assert.ok(!unknownCrit.ok);
  assert.equal(unknownCrit.errorRecordCode, KE_ERROR.UNRECOGNIZED_CRITICAL);
  const unknownNonCrit = interpretKeRequest([
    { critical: false, type: 1000, body: new Uint8Array(3) },
    ...records(buildKeRequest()),
  ]);
  assert.ok(unknownNonCrit.ok);
});

test('client side: reads cookies, server, port; reports errors and bad choices', () => {
  const cookies = [new Uint8Array([1, 2, 3, 4]), new Uint8Array([5, 6, 7, 8])];
  const r = interpretKeResponse(
    records(buildKeResponse({ aead: 15, cookies, server: '127.0.0.1', port: 11601 })),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.info.cookies, cookies);
  assert.equal(r.info.server, '127.0.0.1');
  assert.equal(r.info.port, 11601);
  assert.equal(r.info.aead, 15);
  const err = interpretKeResponse(records(buildKeError(KE_ERROR.BAD_REQUEST)));
  assert.ok(!err.ok);
  assert.equal(err.problem.code, 'SERVER_ERROR');
  assert.equal(err.problem.errorCode, 1);
  const notOffered = interpretKeResponse(records(buildKeResponse({ aead: 30, cookies })));
  assert.ok(!notOffered.ok);
  assert.equal(notOffered.problem.code, 'BAD_AEAD');
  const none = interpretKeResponse(records(buildKeResponse({ aead: 15, cookies: [] })));
  assert.ok(!none.ok);
  assert.equal(none.problem.code, 'NO_COOKIES');
});
