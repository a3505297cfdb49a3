import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defaultOscillatorSpec, Oscillator, RAW_ORIGIN } from '../../src/sim/oscillator.js';
import { ErrorStats } from '../../src/sim/stats.js';

const spec = (o: Partial<ReturnType<typeof defaultOscillatorSpec>>) => ({ ...defaultOscillatorSpec(), ...o });

test('offset and frequency: raw(t) = origin + (t + offset + freq·t)·1e9', () => {
  const o = new Oscillator(spec({ offset: 0.1, freqPpm: 100 }), 1, 'x');
  for (const t of [0, 1, 1000, 20000]) {
    const expect = Math.round((t + 0.1 + 100e-6 * t) * 1e9);
    assert.equal(o.rawExact(t) - RAW_ORIGIN, BigInt(expect));
  }
  assert.ok(Math.abs(o.frequency(123) - 100e-6) < 1e-18);
});

test('random-walk wander: frequency increments over τ have sd σ·√τ and no drift', () => {
  const sigma = 1e-9;
  const st1 = new ErrorStats();
  const st16 = new ErrorStats();
  for (let seed = 1; seed <= 20; seed++) {
    const o = new Oscillator(spec({ wander: sigma }), seed, 'w');
    let prev = o.frequency(0);
    for (let k = 1; k <= 4000; k++) {
      const f = o.frequency(k);
      st1.add(f - prev);
      prev = f;
    }
    for (let k = 16; k <= 4000; k += 16) st16.add(o.frequency(k) - o.frequency(k - 16));
  }
  assert.ok(Math.abs(st1.sd() / sigma - 1) < 0.03, `sd over 1 s ${st1.sd()}`);
  assert.ok(Math.abs(st1.mean()) < (5 * sigma) / Math.sqrt(st1.n), `mean ${st1.mean()}`);
  assert.ok(Math.abs(st16.sd() / (sigma * 4) - 1) < 0.1, `sd over 16 s ${st16.sd()}`);
});

test('wander: the phase is the integral of the frequency', () => {
  const o = new Oscillator(spec({ wander: 1e-7, freqPpm: 3 }), 5, 'p');
  let integral = 0;
  const h = 0.01;
  for (let i = 0; i < 5000; i++) {
    const t = i * h;
    integral += ((o.frequency(t) + o.frequency(t + h)) / 2) * h;
  }
  assert.ok(Math.abs(o.deviation(50) - integral) < 1e-12, `${o.deviation(50)} vs ${integral}`);
});

test('periodic variation: frequency amplitude and phase integral', () => {
  const o = new Oscillator(spec({ periodicPpm: 2, periodicPeriod: 1000 }), 1, 'per');
  assert.ok(Math.abs(o.frequency(250) - 2e-6) < 1e-15);
  assert.ok(Math.abs(o.frequency(750) + 2e-6) < 1e-15);
  // Over a full period the periodic phase returns to 0; at half a period it is 2·A·P/(2π).
  assert.ok(Math.abs(o.deviation(1000)) < 1e-15);
  assert.ok(Math.abs(o.deviation(500) - (2 * 2e-6 * 1000) / (2 * Math.PI)) < 1e-12);
});

test('reading resolution and reading noise', () => {
  const q = new Oscillator(spec({ resolutionNs: 1000, freqPpm: 7 }), 1, 'q');
  for (let t = 0; t < 10; t += 0.1234567) assert.equal((q.read(t) - RAW_ORIGIN) % 1000n, 0n);
  const sd = 2e-6;
  const n = new Oscillator(spec({ noise: sd }), 9, 'n');
  const st = new ErrorStats();
  for (let i = 0; i < 50_000; i++) {
    const t = i * 0.5;
    st.add(Number(n.read(t) - n.rawExact(t)) / 1e9);
  }
  assert.ok(Math.abs(st.sd() / sd - 1) < 0.03, `noise sd ${st.sd()}`);
  assert.ok(Math.abs(st.mean()) < (5 * sd) / Math.sqrt(st.n));
});

test('trueTimeOf inverts rawExact (the instant a timer must fire)', () => {
  const o = new Oscillator(spec({ offset: -0.3, freqPpm: -250, wander: 1e-8, periodicPpm: 5 }), 3, 'inv');
  fc.assert(
    fc.property(fc.double({ min: 1, max: 1e5, noNaN: true }), (t) => {
      const raw = o.rawExact(t);
      const back = o.trueTimeOf(raw);
      assert.ok(Math.abs(back - t) < 2e-9, `t ${t} back ${back}`);
      assert.ok(o.rawExact(back + 1e-9) >= raw);
    }),
  );
});

test('a phase step (falseticker that steps)', () => {
  const o = new Oscillator(spec({ steps: [{ at: 100, offset: 1 }] }), 1, 's');
  assert.equal(o.deviation(99.999), 0);
  assert.equal(o.deviation(100), 1);
});
