/**
 * Offline replay: feeds a trace of raw exchanges through a clock and yields per-exchange estimates.
 * Sans-IO; the `ntpkit replay` command (src/cli/replay.ts) does the file handling and printing.
 *
 * The RFC 5905 discipline gets its offsets through a minimal clock filter (the lowest-delay sample of
 * the last eight, used once and only if measured after the last clock update), as the engine would.
 */
import { durationToSeconds, type NtpTime } from '../time/ntp-time.js';
import { FeedForwardClock, type FeedForwardOptions } from './feedforward.js';
import { Rfc5905Discipline, type Rfc5905Options } from './rfc5905.js';
import type { Discipline, RawExchange, RawTime } from './types.js';

export interface ReplayExchange {
  /** Our counter (ns, nominal) when the request left / the response arrived. */
  ta: RawTime;
  tf: RawTime;
  /** Server receive / transmit times. */
  tb: NtpTime;
  te: NtpTime;
}

export interface ReplayRow {
  index: number;
  /** Counter seconds since the first exchange (at tf). */
  t: number;
  /** Round-trip delay (s), by the nominal counter rate. */
  delay: number;
  /**
   * Server midpoint minus our clock at the counter midpoint, before this exchange is used (s): how well
   * the clock predicted the server (positive: we are behind).
   */
  offset: number;
  /**
   * What the clock did with the exchange. RFC 5905: slew, step, spike, panic, ignored, filtered (not
   * the filter's pick). Feed-forward: used, poor (held: freewheeling on the last good estimates).
   */
  action: string;
  state: string;
  frequencyPpm: number;
  /** Error bound of the clock at tf (s). */
  errorBound: number;
  /** The clock's reading at tf. */
  time: NtpTime;
  /** Feed-forward extras: rate (ppm), minimum RTT (s), level shifts. */
  ratePpm?: number;
  minRtt?: number;
  levelShifts?: number;
}

export type ReplayOptions = Rfc5905Options & FeedForwardOptions;

function midpoint(a: bigint, b: bigint): bigint {
  return a + (b - a) / 2n;
}

/** Replays `exchanges` (in order) through a new clock of `kind`, yielding one row per exchange. */
export function* replay(
  kind: 'rfc5905' | 'feedforward',
  exchanges: Iterable<ReplayExchange>,
  opts: ReplayOptions = {},
): Generator<ReplayRow> {
  let d: Discipline | null = null;
  let first: RawTime | null = null;
  const filt: { offset: number; delay: number; raw: RawTime }[] = [];
  let lastUsed: RawTime = -1n;
  let lastChange: RawTime = -1n;
  let index = 0;
  for (const x of exchanges) {
    if (d === null) {
      // The clock starts on the server's time at the first exchange (like a first step).
      const init = { raw: midpoint(x.ta, x.tf), time: midpoint(x.tb, x.te) };
      d =
        kind === 'rfc5905'
          ? new Rfc5905Discipline({ ...init, ...opts })
          : new FeedForwardClock({ ...init, ...opts });
      first = x.ta;
      d.clock.onChange((c) => {
        lastChange = c.raw;
      });
    }
    const delay = Number(x.tf - x.ta) / 1e9 - durationToSeconds(x.te - x.tb);
    const offset = durationToSeconds(midpoint(x.tb, x.te) - d.clock.read(midpoint(x.ta, x.tf)));
    const raw: RawExchange = {
      sourceId: 'replay',
      ta: x.ta,
      tb: x.tb,
      te: x.te,
      tf: x.tf,
      rootDelay: 0,
      rootDispersion: 0,
      stratum: 1,
    };
    const poorBefore = d instanceof FeedForwardClock ? d.snapshot(x.tf).extra?.poorExchanges : 0;
    d.exchange(raw, true);
    let action = 'used';
    if (d instanceof Rfc5905Discipline) {
      const t1 = d.clock.read(x.ta);
      const t4 = d.clock.read(x.tf);
      const off = (durationToSeconds(x.tb - t1) + durationToSeconds(x.te - t4)) / 2;
      filt.push({ offset: off, delay, raw: x.tf });
      if (filt.length > 8) filt.shift();
      let best = filt[0]!;
      for (const f of filt) if (f.delay < best.delay) best = f;
      if (best.raw > lastUsed && best.raw >= lastChange) {
        lastUsed = best.raw;
        const r = d.update({
          raw: best.raw,
          offset: best.offset,
          jitter: 0,
          rootDelay: best.delay,
          rootDispersion: 0,
          poll: d.pollExponent(),
          sourceId: 'replay',
        });
        action = r.kind;
        if (r.kind === 'step') filt.length = 0;
      } else {
        action = 'filtered';
      }
    }
    const snap = d.snapshot(x.tf);
    const row: ReplayRow = {
      index: index++,
      t: Number(x.tf - (first ?? x.ta)) / 1e9,
      delay,
      offset,
      action,
      state: snap.state,
      frequencyPpm: snap.frequencyPpm,
      errorBound: d.clock.errorBound(x.tf),
      time: d.clock.read(x.tf),
    };
    if (d instanceof FeedForwardClock) {
      const e = d.estimates(x.tf);
      row.ratePpm = (e.rate - 1) * 1e6;
      row.minRtt = e.minRtt;
      row.levelShifts = e.levelShifts;
      if (snap.extra?.poorExchanges !== poorBefore) row.action = 'poor';
    }
    yield row;
  }
}
