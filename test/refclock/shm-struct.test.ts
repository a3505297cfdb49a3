import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeShmTime,
  emptyShmTime,
  encodeShmTime,
  readShm,
  SHM_OFFSET,
  SHM_SIZE,
  shmKey,
  writeShm,
} from '../../src/refclock/shm-struct.js';

const seg = () => new DataView(new ArrayBuffer(SHM_SIZE));

describe('SHM segment structure', () => {
  it('has the ntpd layout: key, size and field offsets', () => {
    assert.equal(shmKey(0), 0x4e545030);
    assert.equal(shmKey(2), 0x4e545032);
    assert.equal(SHM_SIZE, 96);
    assert.equal(SHM_OFFSET.valid, 48);
    assert.equal(SHM_OFFSET.clockNsec, 52);
    assert.equal(SHM_OFFSET.receiveNsec, 56);
  });

  it('encodes and decodes every field (round trip), little endian at the fixed offsets', () => {
    const t = {
      ...emptyShmTime(),
      mode: 1,
      count: 7,
      clockSec: 1_800_000_000n,
      clockUsec: 123_456,
      receiveSec: 1_800_000_001n,
      receiveUsec: 654_321,
      leap: 1,
      precision: -20,
      nsamples: 3,
      valid: 1,
      clockNsec: 123_456_789,
      receiveNsec: 654_321_987,
    };
    const v = seg();
    encodeShmTime(t, v);
    assert.deepEqual(decodeShmTime(v), t);
    const b = new Uint8Array(v.buffer);
    assert.equal(b[SHM_OFFSET.count], 7);
    assert.equal(b[SHM_OFFSET.leap], 1);
    assert.equal(v.getUint32(SHM_OFFSET.clockSec, true), 1_800_000_000);
    assert.equal(v.getInt32(SHM_OFFSET.precision, true), -20);
  });

  for (const mode of [0, 1] as const) {
    it(`mode ${mode}: the reader gets the writer's sample once, with nanoseconds, and clears valid`, () => {
      const v = seg();
      writeShm(v, {
        clockNs: 1_800_000_000_123_456_789n,
        receiveNs: 1_800_000_000_100_000_001n,
        mode,
        leap: 0,
      });
      assert.equal(v.getInt32(SHM_OFFSET.valid, true), 1);
      assert.equal(v.getInt32(SHM_OFFSET.count, true), 2);
      const r = readShm(v);
      assert.ok(r.ok);
      assert.equal(r.reading.clockNs, 1_800_000_000_123_456_789n);
      assert.equal(r.reading.receiveNs, 1_800_000_000_100_000_001n);
      assert.equal(r.reading.mode, mode);
      assert.equal(v.getInt32(SHM_OFFSET.valid, true), 0);
      const again = readShm(v);
      assert.deepEqual(again, { ok: false, error: { code: 'not-valid' } });
    });
  }

  it('mode 1: a count change during the read is a torn read, nothing is consumed', () => {
    const v = seg();
    writeShm(v, { clockNs: 2_000_000_000n, receiveNs: 1_000_000_000n });
    const r = readShm(v, () => writeShm(v, { clockNs: 5_000_000_000n, receiveNs: 4_000_000_000n }));
    assert.deepEqual(r, { ok: false, error: { code: 'inconsistent' } });
    assert.equal(v.getInt32(SHM_OFFSET.valid, true), 1);
    const next = readShm(v);
    assert.ok(next.ok);
    assert.equal(next.reading.clockNs, 5_000_000_000n);
  });

  it('mode 0: no count check (the valid flag is the whole protocol)', () => {
    const v = seg();
    writeShm(v, { clockNs: 2_000_000_000n, receiveNs: 1_000_000_000n, mode: 0 });
    const r = readShm(v, () => v.setInt32(SHM_OFFSET.count, 99, true));
    assert.ok(r.ok);
  });

  it('a writer clears valid first: a reader during the update sees no sample', () => {
    const v = seg();
    writeShm(v, { clockNs: 2_000_000_000n, receiveNs: 1_000_000_000n });
    let mid: ReturnType<typeof readShm> | null = null;
    writeShm(v, { clockNs: 3_000_000_000n, receiveNs: 2_000_000_000n }, () => {
      mid = readShm(v);
    });
    assert.deepEqual(mid, { ok: false, error: { code: 'not-valid' } });
  });

  it('microseconds only (old writers: nsec fields 0) and negative times', () => {
    const v = seg();
    encodeShmTime(
      {
        ...emptyShmTime(),
        mode: 0,
        valid: 1,
        clockSec: 10n,
        clockUsec: 500_000,
        receiveSec: 10n,
        receiveUsec: 250_000,
      },
      v,
    );
    const r = readShm(v);
    assert.ok(r.ok);
    assert.equal(r.reading.clockNs, 10_500_000_000n);
    assert.equal(r.reading.receiveNs, 10_250_000_000n);
    const w = seg();
    writeShm(w, { clockNs: -1_500_000_000n, receiveNs: -1n });
    const n = readShm(w);
    assert.ok(n.ok);
    assert.equal(n.reading.clockNs, -1_500_000_000n);
    assert.equal(n.reading.receiveNs, -1n);
  });

  it('rejects an unknown mode and out-of-range fractions', () => {
    const v = seg();
    encodeShmTime({ ...emptyShmTime(), mode: 2, valid: 1 }, v);
    assert.deepEqual(readShm(v), { ok: false, error: { code: 'bad-mode', mode: 2 } });
    encodeShmTime({ ...emptyShmTime(), mode: 0, valid: 1, clockUsec: 2_000_000 }, v);
    assert.deepEqual(readShm(v), { ok: false, error: { code: 'bad-time' } });
  });
});
