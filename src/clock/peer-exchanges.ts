/** The RFC 5905 discipline's view of the system peer's raw exchanges: their queueing, their weight as updates, and the polls they missed. */
import { durationToSeconds } from '../time/ntp-time.js';
import type { RawExchange, RawTime } from './types.js';

/** Delays of the system peer's last exchanges kept (the minimum and median come from them). */
const DELAY_WINDOW = 8;
/** Random-walk frequency noise assumed (s/s per √s): how fast an estimate ages. */
export const WANDER = 1e-9;

/** One exchange as the discipline sees it. */
export interface PeerExchange {
  /** Round-trip delay (s), and the weight of its offset as an update (0–1). */
  delay: number;
  weight: number;
  /** The weight its queueing gives it, also when `full` (the start-up's phase corrections use it). */
  queueWeight: number;
  /** Polls missed since the previous exchange of the source. */
  missed: number;
  /** Variance of its offset error from its queueing alone, (E + e0)²/12 (s²). */
  queueVar: number;
}

export class PeerExchanges {
  private readonly delays: number[] = [];
  private source = '';
  private last: RawTime | null = null;
  /** Mean offset variance of the recent exchanges (s²): what a measured offset adds to the prediction error. */
  noise = Number.NaN;

  /**
   * Notes an exchange of the system peer. Its offset error is within ±E/2, E its queueing (delay
   * above the minimum of the last ones), so it is weighted w = V/(V + (E + e0)²/12): V that of a
   * median exchange plus what the clock may have wandered in `sinceUpdate` seconds, or the mean square
   * prediction error `excess` the clock shows (a transient) if larger. `poll` is the current poll
   * interval (s); `full` gives every exchange weight 1 (start-up).
   */
  add(x: RawExchange, sinceUpdate: number, poll: number, full: boolean, excess = 0): PeerExchange {
    const delay = Math.max(0, Number(x.tf - x.ta) / 1e9 - durationToSeconds(x.te - x.tb));
    if (x.sourceId !== this.source) {
      this.delays.length = 0;
      this.last = null;
    }
    this.source = x.sourceId;
    const missed =
      this.last === null ? 0 : Math.max(0, Math.round(Number(x.tf - this.last) / 1e9 / poll) - 1);
    this.last = x.tf;
    this.delays.push(delay);
    if (this.delays.length > DELAY_WINDOW) this.delays.shift();
    const sorted = [...this.delays].sort((p, q) => p - q);
    const min = sorted[0] ?? delay;
    const med = (sorted[(sorted.length - 1) >> 1] ?? delay) - min;
    const e0 = 0.1 * med + 1e-6;
    const mu = Math.max(0, sinceUpdate);
    const v = Math.max((med + e0) ** 2 / 12 + (WANDER * WANDER * mu * mu * mu) / 3, excess);
    let nv = 0;
    for (const d of this.delays) nv += (d - min + e0) ** 2 / 12;
    this.noise = nv / this.delays.length;
    const queueWeight = v / (v + (delay - min + e0) ** 2 / 12);
    return {
      delay,
      weight: full ? 1 : queueWeight,
      queueWeight,
      missed,
      queueVar: (delay - min + e0) ** 2 / 12,
    };
  }
}

/**
 * The exchanges of one burst (seconds apart: the same phase) combined by their queueing, as a Kalman
 * filter without dynamics: each moves the correction still pending by its share of the variance. The
 * RFC 5905 clock's start-up after an iburst split (src/clock/iburst-split.ts): otherwise each one
 * replaces the pending slew by its own offset, and the last of the burst, not the least queued, sets
 * the phase.
 */
export class BurstPhase {
  private v = 0;

  /**
   * The offset to hand on for an exchange measuring `measured` while `pending()` is still to be slewed;
   * null outside a burst (or for its first exchange: its own offset, weighted as usual).
   */
  offset(inBurst: boolean, queueVar: number, measured: number, pending: () => number): number | null {
    if (!inBurst || !(this.v > 0)) {
      this.v = queueVar;
      return null;
    }
    const w = this.v / (this.v + queueVar);
    this.v = (this.v * queueVar) / (this.v + queueVar);
    const p = pending();
    return p + w * (measured - p);
  }
}
