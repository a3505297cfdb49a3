/**
 * A real third-party SHM writer: gpsd. The test serves NMEA (RMC + GGA, current UTC, each sentence
 * sent 100 ms after the second it names) on tcp://127.0.0.1:11703; gpsd (`-N -n`, control port 11702)
 * reads it and writes the time into the ntpd SHM segment, unit 0, as it does for a serial GPS (gpsd
 * does not export time from ptys, hence TCP). Then:
 *  - ntpkit's SHM driver and engine (refclock noselect: the clock stays CLOCK_REALTIME) read the
 *    segment and measure reference − local ≈ −(0.1 s + delivery), within [−0.2, −0.09] s;
 *  - then chronyd (`refclock SHM 0 refid GPS noselect`, -x under setpriv) reading the same segment
 *    reports the same offset within AGREE_BOUND. (One after the other: each reader clears `valid`, so
 *    two readers at fixed phases would not share gpsd's one sample per second.)
 * Skips when gpsd is not installed or SHM unit 0 already exists (a gpsd or ntpd of the host).
 * gpsd drops root and cannot remove its segments; the test removes the ones it made it create.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import {
  attachShm,
  realtimePair,
  removeShmKey,
  ShmRefclockDriver,
  shmAvailable,
  shmKeyExists,
} from '../../src/io/shm.js';
import { nmeaSentence } from '../../src/refclock/nmea.js';
import { decodeShmTime, shmKey } from '../../src/refclock/shm-struct.js';
import { defaultRefclockConfig } from '../../src/refclock/types.js';
import { defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import { formatUnixNs, unixNsToNtpTime } from '../../src/time/ntp-time.js';
import {
  type ChronydHandle,
  type Daemon,
  NO_SYS_TIME,
  skipReason,
  spawnDaemon,
  startChronyd,
  waitFor,
  whichBinary,
} from '../support/peers.js';

const NMEA_PORT = 11703;
const GPSD_PORT = 11702;
/** gpsd's segments: NTP units 0-7 and its own export segment "GPSD". */
const GPSD_KEYS = [...Array.from({ length: 8 }, (_, u) => shmKey(u)), 0x47505344];
const AGREE_BOUND = 0.005;

function skip(): string | null {
  if (!shmAvailable()) return 'no FFI shared memory (koffi)';
  const why = skipReason('gpsd', 'chronyd', 'chronyc', 'setpriv', 'root');
  if (why !== null) return why;
  if (shmKeyExists(shmKey(0))) return 'SHM unit 0 exists already (a gpsd/ntpd of the host?): not touching it';
  return null;
}
const why = skip();

/** "hhmmss.00" and "ddmmyy" of a Unix second. */
function nmeaTime(sec: number): { hms: string; dmy: string } {
  const iso = formatUnixNs(BigInt(sec) * 1_000_000_000n, 0);
  const [date, time] = iso.slice(0, 19).split('T') as [string, string];
  const [y, m, d] = date.split('-') as [string, string, string];
  return { hms: `${time.replaceAll(':', '')}.00`, dmy: `${d}${m}${y.slice(2)}` };
}

describe('SHM refclock fed by gpsd', { skip: why ?? false }, () => {
  let server: net.Server | null = null;
  let gpsd: Daemon | null = null;
  let chrony: ChronydHandle | null = null;
  let feeder: NodeJS.Timeout | null = null;
  after(async () => {
    if (feeder !== null) clearTimeout(feeder);
    await chrony?.stop();
    await gpsd?.stop();
    server?.close();
    for (const k of GPSD_KEYS) removeShmKey(k);
  });

  it('ntpkit and chronyd read the same offset from gpsd', { timeout: 50_000 }, async (t) => {
    // The NMEA source: a sentence pair 100 ms after each second, for every connected client.
    const clients = new Set<net.Socket>();
    server = net.createServer((c) => {
      clients.add(c);
      c.on('error', () => clients.delete(c));
      c.on('close', () => clients.delete(c));
    });
    await new Promise<void>((r) => server?.listen(NMEA_PORT, '127.0.0.1', () => r()));
    const tick = () => {
      const now = Date.now();
      const next = Math.floor(now / 1000) + 1;
      feeder = setTimeout(
        () => {
          const { hms, dmy } = nmeaTime(next);
          const text =
            `${nmeaSentence(`GPRMC,${hms},A,4807.038,N,01131.000,E,0.0,0.0,${dmy},,,A`)}\r\n` +
            `${nmeaSentence(`GPGGA,${hms},4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,`)}\r\n`;
          for (const c of clients) c.write(text);
          tick();
        },
        next * 1000 + 100 - now,
      );
    };
    tick();

    const gpsdBin = whichBinary('gpsd') ?? 'gpsd';
    gpsd = spawnDaemon(NO_SYS_TIME[0] ?? 'setpriv', [
      ...NO_SYS_TIME.slice(1),
      gpsdBin,
      '-N',
      '-n',
      '-D',
      '2',
      '-S',
      String(GPSD_PORT),
      `tcp://127.0.0.1:${NMEA_PORT}`,
    ]);
    // gpsd creates the segment, then writes once it has a few fixes.
    const seg = await waitFor(() => shmKeyExists(shmKey(0)), 10_000);
    assert.ok(seg, `gpsd made no SHM segment:\n${gpsd.output()}`);

    const start = realtimePair();
    const discipline = new Rfc5905Discipline({ raw: start.raw, time: unixNsToNtpTime(start.realtimeNs) });
    const sys = new NtpSystem(defaultSystemConfig(), { discipline, random: () => 0.5, crypto: nodeCrypto });
    const { id } = sys.addRefclock(process.hrtime.bigint(), {
      ...defaultRefclockConfig('SHM', '0'),
      refid: 'GPS',
      poll: 2,
      dpoll: -2,
      noselect: true,
    });
    sys.start(process.hrtime.bigint());
    const a = attachShm(0, { create: false });
    assert.ok(a.ok, a.ok ? '' : a.error.message);
    const driver = new ShmRefclockDriver(a.segment);
    const misses: Record<string, number> = {};
    const loop = setInterval(() => {
      const got = driver.poll();
      if (got.ok) sys.handleRefclockSample(process.hrtime.bigint(), id, got.sample);
      else misses[got.error.code] = (misses[got.error.code] ?? 0) + 1;
      sys.handleTimer(process.hrtime.bigint());
    }, 250);
    try {
      const ours = await waitFor(() => (sys.refclocks.get(id)?.history.length ?? 0) >= 2, 30_000);
      const src = sys.snapshot(process.hrtime.bigint()).sources.find((s) => s.id === id);
      assert.ok(
        ours,
        `ntpkit got no filtered sample from gpsd: ${JSON.stringify({ rejected: src?.rejected, misses, segment: { ...decodeShmTime(a.segment.view), clockSec: 0, receiveSec: 0 }, gpsdExited: gpsd.exited(), clients: clients.size })}`,
      );
      const offset = src?.offset ?? Number.NaN;
      assert.equal(src?.verdict, 'noselect');
      assert.ok(offset < -0.09 && offset > -0.2, `offset ${offset}`);
      // Every reader clears `valid`, and with readers at fixed phases one of them would take all of
      // gpsd's samples: chronyd reads the segment after ntpkit has stopped (gpsd's offset is steady).
      clearInterval(loop);
      chrony = await startChronyd({
        port: 0,
        conf: ['refclock SHM 0 refid GPS dpoll -2 poll 2 filter 1 noselect'],
      });

      let chronyOffset = Number.NaN;
      const ok = await waitFor(
        async () => {
          const out = (await chrony?.chronyc(['-c', 'sources'])) ?? '';
          const f = out
            .split('\n')
            .find((l) => l.split(',')[2] === 'GPS')
            ?.split(',');
          if (f === undefined || f[5] === '0') return false;
          chronyOffset = -Number(f[8]);
          return Number.isFinite(chronyOffset) && chronyOffset !== 0;
        },
        15_000,
        250,
      );
      assert.ok(ok, `chronyd never reported GPS:\n${chrony?.daemon.output()}`);
      t.diagnostic(
        `gpsd SHM: ntpkit ${(offset * 1e3).toFixed(3)} ms, chronyd ${(chronyOffset * 1e3).toFixed(3)} ms (reference − local)`,
      );
      assert.ok(Math.abs(chronyOffset - offset) < AGREE_BOUND, `ntpkit ${offset} vs chronyd ${chronyOffset}`);
    } finally {
      clearInterval(loop);
      driver.close();
    }
  });
});
