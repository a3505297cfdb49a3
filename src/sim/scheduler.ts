/**
 * The discrete-event scheduler: a binary min-heap of events ordered by true time (seconds since the
 * start of the run) and, for equal times, by insertion order, so a run is fully deterministic.
 */

export interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
  cancelled: boolean;
}

export class Scheduler {
  private heap: SimEvent[] = [];
  private seq = 0;
  /** The current true time (seconds since the start). */
  now = 0;
  /** Events executed so far. */
  executed = 0;
  /** Events allowed at one instant before `runUntil` throws (an engine re-arming its timer in the past). */
  maxEventsPerInstant = 1_000_000;
  private sameInstant = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `run` at true time `at` (clamped to now). Returns the event (cancel with `cancel`). */
  at(at: number, run: () => void): SimEvent {
    const ev: SimEvent = { at: Math.max(at, this.now), seq: this.seq++, run, cancelled: false };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p]!;
      if (before(pe, ev)) break;
      h[i] = pe;
      i = p;
    }
    h[i] = ev;
    return ev;
  }

  after(delay: number, run: () => void): SimEvent {
    return this.at(this.now + delay, run);
  }

  cancel(ev: SimEvent | null): void {
    if (ev !== null) ev.cancelled = true;
  }

  /** Time of the next pending event, or Infinity. */
  peekTime(): number {
    const top = this.heap[0];
    return top === undefined ? Number.POSITIVE_INFINITY : top.at;
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(h[r]!, h[l]!)) c = r;
      const ce = h[c]!;
      if (before(last, ce)) break;
      h[i] = ce;
      i = c;
    }
    h[i] = last;
    return top;
  }

  /** Runs every event with time ≤ `until`; leaves `now` = until. */
  runUntil(until: number): void {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > until) break;
      this.pop();
      if (top.cancelled) continue;
      if (top.at === this.now) {
        if (++this.sameInstant > this.maxEventsPerInstant) {
          throw new Error(
            `simulation stuck: more than ${this.maxEventsPerInstant} events at t = ${this.now} s`,
          );
        }
      } else this.sameInstant = 0;
      this.now = top.at;
      this.executed++;
      top.run();
    }
    if (until > this.now) this.now = until;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
