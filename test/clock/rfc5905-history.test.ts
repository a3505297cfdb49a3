import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import type { ClockSample } from '../../src/clock/types.js';
import { durationToSeconds, type NtpTime } from '../../src/time/ntp-time.js';

/**
 * The RFC 5905 discipline keeps a history of its clock model so that an offset measured in the past
 * can be referred to now (`offsetAt`): the engine compares and combines filter outputs of different
 * ages with it, and the discipline itself uses samples measured before its last update.
 */

const S = 1_000_000_000n;

function at(t: number): bigint {
  return BigInt(Math.round(t * 1e3)) * 1_000_000n;
}

function sample(t: number, offset: number, now = t): ClockSample {
  return {
    raw: at(t),
    now: at(now),
    offset,
    jitter: 1e-4,
    rootDelay: 0.001,
    rootDispersion: 0.0005,
    poll: 6,
    sourceId: 'A',
  };
}

test('readAt reproduces past readings across slews, frequency changes and steps', () => {
  const d = new Rfc5905Discipline({ stepout: 300 });
  const seen: Array<{ raw: bigint; time: NtpTime }> = [];
  const note = (t: number) => seen.push({ raw: at(t), time: d.clock.read(at(t)) });
  note(5);
  d.update(sample(10, 0.05)); // NSET: slew, FREQ
  note(12);
  note(40);
  d.update(sample(64, 0.03)); // FREQ (ignored or provisional)
  note(100);
  d.update(sample(400, 0.2)); // FREQ over the stepout: step, SYNC
  note(401);
  note(460);
  d.update(sample(464, 0.002)); // SYNC (hold): fast slew
  note(470);
  d.update(sample(528, -0.001, 600)); // measured before "now"
  note(700);
  for (const s of seen) {
    const err = durationToSeconds(d.readAt(s.raw) - s.time);
    assert.ok(Math.abs(err) < 2e-9, `reading at ${Number(s.raw) / 1e9} s off by ${err}`);
  }
});

test('offsetAt: an offset measured before a step and a slew is referred through both', () => {
  const d = new Rfc5905Discipline({ initialFrequencyPpm: 0, startupHold: false, stepInitialOffset: false });
  // FSET: first update slews 1 ms with the PLL time constant (4·64 s).
  d.update(sample(100, 0.001));
  // Half of the slew is applied after ln 2 · 256 s.
  const t1 = 100 + Math.log(2) * 256;
  const ref = d.offsetAt(at(100), 0.001, at(t1));
  assert.ok(Math.abs(ref - 0.0005) < 1e-9, `referred ${ref}`);
  // A step of +0.3 s (SPIK persisting past the stepout) moves every earlier offset by −0.3 s.
  assert.equal(d.update(sample(200, 0.3)).kind, 'spike');
  assert.equal(d.update(sample(1200, 0.3)).kind, 'step');
  const before = d.offsetAt(at(150), 0.3, at(1300));
  // The slew started at 100 s; between 150 s and the step at 1200 s (which cancels it) it applied:
  const applied = 0.001 * (Math.exp(-(150 - 100) / 256) - Math.exp(-(1200 - 100) / 256));
  assert.ok(Math.abs(before - (0.3 - 0.3 - applied)) < 1e-6, `across the step ${before}`);
  assert.equal(d.offsetAt(at(1300), 0.0123, at(1300)), 0.0123);
});

test('property: readAt(raw) equals the reading handed out at raw, whatever updates follow', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          dt: fc.integer({ min: 1, max: 400 }),
          off: fc.double({ min: -0.3, max: 0.3, noNaN: true }),
        }),
        { minLength: 1, maxLength: 25 },
      ),
      fc.boolean(),
      (steps, hold) => {
        const d = new Rfc5905Discipline({ startupHold: hold, stepout: 600 });
        let t = 1;
        const seen: Array<{ raw: bigint; time: NtpTime }> = [];
        for (const s of steps) {
          const mid = t + s.dt / 2;
          seen.push({ raw: at(mid), time: d.clock.read(at(mid)) });
          t += s.dt;
          d.update(sample(t, s.off));
        }
        for (const s of seen) {
          const err = durationToSeconds(d.readAt(s.raw) - s.time);
          if (!(Math.abs(err) < 5e-9)) return false;
        }
        return true;
      },
    ),
    { numRuns: 200, seed: 5905 },
  );
});

test('exchanges give a provisional frequency: FREQ no longer runs 900 s on the old frequency', () => {
  const d = new Rfc5905Discipline();
  // A server exact in time; our counter is 100 ppm fast (we need a −100 ppm correction).
  const y = -100e-6;
  const truth = (raw: bigint) => (Number(raw) / 1e9) * (1 + y);
  const T0 = 3_900_000_000n << 32n;
  const serverTime = (raw: bigint): NtpTime => T0 + BigInt(Math.round(truth(raw) * 2 ** 32));
  for (let k = 0; k <= 4; k++) {
    const ta = BigInt(k * 64) * S + S;
    const tf = ta + 200_000n;
    const mid = ta + 100_000n;
    d.exchange(
      {
        sourceId: 'A',
        ta,
        tb: serverTime(mid),
        te: serverTime(mid),
        tf,
        rootDelay: 0,
        rootDispersion: 0,
        stratum: 1,
      },
      true,
    );
  }
  const raw = 257n * S;
  const offset = durationToSeconds(serverTime(raw) - T0) - durationToSeconds(d.clock.read(raw));
  d.update({ ...sample(257, offset), raw, now: raw });
  assert.equal(d.currentState(), 'FREQ');
  assert.ok(Math.abs(d.frequencyPpm() + 100) < 0.01, `provisional frequency ${d.frequencyPpm()} ppm`);
});
