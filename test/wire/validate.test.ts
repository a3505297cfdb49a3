import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ONE_SECOND } from '../../src/time/ntp-time.js';
import { computeExchange } from '../../src/wire/exchange.js';
import { kissCodeToRefid } from '../../src/wire/kiss.js';
import { emptyPacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { checkServerResponse } from '../../src/wire/validate.js';

const T1 = 0xeeac32c6e22d26a5n;
const request: NtpPacket = { ...emptyPacket(), mode: MODE.CLIENT, transmitTimestamp: T1 };
const good: NtpPacket = {
  ...emptyPacket(),
  mode: MODE.SERVER,
  stratum: 2,
  originTimestamp: T1,
  receiveTimestamp: T1 + ONE_SECOND,
  transmitTimestamp: T1 + ONE_SECOND + 1000n,
};

const code = (r: ReturnType<typeof checkServerResponse>) => (r.ok ? 'OK' : r.code);

test('a good reply passes', () => {
  assert.deepEqual(checkServerResponse(request, good), { ok: true });
});

test('each sanity check rejects with its own code and a plain message', () => {
  const cases: [Partial<NtpPacket>, string][] = [
    [{ mode: MODE.SYMMETRIC_PASSIVE }, 'NOT_SERVER_MODE'],
    [{ originTimestamp: T1 + 1n }, 'ORIGIN_MISMATCH'],
    [{ stratum: 0, referenceId: kissCodeToRefid('DENY') }, 'KISS_OF_DEATH'],
    [{ transmitTimestamp: 0n }, 'ZERO_TRANSMIT'],
    [{ receiveTimestamp: 0n }, 'ZERO_RECEIVE'],
    [{ stratum: 16 }, 'BAD_STRATUM'],
    [{ stratum: 200 }, 'BAD_STRATUM'],
    [{ leap: 3 }, 'UNSYNCHRONIZED'],
  ];
  for (const [change, expected] of cases) {
    const r = checkServerResponse(request, { ...good, ...change });
    assert.equal(
      code(r),
      expected,
      JSON.stringify(change, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
    assert.ok(!r.ok && r.message.length > 10 && !r.message.includes('undefined'));
  }
  const kod = checkServerResponse(request, { ...good, stratum: 0, referenceId: kissCodeToRefid('RATE') });
  assert.ok(!kod.ok && kod.kissCode === 'RATE' && /rate exceeded/.test(kod.message));
});

test('a forged KoD (origin mismatch) is reported as a mismatch, not obeyed', () => {
  const r = checkServerResponse(request, {
    ...good,
    originTimestamp: 5n,
    stratum: 0,
    referenceId: kissCodeToRefid('DENY'),
  });
  assert.equal(code(r), 'ORIGIN_MISMATCH');
});

test('optional root distance limit', () => {
  const far = { ...good, rootDelay: 2 << 16, rootDispersion: 1 << 16 };
  assert.equal(code(checkServerResponse(request, far)), 'OK');
  assert.equal(code(checkServerResponse(request, far, { maxRootDistance: 1.5 })), 'ROOT_DISTANCE');
});

test('offset and delay from the four timestamps, also across the 2036 era boundary', () => {
  const sec = (s: number) => BigInt(Math.round(s * 2 ** 32));
  for (const t1 of [T1, (1n << 64n) - sec(0.3), 0n]) {
    const wrap = (v: bigint) => BigInt.asUintN(64, v);
    // server is +2.5 s ahead, one-way delays 10 ms out and 20 ms back, 1 ms processing
    const t2 = wrap(t1 + sec(0.01 + 2.5));
    const t3 = wrap(t2 + sec(0.001));
    const t4 = wrap(t3 - sec(2.5) + sec(0.02));
    const ex = computeExchange(
      wrap(t1),
      t4,
      { ...good, receiveTimestamp: t2, transmitTimestamp: t3, precision: -20 },
      -20,
    );
    assert.ok(Math.abs(ex.offset - (2.5 - 0.005)) < 1e-9, `offset ${ex.offset}`);
    assert.ok(Math.abs(ex.delay - 0.03) < 1e-9, `delay ${ex.delay}`);
    assert.ok(ex.rootDistance >= ex.delay / 2);
  }
});
