/**
 * Reference clocks inside the engine, in simulated time (the raw counter is the true time in ns
 * since T0): selection as a stratum-0 source, the system at stratum 1 with the refclock's refid, the
 * clock locking to it, noselect/trust/prefer, reachability, and PPS numbered by a locked NMEA-like
 * refclock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { defaultRefclockConfig, type RefclockConfig } from '../../src/refclock/types.js';
import { seeded } from '../../src/sim/rng.js';
import { defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import type { Action } from '../../src/system/types.js';
import { durationToSeconds, secondsToDuration, unixNsToNtpTime } from '../../src/time/ntp-time.js';

/** True time at raw 0: 2026-11-21T00:00:00Z as NTP time. */
const T0 = unixNsToNtpTime(BigInt(Date.UTC(2026, 10, 21)) * 1_000_000n);
const S = 1_000_000_000n;

function setup(clockError: number, opts: { frequency?: boolean } = {}) {
  const discipline = new Rfc5905Discipline({
    raw: 0n,
    time: T0 + secondsToDuration(clockError),
    minpoll: 2,
    maxpoll: 2,
    ...(opts.frequency === false ? {} : { initialFrequencyPpm: 0 }),
  });
  const sys = new NtpSystem(defaultSystemConfig(), { discipline, random: () => 0.5, crypto: nodeCrypto });
  const events: Action[] = [];
  return { discipline, sys, events };
}

/** Clock error (local − true, s) at raw. */
function clockError(d: Rfc5905Discipline, raw: bigint): number {
  return durationToSeconds(d.clock.read(raw) - (T0 + (raw << 32n) / S));
}

const cfg = (over: Partial<RefclockConfig>): RefclockConfig => ({
  ...defaultRefclockConfig('SHM', '0'),
  poll: 2,
  dpoll: -2,
  ...over,
});

/** Feeds refclock samples every 250 ms for `seconds`, reference = true + refOffset + noise. */
function run(
  sys: NtpSystem,
  feeds: { id: string; refOffset: number; noise: number; pulse?: boolean }[],
  from: bigint,
  seconds: number,
  rnd: () => number,
  events: Action[] = [],
): bigint {
  let raw = from;
  const end = from + BigInt(seconds) * S;
  while (raw < end) {
    raw += 250_000_000n;
    for (const f of feeds) {
      if (f.pulse) {
        // A pulse every second, at the true start of the second (+ noise): raw marks it.
        if (raw % S !== 0n) continue;
        const at = raw + BigInt(Math.round((rnd() - 0.5) * 2 * f.noise * 1e9));
        events.push(...sys.handleRefclockSample(at, f.id, { raw: at, reference: null }));
      } else {
        const noise = (rnd() - 0.5) * 2 * f.noise;
        const ref = T0 + (raw << 32n) / S + secondsToDuration(f.refOffset + noise);
        events.push(...sys.handleRefclockSample(raw, f.id, { raw, reference: ref }));
      }
    }
    events.push(...sys.handleTimer(raw));
  }
  return raw;
}

describe('refclocks in the engine', () => {
  it('selects an SHM refclock: stratum 1, refid SHM0, clock locked within 20 µs', (t) => {
    const { discipline, sys, events } = setup(0.4);
    const { id } = sys.addRefclock(0n, cfg({ refid: 'SHM0' }));
    sys.start(0n);
    const raw = run(sys, [{ id, refOffset: 0, noise: 20e-6 }], 0n, 120, seeded(1), events);
    const snap = sys.snapshot(raw);
    assert.equal(snap.sysPeer, 'SHM0');
    assert.equal(snap.stratum, 1);
    assert.equal(snap.refid, 'SHM0');
    assert.equal(snap.synchronised, true);
    const src = snap.sources.find((s) => s.id === 'SHM0');
    assert.equal(src?.mode, 'refclock');
    assert.equal(src?.stratum, 0);
    assert.equal(src?.reach, 0xff);
    assert.equal(src?.verdict, 'sys-peer');
    assert.equal(src?.refclock?.driver, 'SHM');
    assert.ok(events.some((a) => a.kind === 'event' && a.event.kind === 'clock-step'));
    const err = clockError(discipline, raw);
    t.diagnostic(`SHM (±20 µs noise): clock error after 120 s ${(err * 1e6).toFixed(2)} µs`);
    assert.ok(Math.abs(err) < 20e-6, `clock error ${err}`);
    // Timer requests include the refclock polls.
    assert.ok(events.some((a) => a.kind === 'timer'));
  });

  it('applies the configured offset (reference + offset)', () => {
    const { discipline, sys } = setup(0);
    const { id } = sys.addRefclock(0n, cfg({ refid: 'GPS', offset: -0.05 }));
    sys.start(0n);
    // The reference is 50 ms late (like NMEA arrival); offset −0.05 corrects it.
    const raw = run(sys, [{ id, refOffset: 0.05, noise: 0 }], 0n, 60, seeded(2));
    assert.ok(Math.abs(clockError(discipline, raw)) < 5e-6);
  });

  it('noselect: observed but never selected', () => {
    const { sys } = setup(0);
    const { id } = sys.addRefclock(0n, cfg({ refid: 'SHM1', noselect: true }));
    sys.start(0n);
    const raw = run(sys, [{ id, refOffset: 0.001, noise: 0 }], 0n, 20, seeded(3));
    const snap = sys.snapshot(raw);
    assert.equal(snap.sysPeer, null);
    assert.equal(snap.sources[0]?.verdict, 'noselect');
    assert.ok(Math.abs((snap.sources[0]?.offset ?? 0) - 0.001) < 1e-9);
  });

  it('trust: a trusted refclock outvotes two agreeing untrusted ones', () => {
    const { sys } = setup(0);
    const a = sys.addRefclock(0n, cfg({ refid: 'TRU', trust: true })).id;
    const b = sys.addRefclock(0n, cfg({ refid: 'BAD1' })).id;
    const c = sys.addRefclock(0n, cfg({ refid: 'BAD2' })).id;
    sys.start(0n);
    const feeds = [
      { id: a, refOffset: 0, noise: 0 },
      { id: b, refOffset: 0.5, noise: 0 },
      { id: c, refOffset: 0.5, noise: 0 },
    ];
    let raw = run(sys, feeds, 0n, 12, seeded(4));
    let snap = sys.snapshot(raw);
    assert.equal(snap.sysPeer, 'TRU');
    const v = (x: string) => snap.sources.find((s) => s.id === x)?.verdict;
    assert.equal(v('BAD1'), 'falseticker');
    assert.equal(v('BAD2'), 'falseticker');
    // Without trust the majority wins.
    const other = setup(0);
    other.sys.addRefclock(0n, cfg({ refid: 'TRU' }));
    other.sys.addRefclock(0n, cfg({ refid: 'BAD1' }));
    other.sys.addRefclock(0n, cfg({ refid: 'BAD2' }));
    other.sys.start(0n);
    raw = run(other.sys, feeds, 0n, 12, seeded(4));
    snap = other.sys.snapshot(raw);
    assert.equal(snap.sources.find((s) => s.id === 'TRU')?.verdict, 'falseticker');
  });

  it('becomes unreachable when samples stop; the system peer is dropped', () => {
    const { sys, events } = setup(0);
    const { id } = sys.addRefclock(0n, cfg({ refid: 'SHM0' }));
    sys.start(0n);
    let raw = run(sys, [{ id, refOffset: 0, noise: 0 }], 0n, 12, seeded(5));
    assert.equal(sys.snapshot(raw).sysPeer, 'SHM0');
    raw = run(sys, [], raw, 40, seeded(5), events);
    const snap = sys.snapshot(raw);
    assert.equal(snap.sources[0]?.reach, 0);
    assert.equal(snap.sources[0]?.verdict, 'unreachable');
    assert.equal(snap.sysPeer, null);
    assert.ok(events.some((a) => a.kind === 'event' && a.event.kind === 'unreachable'));
  });

  it('PPS locked to a 0.3 s-late, jittery GPS: numbered pulses, prefer, clock within 5 µs', (t) => {
    // 0.7 s off: the pulse phase alone would say −0.3 s; the lock numbers the second correctly.
    const { discipline, sys, events } = setup(0.7);
    // NMEA arrives ~0.3 s after the second with ±20 ms jitter; the offset corrects most of it.
    const gps = sys.addRefclock(
      0n,
      cfg({ driver: 'NMEA', refid: 'GPS', offset: -0.3, delay: 0.2, noselect: true }),
    ).id;
    const pps = sys.addRefclock(0n, {
      ...defaultRefclockConfig('PPS', '/dev/pps0'),
      poll: 2,
      lock: 'GPS',
      prefer: true,
    }).id;
    assert.equal(pps, 'PPS');
    sys.start(0n);
    const rnd = seeded(6);
    const raw = run(
      sys,
      [
        { id: gps, refOffset: 0.3, noise: 0.02 },
        { id: pps, refOffset: 0, noise: 1e-6, pulse: true },
      ],
      0n,
      120,
      rnd,
      events,
    );
    const step = events.find((a) => a.kind === 'event' && a.event.kind === 'clock-step');
    assert.ok(step?.kind === 'event' && step.event.kind === 'clock-step');
    assert.ok(Math.abs(step.event.offset + 0.7) < 1e-3, `step ${step.event.offset}`);
    const snap = sys.snapshot(raw);
    assert.equal(snap.sysPeer, 'PPS');
    assert.equal(snap.refid, 'PPS');
    const p = snap.sources.find((s) => s.id === 'PPS');
    assert.equal(p?.refclock?.lock, 'GPS');
    assert.ok((p?.packetsReceived ?? 0) > 100);
    const err = clockError(discipline, raw);
    t.diagnostic(`PPS+GPS: clock error after 120 s ${(err * 1e6).toFixed(2)} µs`);
    assert.ok(Math.abs(err) < 5e-6, `clock error ${err}`);
  });

  it('PPS without a lock is refused while the clock is unsynchronised; a lock needs a sample', () => {
    const { sys } = setup(0, { frequency: false });
    const pps = sys.addRefclock(0n, { ...defaultRefclockConfig('PPS', '/dev/pps0'), poll: 2 }).id;
    assert.deepEqual(sys.refclockSample(pps, { raw: S, reference: null }), {
      ok: false,
      reason: 'clock-unsynchronised',
    });
    const locked = sys.addRefclock(0n, {
      ...defaultRefclockConfig('PPS', '/dev/pps1'),
      refid: 'PPS1',
      lock: 'GPS',
    }).id;
    assert.deepEqual(sys.refclockSample(locked, { raw: S, reference: null }), {
      ok: false,
      reason: 'no-lock-sample',
    });
    assert.deepEqual(sys.refclockSample(pps, { raw: 2n * S, reference: T0 }), {
      ok: false,
      reason: 'wrong-kind',
    });
    assert.deepEqual(sys.refclockSample('nope', { raw: S, reference: T0 }), {
      ok: false,
      reason: 'unknown-refclock',
    });
    assert.deepEqual(sys.snapshot(S).sources.find((s) => s.id === pps)?.rejected, {
      'clock-unsynchronised': 1,
      'wrong-kind': 1,
    });
  });

  it('drops leap-3 samples and rejects invalid configurations', () => {
    const { sys } = setup(0);
    const { id } = sys.addRefclock(0n, cfg({ refid: 'SHM0' }));
    assert.deepEqual(sys.refclockSample(id, { raw: S, reference: T0, leap: 3 }), {
      ok: false,
      reason: 'unsynchronised',
    });
    assert.throws(() => sys.addRefclock(0n, cfg({ refid: 'TOOLONG' })), /refid/);
    assert.throws(() => sys.addRefclock(0n, cfg({ filter: 0 })), /filter/);
    // Same refid twice: a unique id.
    assert.equal(sys.addRefclock(0n, cfg({ refid: 'SHM0' })).id, 'SHM0#2');
    const acts = sys.removeSource(0n, 'SHM0#2');
    assert.ok(acts.some((a) => a.kind === 'event' && a.event.kind === 'source-removed'));
    assert.deepEqual(sys.refclocks.ids(), ['SHM0']);
  });
});
