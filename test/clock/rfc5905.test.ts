import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDiscipline } from '../../src/clock/index.js';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import type { ClockSample } from '../../src/clock/types.js';
import { durationToSeconds } from '../../src/time/ntp-time.js';
import { runScenario } from './scenario.js';
import { prng } from './synth.js';

const S = 1_000_000_000n;

function sample(tSec: number, offset: number, poll = 6): ClockSample {
  return {
    raw: BigInt(Math.round(tSec * 1e3)) * 1_000_000n,
    offset,
    jitter: 1e-4,
    rootDelay: 0.001,
    rootDispersion: 0.0005,
    poll,
    sourceId: 'A',
  };
}

test('standard LAN scenario: converges, steps at most once (the first), frequency found', () => {
  for (const seed of [1, 2, 3]) {
    const r = runScenario('rfc5905', { seed, seconds: 20000 });
    assert.equal(r.laterSteps, 0, `seed ${seed}: no step after the first`);
    assert.ok(r.steps <= 1, `seed ${seed}: ${r.steps} steps`);
    assert.ok(r.rmsError < 1e-3, `seed ${seed}: RMS ${r.rmsError}`);
    // counter fast by 100 ppm → correction −99.99 ppm; wander moves it by ~0.1 ppm over the run
    const f = r.d.snapshot(0n).frequencyPpm;
    assert.ok(Math.abs(f + 99.99) < 1, `seed ${seed}: frequency ${f}`);
    assert.equal(r.d.snapshot(0n).state, 'SYNC');
  }
});

test('NSET: a first offset above the step threshold steps; then FREQ', () => {
  const d = new Rfc5905Discipline();
  const r = d.update(sample(10, 0.5));
  assert.equal(r.kind, 'step');
  assert.equal(d.currentState(), 'FREQ');
  assert.ok(Math.abs(durationToSeconds(d.clock.read(10n * S)) - 10.5) < 1e-9);
});

test('FREQ: waits for the stepout interval, then sets the frequency directly', () => {
  const d = new Rfc5905Discipline({ stepout: 900 });
  assert.equal(d.update(sample(0, 0.001)).kind, 'slew');
  assert.equal(d.currentState(), 'FREQ');
  // the clock drifts 20 ppm: offsets grow (besides the slew of the first offset)
  const pend = (t: number) => d.software.pendingSlew(BigInt(t) * S);
  assert.equal(d.update(sample(500, 0.001 + 20e-6 * 500 - (0.001 - pend(500)))).kind, 'ignored');
  const r = d.update(sample(1000, 0.001 + 20e-6 * 1000 - (0.001 - pend(1000))));
  assert.equal(r.kind, 'slew');
  assert.equal(d.currentState(), 'SYNC');
  assert.ok(Math.abs(d.frequencyPpm() - 20) < 0.01, `frequency ${d.frequencyPpm()}`);
});

test('SYNC: a single spike is suppressed; a persistent large offset is stepped after stepout', () => {
  const d = new Rfc5905Discipline({ initialFrequencyPpm: 0, stepout: 300 });
  assert.equal(d.update(sample(0, 0.0001)).kind, 'slew');
  assert.equal(d.update(sample(64, 0.0001)).kind, 'slew');
  assert.equal(d.currentState(), 'SYNC');
  assert.equal(d.update(sample(128, 0.5)).kind, 'spike');
  assert.equal(d.currentState(), 'SPIK');
  // an inlier returns to SYNC
  assert.equal(d.update(sample(192, 0.0001)).kind, 'slew');
  assert.equal(d.currentState(), 'SYNC');
  assert.equal(d.update(sample(256, 0.5)).kind, 'spike');
  assert.equal(d.update(sample(320, 0.5)).kind, 'spike');
  const r = d.update(sample(600, 0.5));
  assert.equal(r.kind, 'step');
  assert.equal(d.currentState(), 'SYNC');
});

test('panic threshold refuses; stepAtStartup allows one big step; 0 disables the check', () => {
  assert.equal(new Rfc5905Discipline().update(sample(1, 2000)).kind, 'panic');
  const g = new Rfc5905Discipline({ stepAtStartup: true });
  assert.equal(g.update(sample(1, 2000)).kind, 'step');
  assert.equal(g.update(sample(2000, 5000)).kind, 'panic', 'only once');
  assert.equal(new Rfc5905Discipline({ panicThreshold: 0 }).update(sample(1, 5000)).kind, 'step');
  assert.equal(new Rfc5905Discipline({ panicThreshold: 10 }).update(sample(1, 11)).kind, 'panic');
});

test('step threshold 0 never steps (slews instead)', () => {
  const d = new Rfc5905Discipline({ stepThreshold: 0 });
  assert.equal(d.update(sample(1, 0.5)).kind, 'slew');
});

test('FSET (drift file): first update slews and sets SYNC without the stepout wait', () => {
  const d = new Rfc5905Discipline({ initialFrequencyPpm: -42.5 });
  assert.equal(d.currentState(), 'FSET');
  assert.equal(d.clock.frequencyPpm(), -42.5);
  assert.equal(d.update(sample(1, 0.002)).kind, 'slew');
  assert.equal(d.currentState(), 'SYNC');
});

test('poll adjust: offsets within the jitter raise the poll to maxpoll, offsets beyond it lower it', () => {
  const d = new Rfc5905Discipline({ initialFrequencyPpm: 0, minpoll: 4, maxpoll: 8, precision: -20 });
  let t = 0;
  const rand01 = prng(7);
  const rnd = () => rand01() * 2 - 1;
  for (let i = 0; i < 400; i++) {
    t += 2 ** d.pollExponent();
    d.update(sample(t, rnd() * 1e-5));
  }
  assert.equal(d.pollExponent(), 8);
  for (let i = 0; i < 400; i++) {
    t += 2 ** d.pollExponent();
    d.update(sample(t, 0.01 + rnd() * 1e-6));
  }
  assert.equal(d.pollExponent(), 4);
  const s = d.snapshot(BigInt(t) * S);
  assert.ok(s.jitter < 1e-3, `jitter ${s.jitter}`);
  assert.ok(s.frequencyPpm > 0, 'a persistent positive offset pushed the frequency up');
});

test('ignores samples that are not newer, or older than the last clock change', () => {
  const d = new Rfc5905Discipline({ initialFrequencyPpm: 0 });
  d.update(sample(100, 0.001));
  assert.equal(d.update(sample(50, 0.001)).kind, 'ignored');
  assert.equal(d.update(sample(100, 0.001)).kind, 'ignored');
});

test('createDiscipline builds both kinds', () => {
  assert.equal(createDiscipline('rfc5905').kind, 'rfc5905');
  assert.equal(createDiscipline('feedforward', { minpoll: 5 }).pollExponent(), 5);
});

test('startup hold: at poll 16 s the initial offset is slewed without a ppm-sized frequency overshoot', () => {
  const mean = (xs: { err: number }[]) => xs.reduce((a, e) => a + e.err, 0) / xs.length;
  const held = runScenario('rfc5905', { seed: 1, seconds: 20000, rfc: { minpoll: 4, maxpoll: 4 } });
  assert.equal(held.steps, 0);
  assert.ok(held.rmsError < 400e-6, `RMS ${held.rmsError}`);
  assert.ok(Math.abs(mean(held.errors)) < 100e-6, `mean ${mean(held.errors)}`);
  const plain = runScenario('rfc5905', {
    seed: 1,
    seconds: 20000,
    rfc: { minpoll: 4, maxpoll: 4, startupHoldOffset: 0 },
  });
  assert.ok(plain.rmsError > 2 * held.rmsError, `without the hold: RMS ${plain.rmsError}`);
});
