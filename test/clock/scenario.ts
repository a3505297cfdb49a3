/**
 * Runs a clock over the standard LAN scenario with the synthetic generator and reports statistics.
 * Used by the tests (not a test file itself).
 */
import { FeedForwardClock, type FeedForwardOptions } from '../../src/clock/feedforward.js';
import { Rfc5905Discipline, type Rfc5905Options } from '../../src/clock/rfc5905.js';
import type { ClockChange, Discipline, RawExchange } from '../../src/clock/types.js';
import { Rng } from '../../src/sim/rng.js';
import { durationToSeconds, secondsToDuration } from '../../src/time/ntp-time.js';
import { clockError, expPath, makeExchange, oscillator, type PathModel, rms, T0 } from './synth.js';

export interface ScenarioOptions {
  seed: number;
  seconds: number;
  /** Statistics start after this many seconds (default 2000). */
  settle?: number;
  /** Fixed poll exponent for the feed-forward clock (default 6). */
  poll?: number;
  initialOffset?: number;
  f0?: number;
  wander?: number;
  path?: (rng: Rng) => PathModel;
  /** Exchanges are lost (not delivered) in [from, to) true seconds. */
  outage?: [number, number];
  /** Extra options for the RFC 5905 discipline. */
  rfc?: Rfc5905Options;
  /** Extra options for the feed-forward clock. */
  ff?: FeedForwardOptions;
  /** Measure the rate error of rate + local rate instead of the difference clock's rate. */
  localRateMetric?: boolean;
}

export interface ScenarioResult {
  rmsError: number;
  maxError: number;
  /** Steps after the first update. */
  laterSteps: number;
  steps: number;
  /** |rate − true rate| over the statistics period (feed-forward): RMS and max, s/s. */
  rmsRateError: number;
  maxRateError: number;
  errors: { t: number; err: number }[];
  exchanges: number;
}

export function runScenario(
  kind: 'rfc5905' | 'feedforward',
  o: ScenarioOptions,
): ScenarioResult & { d: Discipline } {
  const rnd = new Rng(o.seed);
  const osc = oscillator(rnd, o.seconds + 100, o.f0 ?? 100e-6, o.wander ?? 1e-9);
  const path = (o.path ?? ((r) => expPath(r)))(rnd);
  const settle = o.settle ?? 2000;
  const init = { raw: osc.raw(0), time: T0 + secondsToDuration(o.initialOffset ?? 0.1) };
  const d: Discipline =
    kind === 'rfc5905'
      ? new Rfc5905Discipline({ ...init, ...o.rfc })
      : new FeedForwardClock({ ...init, minpoll: o.poll ?? 6, ...o.ff });
  let steps = 0;
  let firstUpdateDone = false;
  let laterSteps = 0;
  d.clock.onChange((c: ClockChange) => {
    if (c.kind === 'step') {
      steps++;
      if (firstUpdateDone) laterSteps++;
    }
  });
  // A minimal clock filter for the RFC discipline: the minimum-delay sample of the last 8.
  const filt: { offset: number; delay: number; raw: bigint }[] = [];
  let lastUsed = -1n;
  const errors: { t: number; err: number }[] = [];
  const rateErrs: number[] = [];
  let t = 1;
  let nextEval = 0;
  let exchanges = 0;
  while (t < o.seconds) {
    const x = makeExchange(osc, path, t);
    const lost = o.outage !== undefined && t >= o.outage[0] && t < o.outage[1];
    // evaluate the clock between now and the arrival
    while (nextEval < x.tArrive) {
      if (nextEval >= settle)
        errors.push({ t: nextEval, err: clockError(d.clock.read(osc.raw(nextEval)), nextEval) });
      nextEval += 4;
    }
    if (!lost) {
      exchanges++;
      const raw: RawExchange = {
        sourceId: 'S',
        ta: x.ta,
        tb: x.tb,
        te: x.te,
        tf: x.tf,
        rootDelay: 0,
        rootDispersion: 0,
        stratum: 1,
      };
      d.exchange(raw, true);
      if (kind === 'rfc5905') {
        const t1 = d.clock.read(x.ta);
        const t4 = d.clock.read(x.tf);
        const offset = (durationToSeconds(x.tb - t1) + durationToSeconds(x.te - t4)) / 2;
        const delay = durationToSeconds(t4 - t1) - durationToSeconds(x.te - x.tb);
        filt.push({ offset, delay, raw: x.tf });
        if (filt.length > 8) filt.shift();
        let best = filt[0]!;
        for (const f of filt) if (f.delay < best.delay) best = f;
        if (best.raw > lastUsed) {
          lastUsed = best.raw;
          const r = d.update({
            raw: best.raw,
            offset: best.offset,
            jitter: 0,
            rootDelay: best.delay,
            rootDispersion: 0,
            poll: d.pollExponent(),
            sourceId: 'S',
          });
          if (r.kind === 'step') filt.length = 0;
        }
      }
      firstUpdateDone = firstUpdateDone || steps > 0;
      if (d instanceof FeedForwardClock && x.tArrive >= settle) {
        const e = d.estimates();
        rateErrs.push((o.localRateMetric ? e.rate + e.localRate : d.difference.rate()) - osc.rate(x.tArrive));
      }
    }
    const poll = kind === 'rfc5905' ? d.pollExponent() : (o.poll ?? 6);
    t += 2 ** poll;
  }
  const abs = errors.map((e) => Math.abs(e.err));
  return {
    d,
    rmsError: rms(errors.map((e) => e.err)),
    maxError: abs.length ? Math.max(...abs) : Number.NaN,
    laterSteps,
    steps,
    rmsRateError: rms(rateErrs),
    maxRateError: rateErrs.length ? Math.max(...rateErrs.map(Math.abs)) : Number.NaN,
    errors,
    exchanges,
  };
}
