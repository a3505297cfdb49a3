/** The host side: driver polls feeding the engine, the NMEA serial driver (over a plain file here). */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { NmeaRefclockDriver, type RefclockDriver, RefclockRunner } from '../../src/io/refclock-host.js';
import { nmeaSentence } from '../../src/refclock/nmea.js';
import { defaultRefclockConfig } from '../../src/refclock/types.js';
import { defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import type { Action } from '../../src/system/types.js';
import { ntpTimeToUnixNs } from '../../src/time/ntp-time.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('refclock host glue', () => {
  it('RefclockRunner polls a driver and hands its samples to the engine', async () => {
    const sys = new NtpSystem(defaultSystemConfig(), {
      discipline: new Rfc5905Discipline({ raw: 0n, time: 1n << 40n }),
      random: () => 0.5,
      crypto: nodeCrypto,
    });
    const { id } = sys.addRefclock(0n, { ...defaultRefclockConfig('SHM', '5'), dpoll: -5 });
    let raw = 0n;
    let n = 0;
    const driver: RefclockDriver = {
      poll: () => {
        n++;
        raw += 1_000_000n;
        return n % 2 === 0
          ? { ok: true, sample: { raw, reference: (1n << 40n) + (raw << 32n) / 1_000_000_000n } }
          : { ok: false, error: { code: 'not-valid' } };
      },
      close: () => {},
    };
    const actions: Action[] = [];
    const runner = new RefclockRunner(
      sys,
      (a) => actions.push(...a),
      () => raw,
    );
    runner.add(id, driver, 0.02);
    await sleep(250);
    runner.stop();
    const accepted = sys.refclocks.get(id)?.samplesAccepted ?? 0;
    assert.ok(accepted >= 3, `accepted ${accepted}`);
    assert.ok((runner.misses.get(id)?.['not-valid'] ?? 0) >= 3);
    const polls = n;
    await sleep(60);
    assert.equal(n, polls, 'stopped runner still polls');
  });

  it('NMEA driver reads sentences from a device (a file here), skips bad ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ntpkit-nmea-'));
    try {
      const path = join(dir, 'tty');
      await writeFile(
        path,
        [
          nmeaSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'),
          nmeaSentence('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W'),
          '$GPZDA,201530.00,04,07,2002,00,00*61',
          nmeaSentence('GPZDA,201530.00,04,07,2002,00,00'),
          '',
        ].join('\r\n'),
      );
      const d = new NmeaRefclockDriver(path, () => 7n);
      await sleep(100);
      const a = d.poll();
      const b = d.poll();
      d.close();
      assert.ok(a.ok && b.ok);
      assert.equal(a.sample.raw, 7n);
      assert.ok(a.sample.reference !== null && b.sample.reference !== null);
      assert.equal(
        ntpTimeToUnixNs(a.sample.reference),
        BigInt(Date.UTC(1994, 2, 23, 12, 35, 19)) * 1_000_000n,
      );
      assert.equal(
        ntpTimeToUnixNs(b.sample.reference),
        BigInt(Date.UTC(2002, 6, 4, 20, 15, 30)) * 1_000_000n,
      );
      assert.deepEqual(d.poll(), { ok: false, error: { code: 'no-sentence' } });
      assert.deepEqual(d.errors, { 'bad-checksum': 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
