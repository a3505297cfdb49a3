/** The real System V segment through FFI (no chronyd): create, write, read, detach, remove. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachShm, realtimePair, ShmRefclockDriver, shmAvailable, shmSample } from '../../src/io/shm.js';
import { SHM_OFFSET } from '../../src/refclock/shm-struct.js';
import { ntpTimeToUnixNs } from '../../src/time/ntp-time.js';

/** Unit 118 (key 0x4e5450a6): the unit range 117-127 is this area's. */
const UNIT = 118;

describe('SHM segment via FFI', { skip: shmAvailable() ? false : 'no FFI shared memory (koffi)' }, () => {
  it('a writer and a reader attached to the same key see each other', () => {
    const w = attachShm(UNIT, { create: true, perm: 0o600 });
    assert.ok(w.ok, w.ok ? '' : w.error.message);
    try {
      const r = attachShm(UNIT, { create: false });
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.equal(r.segment.id, w.segment.id);
      assert.equal(r.segment.key, 0x4e5450a6);
      const now = realtimePair();
      w.segment.write({ clockNs: now.realtimeNs + 1_500_000_000n, receiveNs: now.realtimeNs, leap: 1 });
      const drv = new ShmRefclockDriver(r.segment, () => ({
        raw: now.raw + 10_000_000n,
        realtimeNs: now.realtimeNs + 10_000_000n,
      }));
      const got = drv.poll();
      assert.ok(got.ok);
      // The receive time is placed on the counter; the reference keeps its nanoseconds.
      assert.equal(got.sample.raw, now.raw);
      assert.equal(got.sample.leap, 1);
      assert.ok(got.sample.reference !== null);
      assert.equal(ntpTimeToUnixNs(got.sample.reference), now.realtimeNs + 1_500_000_000n);
      assert.equal(got.sample.dispersion, 2 ** -20);
      // The reader cleared valid in the shared memory: the writer's view sees it.
      assert.equal(w.segment.view.getInt32(SHM_OFFSET.valid, true), 0);
      assert.deepEqual(drv.poll(), { ok: false, error: { code: 'not-valid' } });
      drv.close();
      // shmSample without a driver.
      const s = shmSample(
        { clockNs: 2_000_000_000n, receiveNs: 1_000_000_000n, leap: 0, precision: 0, mode: 1, count: 2 },
        { raw: 50n, realtimeNs: 1_000_000_050n },
      );
      assert.equal(s.raw, 0n);
      assert.equal(s.dispersion, undefined);
    } finally {
      w.segment.remove();
    }
    // Removed: a reader that does not create finds nothing.
    const gone = attachShm(UNIT, { create: false });
    assert.equal(gone.ok, false);
    if (!gone.ok) assert.equal(gone.error.code, 'shmget');
  });
});
