/**
 * The SHM reference clock end to end. The test writes the ntpd SHM segment itself (through FFI, as
 * gpsd or phc2sys would), with a reference time ahead of CLOCK_REALTIME by a known OFFSET:
 *  - the ntpkit engine (real time, raw counter = process.hrtime) reads the segment every 250 ms,
 *    selects the refclock (stratum 1, refid SHM0) and its software clock locks to
 *    CLOCK_REALTIME + OFFSET within LOCK_BOUND;
 *  - chronyd (`refclock SHM <unit> refid SHM0`, -x under setpriv: the host clock is never touched)
 *    reads the very same segment and reports the same offset within AGREE_BOUND;
 *  - the engine serves NTP on 127.0.0.1:PORT and chronyd, polling it, sees a stratum-1 server with
 *    refid SHM0 whose time is CLOCK_REALTIME + OFFSET within SERVE_BOUND (an independent check of
 *    the lock, made with the host's clock by another implementation).
 * Unit 117 (key 0x4e5450a5) so that a gpsd on the host (units 0-3) is never disturbed.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, describe, it } from 'node:test';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import {
  attachShm,
  realtimePair,
  ShmRefclockDriver,
  type ShmSegment,
  shmAvailable,
} from '../../src/io/shm.js';
import { defaultRefclockConfig } from '../../src/refclock/types.js';
import { defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import type { Action } from '../../src/system/types.js';
import { durationToSeconds, unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { type ChronydHandle, skipReason, sleep, startChronyd, waitFor } from '../support/peers.js';

const UNIT = 117;
/** Reference time minus CLOCK_REALTIME written into the segment (s). */
const OFFSET = 0.2718;
const OFFSET_NS = 271_800_000n;
/** |ntpkit clock − (realtime + OFFSET)| after locking (s). */
const LOCK_BOUND = 100e-6;
/** |ntpkit's measured offset − chronyd's| (s). */
const AGREE_BOUND = 100e-6;
/** |chronyd's offset of ntpkit's served time − OFFSET| (s): loopback and user-space stamps. */
const SERVE_BOUND = 1e-3;
const PORT = 11701;

const why = shmAvailable()
  ? skipReason('chronyd', 'chronyc', 'setpriv', 'root')
  : 'no FFI shared memory (koffi)';

describe('SHM refclock: own writer, ntpkit engine and chronyd on one segment', { skip: why ?? false }, () => {
  let writerSeg: ShmSegment | null = null;
  let writer: NodeJS.Timeout | null = null;
  let chrony: ChronydHandle | null = null;
  after(async () => {
    if (writer !== null) clearInterval(writer);
    await chrony?.stop();
    writerSeg?.remove();
  });

  it('locks the engine to the segment and agrees with chronyd', { timeout: 45_000 }, async (t) => {
    const w = attachShm(UNIT, { create: true, perm: 0o600 });
    assert.ok(w.ok, w.ok ? '' : w.error.message);
    writerSeg = w.segment;
    const seg = w.segment;
    // The writer: like gpsd, a sample every 50 ms (reference = realtime + OFFSET at that instant).
    const write = () => {
      const now = realtimePair();
      seg.write({ clockNs: now.realtimeNs + OFFSET_NS, receiveNs: now.realtimeNs, precision: -20, mode: 1 });
    };
    write();
    writer = setInterval(write, 50);

    chrony = await startChronyd({
      port: 0,
      conf: [
        `refclock SHM ${UNIT} refid SHM0 poll 0 dpoll -2 filter 4 noselect`,
        `server 127.0.0.1 port ${PORT} iburst minpoll -2 maxpoll -2 noselect`,
      ],
    });

    // The engine over process.hrtime, its clock starting at CLOCK_REALTIME.
    const start = realtimePair();
    const discipline = new Rfc5905Discipline({
      raw: start.raw,
      time: unixNsToNtpTime(start.realtimeNs),
      minpoll: 0,
      maxpoll: 0,
      // A known frequency (as from a drift file): FSET, so the step is followed by SYNC at once.
      initialFrequencyPpm: 0,
    });
    const sys = new NtpSystem(defaultSystemConfig(), { discipline, random: () => 0.5, crypto: nodeCrypto });
    const cfg = {
      ...defaultRefclockConfig('SHM', String(UNIT)),
      refid: 'SHM0',
      poll: 0,
      dpoll: -2,
      filter: 8,
    };
    const { id } = sys.addRefclock(process.hrtime.bigint(), cfg);
    assert.equal(id, 'SHM0');
    const events: string[] = [];
    let stepOffset = Number.NaN;
    const note = (acts: Action[]) => {
      for (const a of acts)
        if (a.kind === 'event') {
          events.push(a.event.kind);
          if (a.event.kind === 'clock-step') stepOffset = a.event.offset;
        }
    };
    // The engine as a server: datagrams in, send actions out.
    const sock = dgram.createSocket('udp4');
    const run = (acts: Action[]) => {
      note(acts);
      for (const a of acts)
        if (a.kind === 'send') {
          const txId = a.txId;
          sock.send(a.bytes, a.to.port, a.to.address, () => {
            if (txId !== undefined) sys.handleTransmitted(txId, process.hrtime.bigint());
          });
        }
    };
    sock.on('message', (msg, rinfo) => {
      const raw = process.hrtime.bigint();
      run(sys.handlePacket(raw, new Uint8Array(msg), { address: rinfo.address, port: rinfo.port }));
    });
    await new Promise<void>((resolve) => sock.bind(PORT, '127.0.0.1', () => resolve()));
    note(sys.start(process.hrtime.bigint()));
    const r = attachShm(UNIT, { create: false });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const driver = new ShmRefclockDriver(r.segment);
    const errors: Record<string, number> = {};
    const loop = setInterval(() => {
      const got = driver.poll();
      if (got.ok) run(sys.handleRefclockSample(process.hrtime.bigint(), id, got.sample));
      else errors[got.error.code] = (errors[got.error.code] ?? 0) + 1;
      run(sys.handleTimer(process.hrtime.bigint()));
    }, 250);
    try {
      // Locked: the engine stepped its clock onto the reference and then saw a small offset.
      const locked = await waitFor(() => {
        const s = sys.snapshot(process.hrtime.bigint());
        const src = s.sources.find((x) => x.id === id);
        return (
          s.sysPeer === id &&
          s.stratum === 1 &&
          events.includes('clock-step') &&
          src !== undefined &&
          src.filter.length >= 3
        );
      }, 20_000);
      const snap = sys.snapshot(process.hrtime.bigint());
      assert.ok(locked, `not locked: ${JSON.stringify({ events, errors, sources: snap.sources })}`);
      assert.equal(snap.stratum, 1);
      assert.equal(snap.refid, 'SHM0');
      const src = snap.sources.find((x) => x.id === id);
      assert.equal(src?.mode, 'refclock');
      assert.equal(src?.verdict, 'sys-peer');
      // The step is the first filtered offset, measured against a clock equal to CLOCK_REALTIME.
      const first = stepOffset;
      assert.ok(Math.abs(first - OFFSET) < LOCK_BOUND, `first measured offset ${first}`);
      // Lock: ntpkit's clock minus (CLOCK_REALTIME + OFFSET), measured by the test itself.
      let worst = 0;
      for (let i = 0; i < 5; i++) {
        const p = realtimePair();
        const err = durationToSeconds(
          discipline.clock.read(p.raw) - unixNsToNtpTime(p.realtimeNs + OFFSET_NS),
        );
        worst = Math.max(worst, Math.abs(err));
        await sleep(100);
      }
      t.diagnostic(
        `engine: first offset ${(first * 1e3).toFixed(4)} ms, clock error after lock ≤ ${(worst * 1e6).toFixed(1)} µs, latest offset ${((src?.offset ?? 0) * 1e6).toFixed(1)} µs`,
      );
      assert.ok(worst < LOCK_BOUND, `clock error ${worst} s after locking`);

      // chronyd on the same segment: its offset (chrony's sign: local − reference) is −OFFSET.
      let chronyOffset = Number.NaN;
      const ok = await waitFor(
        async () => {
          const out = await chrony?.chronyc(['-c', 'sources']);
          const line = out?.split('\n').find((l) => l.split(',')[2] === 'SHM0');
          const f = line?.split(',');
          if (f === undefined || f[5] === '0') return false;
          chronyOffset = Number(f[8]);
          return Number.isFinite(chronyOffset) && chronyOffset !== 0;
        },
        15_000,
        250,
      );
      assert.ok(ok, `chronyd never reported the SHM0 source:\n${chrony?.daemon.output()}`);
      t.diagnostic(`chronyd: measured offset ${(chronyOffset * 1e3).toFixed(4)} ms (local − reference)`);
      assert.ok(
        Math.abs(-chronyOffset - first) < AGREE_BOUND,
        `chronyd ${-chronyOffset} s vs ntpkit ${first} s (reference − local)`,
      );

      // chronyd as a client of the engine: stratum 1, refid SHM0, time = realtime + OFFSET.
      let served: string[] = [];
      const seen = await waitFor(
        async () => {
          const out = (await chrony?.chronyc(['-c', 'sources'])) ?? '';
          served =
            out
              .split('\n')
              .find((l) => l.split(',')[2] === '127.0.0.1')
              ?.split(',') ?? [];
          // Stratum 1 and at least 4 answers (reach 017).
          return served[3] === '1' && (Number.parseInt(served[5] ?? '0', 8) & 0o17) === 0o17;
        },
        15_000,
        250,
      );
      assert.ok(seen, `chronyd does not see ntpkit as stratum 1: ${served.join(',')}`);
      const ntpdata = (await chrony?.chronyc(['ntpdata', '127.0.0.1'])) ?? '';
      assert.match(ntpdata, /Reference ID\s*:\s*53484D30 \(SHM0\)/);
      const servedOffset = -Number(served[8]);
      t.diagnostic(
        `chronyd sees ntpkit's server ${(servedOffset * 1e3).toFixed(4)} ms ahead of the host clock`,
      );
      assert.ok(
        Math.abs(servedOffset - OFFSET) < SERVE_BOUND,
        `chronyd measures ntpkit's served time ${servedOffset} s ahead, expected ${OFFSET}`,
      );
    } finally {
      clearInterval(loop);
      driver.close();
      sock.close();
    }
  });
});
