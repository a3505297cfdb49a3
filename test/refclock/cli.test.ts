/** `ntpkit refclock` (src/cli/refclock.ts), called in-process with stdout captured. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../src/cli/refclock.js';
import { attachShm, shmAvailable } from '../../src/io/shm.js';
import { SHM_OFFSET } from '../../src/refclock/shm-struct.js';

async function capture(f: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => {
    out += String(s);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    err += String(s);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await f(), out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

describe('ntpkit refclock', () => {
  it('shm: peeks a segment without clearing valid (unit 119)', {
    skip: shmAvailable() ? false : 'no FFI',
  }, async () => {
    const w = attachShm(119, { create: true });
    assert.ok(w.ok);
    try {
      w.segment.write({ clockNs: 1_800_000_000_123_456_789n, receiveNs: 1_800_000_000_100_000_000n });
      const r = await capture(() => run(['shm', '119', '--json']));
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out) as { offset: number; valid: number; mode: number };
      assert.equal(j.valid, 1);
      assert.equal(j.mode, 1);
      assert.ok(Math.abs(j.offset - 0.023456789) < 1e-9);
      assert.equal(w.segment.view.getInt32(SHM_OFFSET.valid, true), 1);
    } finally {
      w.segment.remove();
    }
    const gone = await capture(() => run(['shm', '119']));
    assert.equal(gone.code, 1);
    assert.match(gone.err, /no writer/);
  });

  it('nmea: one line per sentence, exit 1 on bad checksums', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ntpkit-nmea-cli-'));
    try {
      const f = join(dir, 'in.nmea');
      await writeFile(f, '$GPZDA,201530.00,04,07,2002,00,00*60\r\n$GPZDA,201530.00,04,07,2002,00,00*61\r\n');
      const r = await capture(() => run(['nmea', f]));
      assert.equal(r.code, 1);
      const lines = r.out.trim().split('\n');
      assert.equal(lines[0], 'GPZDA 2002-07-04T20:15:30.000Z valid');
      assert.match(lines[1] ?? '', /^bad-checksum/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('usage errors exit 2', async () => {
    assert.equal((await capture(() => run(['bogus']))).code, 2);
    assert.equal((await capture(() => run(['shm', '--count', '0']))).code, 2);
    assert.equal((await capture(() => run(['pps']))).code, 2);
  });
});
