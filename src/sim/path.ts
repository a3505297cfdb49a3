/**
 * One direction of a simulated network link. A packet sent at true time t is delivered after
 *
 *   delay = base(t) + jitter   (clamped at 0; `base` follows the scheduled level shifts)
 *
 * or lost (probability `loss`, or inside an outage window). With probability `duplicate` a second
 * copy follows with its own jitter; with probability `reorder` the packet is held back by an extra
 * `reorderDelay` so later packets overtake it.
 */
import { type Distribution, sample } from './distributions.js';
import type { Rng } from './rng.js';

export interface PathChange {
  /** True time (s) from which the change applies. */
  at: number;
  /** New base delay (s). */
  delay?: number;
  /** Added to the base delay (s), e.g. half of an asymmetry change. */
  add?: number;
  /** New jitter distribution. */
  jitter?: Distribution;
  /** New loss probability. */
  loss?: number;
}

export interface PathSpec {
  /** Base one-way delay, s. */
  delay: number;
  jitter: Distribution;
  loss: number;
  duplicate: number;
  reorder: number;
  /** Extra delay of a reordered packet, s. */
  reorderDelay: number;
  changes: PathChange[];
  /** [start, end) windows (true time, s) in which every packet is lost. */
  outages: [number, number][];
}

export function defaultPathSpec(): PathSpec {
  return {
    delay: 0,
    jitter: { dist: 'constant', value: 0 },
    loss: 0,
    duplicate: 0,
    reorder: 0,
    reorderDelay: 0.001,
    changes: [],
    outages: [],
  };
}

export interface PathCounters {
  sent: number;
  lost: number;
  duplicated: number;
  reordered: number;
}

export class Path {
  readonly spec: PathSpec;
  private readonly rng: Rng;
  private readonly changes: PathChange[];
  readonly counters: PathCounters = { sent: 0, lost: 0, duplicated: 0, reordered: 0 };

  constructor(spec: PathSpec, rng: Rng) {
    this.spec = spec;
    this.rng = rng;
    this.changes = [...spec.changes].sort((a, b) => a.at - b.at);
  }

  /** The path parameters in force at true time t. */
  stateAt(t: number): { delay: number; jitter: Distribution; loss: number } {
    let delay = this.spec.delay;
    let jitter = this.spec.jitter;
    let loss = this.spec.loss;
    for (const c of this.changes) {
      if (c.at > t) break;
      if (c.delay !== undefined) delay = c.delay;
      if (c.add !== undefined) delay += c.add;
      if (c.jitter !== undefined) jitter = c.jitter;
      if (c.loss !== undefined) loss = c.loss;
    }
    return { delay, jitter, loss };
  }

  inOutage(t: number): boolean {
    for (const [a, b] of this.spec.outages) if (t >= a && t < b) return true;
    return false;
  }

  /** One-way delays of the copies delivered for a packet sent at t (empty: lost). */
  transit(t: number): number[] {
    this.counters.sent++;
    const st = this.stateAt(t);
    // Draw every random number in a fixed order whatever the outcome, so that changing one
    // probability does not shift the rest of the stream.
    const lost = this.rng.chance(st.loss);
    const dup = this.rng.chance(this.spec.duplicate);
    const reorder = this.rng.chance(this.spec.reorder);
    const d1 = Math.max(0, st.delay + sample(st.jitter, this.rng));
    const d2 = dup ? Math.max(0, st.delay + sample(st.jitter, this.rng)) : 0;
    if (lost || this.inOutage(t)) {
      this.counters.lost++;
      return [];
    }
    const out = [reorder ? d1 + this.spec.reorderDelay : d1];
    if (reorder) this.counters.reordered++;
    if (dup) {
      this.counters.duplicated++;
      out.push(d2);
    }
    return out;
  }
}
