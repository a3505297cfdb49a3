import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { openPps, type PpsFetcher, PpsRefclockDriver } from '../../src/io/pps.js';
import type { PpsFetch } from '../../src/refclock/pps-struct.js';
import {
  decodeFetch,
  encodeFetch,
  fetchRequest,
  PPS_FETCH,
  PPS_GETPARAMS,
  PPS_SETPARAMS,
  PPS_TIME_INVALID,
} from '../../src/refclock/pps-struct.js';

describe('PPS (RFC 2783 on Linux)', () => {
  it('uses the kernel ioctl numbers', () => {
    assert.equal(PPS_GETPARAMS, 0x800870a1);
    assert.equal(PPS_SETPARAMS, 0x400870a2);
    assert.equal(PPS_FETCH, 0xc00870a4);
  });

  it('pps_fdata: request without waiting, decode of what the kernel fills in', () => {
    const req = fetchRequest();
    assert.equal(req.byteLength, 64);
    assert.equal(new DataView(req.buffer).getUint32(60, true), PPS_TIME_INVALID);
    const f: PpsFetch = {
      assertSequence: 41,
      clearSequence: 40,
      assertNs: 1_800_000_000_000_000_123n,
      clearNs: 1_800_000_000_100_000_000n,
      mode: 0x1001,
    };
    const b = encodeFetch(f);
    assert.deepEqual(decodeFetch(b), f);
    assert.equal(new DataView(b.buffer).getInt32(16, true), 123);
  });

  it('driver: one pulse sample per new assert sequence, placed on the counter', () => {
    let fetch: PpsFetch = { assertSequence: 0, clearSequence: 0, assertNs: 0n, clearNs: 0n, mode: 0 };
    const dev: PpsFetcher = { fetch: () => ({ ok: true, fetch }), close: () => {} };
    // Counter 5 s ↔ realtime 1000.25 s.
    const d = new PpsRefclockDriver(dev, () => ({ raw: 5_000_000_000n, realtimeNs: 1_000_250_000_000n }));
    assert.deepEqual(d.poll(), { ok: false, error: { code: 'no-pulse' } });
    fetch = { ...fetch, assertSequence: 1, assertNs: 1_000_000_000_000n };
    const p = d.poll();
    assert.ok(p.ok);
    assert.equal(p.sample.raw, 4_750_000_000n);
    assert.equal(p.sample.reference, null);
    assert.deepEqual(d.poll(), { ok: false, error: { code: 'no-pulse' } });
  });

  it('a real /dev/pps0 answers PPS_FETCH', (t) => {
    if (!existsSync('/dev/pps0')) return t.skip('no /dev/pps0 on this machine');
    const r = openPps('/dev/pps0');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const f = r.device.fetch();
    r.device.close();
    assert.ok(f.ok, f.ok ? '' : f.error.message);
  });

  it('a missing device is a typed error, not an exception', () => {
    const r = openPps('/dev/ntpkit-no-such-pps');
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.error.code === 'open' || r.error.code === 'ffi-unavailable');
  });
});
