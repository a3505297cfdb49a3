/**
 * `[clock] system-clock` across a leap second, in every leap-mode: the daemon's follower
 * (src/daemon/follow-clock.ts) and the driver (src/io/sysclock.ts) steering the Linux kernel model
 * (src/clock/kernel-model.ts, which carries out STA_INS/STA_DEL as the kernel does), on a simulated
 * counter, so every run is deterministic and the host clock is never touched.
 *
 * The engine's part is played by the leap layer itself (LeapControl over a perfect software clock:
 * the vote of four sources, the leap carried out when due) — what the engine would serve. The
 * follower runs on its own schedule (`nextDelayMs`), the engine's leap poll at `dueRaw` and every
 * 250 ms, and the kernel clock is read every 100 ms (off the second boundaries).
 *
 * step: the kernel is given STA_INS/STA_DEL on the last day and repeats/skips the second itself;
 * ntpkit does not step it again; the host clock is within 1 ms of true UTC (leap included) at every
 * reading. slew, smear: no STA flag ever; the kernel follows the served (slewed, smeared) time within
 * 1 ms, the slew's 83 333 ppm through ADJ_TICK. ignore: no flag, the kernel keeps the served time.
 *
 * Then the whole daemon (step mode, in-process, real time): its software clock and the kernel model
 * start at 23:59:35 of 2016-12-31 (the model realtime and a test server that inserts the leap as the
 * kernel does, test/support/leap-server.ts, shifted by whole seconds); the kernel model is within
 * 1 ms of that server's UTC every 100 ms from 23:59:50 to 00:00:10 and inserts the second itself.
 * Port 11257 (server on 127.0.0.2).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  emptyTimex,
  KernelClockModel,
  NOMINAL_TICK,
  STA_DEL,
  STA_INS,
  STA_UNSYNC,
  TIME_OK,
} from '../../src/clock/kernel-model.js';
import type { LeapMode } from '../../src/clock/leap.js';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { SystemClockFollower } from '../../src/daemon/follow-clock.js';
import { createLogger } from '../../src/daemon/log.js';
import { MAX_RATE_PPM, modelKernel } from '../../src/io/sysclock.js';
import { LeapControl } from '../../src/system/leap-control.js';
import { ntpTimeToUnixNs, unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { FakeClock } from '../support/fake-discipline.js';
import { type LeapServer, startLeapServer } from '../support/leap-server.js';
import { waitFor } from '../support/peers.js';

const S = 1_000_000_000n;
const MS = 1_000_000n;
/** 2017-01-01T00:00:00Z, Unix ns. */
const MID = 1_483_228_800n * S;

interface Run {
  /** Worst |kernel − expected| (s), where expected is true UTC (step) or the served time (others). */
  worst: number;
  worstAt: number;
  /** Worst |kernel − served| (s). */
  worstServed: number;
  flagsSeen: number;
  model: KernelClockModel;
  lines: string[];
  maxRatePpm: number;
  ticks: Set<number>;
  /** Kernel readings that went backwards (s, realtime − previous), and forward gaps over 150 ms. */
  back: number[];
  jumps: number[];
  lc: LeapControl;
}

/**
 * From `from` to `to` seconds around midnight, a leap `kind` announced by all four sources during
 * the last day: the follower drives the kernel model in `mode`.
 */
function run(mode: LeapMode, kind: 'insert' | 'delete', from: number, to: number, smearWindow?: number): Run {
  const start = MID + BigInt(from) * S;
  let hw = 0n;
  const base = new FakeClock(0, 0, unixNsToNtpTime(start));
  base.synced = true;
  // The kernel starts 0.3 ms behind, synchronised to nothing.
  const model = new KernelClockModel({ hw: 0n, realtime: start - 300_000n, status: STA_UNSYNC });
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json' }, (l) => lines.push(l));
  const config = parseConfig('[clock]\nsystem-clock = true\n').clock;
  const follower = SystemClockFollower.create(
    config,
    modelKernel(model, () => hw),
    () => log,
  );
  assert.ok(follower !== null, lines.join(''));
  const lc = new LeapControl(base, mode, smearWindow);
  const li = kind === 'insert' ? 1 : 2;
  /** True UTC at counter `h`: the continuous time, the leap second repeated (insert) or skipped (delete). */
  const truth = (h: bigint): bigint => {
    const t = start + h;
    if (kind === 'insert') return t >= MID ? t - S : t;
    return t >= MID - S ? t + S : t;
  };
  const end = BigInt(to - from) * S;
  let nextFollow = 0n;
  let nextUpdate = 0n;
  let nextRead = 37n * MS;
  let prev: bigint | null = null;
  const r: Run = {
    worst: 0,
    worstAt: 0,
    worstServed: 0,
    flagsSeen: 0,
    model,
    lines,
    maxRatePpm: 0,
    ticks: new Set(),
    back: [],
    jumps: [],
    lc,
  };
  while (hw < end) {
    const due = lc.dueRaw(hw);
    const upd = due !== null && due < nextUpdate ? due : nextUpdate;
    hw = [nextFollow, upd, nextRead].reduce((a, b) => (b < a ? b : a));
    if (hw === upd) {
      // The engine: a selection of the four sources (their LI), and the leap carried out when due.
      const before = Number(start + hw - MID) < 0;
      lc.update(hw, [before ? li : 0, before ? li : 0, before ? li : 0, before ? li : 0], 4);
      if (hw === nextUpdate) nextUpdate += 250n * MS;
    }
    if (hw === nextFollow) {
      follower.tick(lc, () => true);
      const st = follower.nextDelayMs(lc);
      nextFollow = hw + BigInt(st) * MS;
      const k = follower.status();
      assert.ok(k !== null);
      r.flagsSeen |= k.status & (STA_INS | STA_DEL);
      r.ticks.add(k.tick);
      r.maxRatePpm = Math.max(r.maxRatePpm, Math.abs((k.tick - NOMINAL_TICK) * 100 + k.frequencyPpm));
    }
    if (hw === nextRead) {
      const k = model.realtime(hw);
      const served = ntpTimeToUnixNs(lc.clock.served.read(hw));
      const exp = mode === 'step' ? truth(hw) : served;
      const e = Math.abs(Number(k - exp)) / 1e9;
      if (e > r.worst) {
        r.worst = e;
        r.worstAt = Number(hw) / 1e9 + from;
      }
      r.worstServed = Math.max(r.worstServed, Math.abs(Number(k - served)) / 1e9);
      if (prev !== null && k < prev) r.back.push(Number(k - prev) / 1e9);
      if (prev !== null && k - prev > 150n * MS) r.jumps.push(Number(k - prev) / 1e9);
      prev = k;
      nextRead += 100n * MS;
    }
  }
  return r;
}

function note(r: Run): string {
  return `kernel within ${(r.worst * 1e6).toFixed(1)} µs at ${r.worstAt.toFixed(2)} s (of the served time: ${(r.worstServed * 1e6).toFixed(1)} µs), largest rate ${r.maxRatePpm.toFixed(0)} ppm, ticks ${[...r.ticks].join(',')}`;
}

function summary(r: Run): string {
  return `worst ${(r.worst * 1e3).toFixed(3)} ms at ${r.worstAt.toFixed(2)} s; back ${r.back}; jumps ${r.jumps}; kernel leaps ${JSON.stringify(r.model.leaps)}, steps ${r.model.steps}\n${r.lines.join('')}`;
}

describe('system clock across a leap second (kernel model)', () => {
  for (const kind of ['insert', 'delete'] as const) {
    it(`step mode, ${kind}: the kernel gets STA_${kind === 'insert' ? 'INS' : 'DEL'}, does the second itself, within 1 ms of true UTC`, (t) => {
      const r = run('step', kind, -120, 120);
      t.diagnostic(note(r));
      assert.ok(r.worst < 1e-3, summary(r));
      assert.equal(r.flagsSeen, kind === 'insert' ? STA_INS : STA_DEL, 'the flag was set on the last day');
      assert.deepEqual(r.model.leaps, [{ kind, midnight: Number(MID / S) }], summary(r));
      assert.deepEqual(r.model.steps, [], 'ntpkit never stepped the kernel');
      // No double second: one repeated second (one reading back by ~0.9 s) or one skipped (a 1.1 s gap).
      if (kind === 'insert') {
        assert.equal(r.back.length, 1, summary(r));
        assert.ok(Math.abs((r.back[0] ?? 0) + 0.9) < 2e-3, summary(r));
        assert.deepEqual(r.jumps, []);
      } else {
        assert.deepEqual(r.back, []);
        assert.equal(r.jumps.length, 1, summary(r));
        assert.ok(Math.abs((r.jumps[0] ?? 0) - 1.1) < 2e-3, summary(r));
      }
      const st = r.model.adjtimex(BigInt(240) * S, emptyTimex(0));
      assert.ok(st.ok && (st.timex.status & (STA_INS | STA_DEL)) === 0, 'flag cleared after the leap');
      assert.equal(r.model.leapState(240n * S), TIME_OK);
      assert.ok(!r.lines.some((l) => l.includes('system clock stepped')), summary(r));
    });

    it(`slew mode, ${kind}: no STA flag, the kernel follows the 12 s slew (83 333 ppm, ADJ_TICK) within 1 ms`, (t) => {
      const r = run('slew', kind, -60, 60);
      t.diagnostic(note(r));
      assert.ok(r.worst < 1e-3, summary(r));
      assert.equal(r.flagsSeen, 0);
      assert.deepEqual(r.model.leaps, []);
      assert.deepEqual(r.model.steps, [], summary(r));
      assert.ok(r.maxRatePpm > 80_000 && r.maxRatePpm <= MAX_RATE_PPM, `rate ${r.maxRatePpm} ppm`);
      assert.ok(
        [...r.ticks].some((t) => t !== NOMINAL_TICK),
        'the tick was used',
      );
      assert.ok(r.ticks.has(NOMINAL_TICK), 'and set back to nominal after the slew');
      assert.equal(r.back.length, 0, 'the host clock never goes back');
    });

    it(`smear mode, ${kind}: no STA flag, the kernel follows the smeared time within 1 ms`, (t) => {
      // A 20-minute window: 1 s over 1200 s is 833 ppm, beyond ADJ_FREQUENCY alone.
      const r = run('smear', kind, -900, 900, 1200);
      t.diagnostic(note(r));
      assert.ok(r.worst < 1e-3, summary(r));
      assert.equal(r.flagsSeen, 0);
      assert.deepEqual(r.model.leaps, []);
      assert.deepEqual(r.model.steps, [], summary(r));
      assert.ok(r.maxRatePpm > 800, `rate ${r.maxRatePpm} ppm`);
      assert.equal(r.back.length, 0);
      assert.deepEqual(r.jumps, []);
    });

    it(`ignore mode, ${kind}: no STA flag, no leap in the kernel, which keeps the served time`, (t) => {
      const r = run('ignore', kind, -60, 60);
      t.diagnostic(note(r));
      assert.ok(r.worst < 1e-3, summary(r));
      assert.equal(r.flagsSeen, 0);
      assert.deepEqual(r.model.leaps, []);
      assert.deepEqual(r.model.steps, []);
      assert.deepEqual(r.back, []);
      assert.deepEqual(r.jumps, []);
    });
  }
});

describe('the daemon with system-clock across an inserted leap second (kernel model, real time)', () => {
  const PORT = 11257;
  const midnight = Number(MID / S);
  let leap: LeapServer | null = null;
  let d: Daemon | null = null;
  before(async () => {
    const shift = midnight - 25 - Math.floor(Date.now() / 1000);
    leap = await startLeapServer(PORT, shift, midnight, '127.0.0.2');
  });
  after(async () => {
    await d?.stop();
    await leap?.close();
  });

  it('step mode: STA_INS on the last day, the kernel repeats 23:59:59 itself, within 1 ms of UTC throughout', {
    timeout: 90_000,
  }, async (t) => {
    const server = leap as LeapServer;
    const hw = () => process.hrtime.bigint();
    const model = new KernelClockModel({ hw: hw(), realtime: server.truth(server.real()) - 300_000n });
    const lines: string[] = [];
    d = await startDaemon(
      parseConfig(`
[[server]]
address = "127.0.0.2"
port = ${PORT}
iburst = true
minpoll = -3
maxpoll = -3
[serve]
enabled = false
listen = ["127.0.0.1"]
[clock]
system-clock = true
leap-mode = "step"
[observe]
control-socket = false
`),
      {
        kernel: modelKernel(model, hw),
        logger: createLogger({ level: 'info', format: 'json' }, (l) => lines.push(l)),
      },
    );
    const utc = () => Number(server.truth(server.real()) - MID) / 1e9;
    const synced = await waitFor(() => d?.snapshot().system.leapPending != null, 20_000, 100);
    assert.ok(synced && utc() < -12, `leap not scheduled in time (${utc()} s)\n${lines.join('')}`);
    const stepsBefore = model.steps.length;
    let flags = 0;
    const errs: { at: number; err: number }[] = [];
    const done = await waitFor(
      () => {
        const h = hw();
        const k = model.realtime(h);
        const truth = server.truth(server.real());
        const at = Number(truth - MID) / 1e9;
        if (at >= -10 && at < 10) errs.push({ at, err: Number(k - truth) / 1e9 });
        const st = model.adjtimex(h, emptyTimex(0));
        if (st.ok) flags |= st.timex.status & (STA_INS | STA_DEL);
        return at >= 10;
      },
      60_000,
      100,
    );
    assert.ok(done);
    const worst = errs.reduce((w, e) => (Math.abs(e.err) > Math.abs(w.err) ? e : w), { at: 0, err: 0 });
    t.diagnostic(
      `${errs.length} readings, worst ${(worst.err * 1e6).toFixed(0)} µs at ${worst.at.toFixed(2)} s`,
    );
    // The reading pair is not atomic: a reading that straddles the kernel's and the server's midnight
    // (both to within the kernel's offset) may show the second; those within 2 ms of midnight are left out.
    const bad = errs.filter((e) => Math.abs(e.err) >= 1e-3 && Math.abs(e.at) > 2e-3);
    assert.deepEqual(bad, [], lines.join(''));
    assert.ok(errs.length > 150, `only ${errs.length} readings`);
    assert.equal(flags, STA_INS, 'STA_INS set before midnight');
    assert.deepEqual(model.leaps, [{ kind: 'insert', midnight }], 'the kernel inserted the second');
    assert.equal(model.steps.length, stepsBefore, 'ntpkit did not step the kernel');
    assert.ok(lines.some((l) => l.includes('leap second inserted at 2016-12-31T23:59:60Z (step mode')));
  });
});
