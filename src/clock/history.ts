/** A log of the changes a discipline made to its software clock, to read the clock as it was at a past counter value. */
import { type NtpTime, secondsToDuration } from '../time/ntp-time.js';
import type { SoftwareClock } from './software-clock.js';
import type { RawTime } from './types.js';

/** How the pending correction of a segment is applied: exponentially with time constant `tau`, or linearly at `rate`. */
export type SlewMode = { kind: 'exp'; tau: number } | { kind: 'linear'; rate: number };

/** The part of a slew of `amount` seconds applied `dt` seconds after it began. */
export function slewApplied(mode: SlewMode | null, amount: number, dt: number): number {
  if (mode === null || amount === 0 || dt <= 0) return 0;
  if (mode.kind === 'exp') return amount * -Math.expm1(-dt / mode.tau);
  const done = mode.rate * dt;
  return Math.abs(amount) <= done ? amount : Math.sign(amount) * done;
}

/**
 * One piece of the clock's history: from counter value `start` on (until the next segment) the clock
 * read `reading` + (raw − start)·(1 + freq) + the applied part of a slew of `pending` s in `mode`.
 */
interface Segment {
  start: RawTime;
  reading: NtpTime;
  freq: number;
  pending: number;
  mode: SlewMode | null;
}

/** How long (s of counter time) the history is kept by default: eight polls at the longest poll, and more. */
const HISTORY_SPAN = 8 * 2 ** 17;
const HISTORY_MAX = 512;

export class ClockHistory {
  private segments: Segment[] = [];
  private readonly spanNs: bigint;

  constructor(
    private readonly clock: SoftwareClock,
    span = HISTORY_SPAN,
    private readonly max = HISTORY_MAX,
  ) {
    this.spanNs = BigInt(span) * 1_000_000_000n;
  }

  /** Notes the clock model from `at` on (after a change made at `at`); `mode` is how its pending slew runs. */
  record(at: RawTime, mode: SlewMode | null): void {
    const seg: Segment = {
      start: at,
      reading: this.clock.read(at),
      freq: this.clock.frequency(),
      pending: this.clock.pendingSlew(at),
      mode,
    };
    const h = this.segments;
    const last = h[h.length - 1];
    if (last !== undefined && last.start >= at) h[h.length - 1] = seg;
    else h.push(seg);
    // Forget what lies wholly before the span (keep the segment in effect at its beginning).
    const from = at - this.spanNs;
    let drop = 0;
    while (drop + 1 < h.length) {
      const next = h[drop + 1];
      if (next === undefined || next.start > from) break;
      drop++;
    }
    if (h.length - drop > this.max) drop = h.length - this.max;
    if (drop > 0) h.splice(0, drop);
  }

  /** The segment in effect at `raw` (the oldest one for earlier values), and whether it is the current one. */
  private segmentAt(raw: RawTime): { seg: Segment | undefined; current: boolean } {
    const h = this.segments;
    for (let i = h.length - 1; i >= 0; i--) {
      const seg = h[i];
      if (seg !== undefined && (seg.start <= raw || i === 0)) return { seg, current: i === h.length - 1 };
    }
    return { seg: undefined, current: true };
  }

  /** What the clock read (or will read, without further changes) at counter value `raw`. */
  readAt(raw: RawTime): NtpTime {
    const { seg, current } = this.segmentAt(raw);
    if (seg === undefined || (current && raw >= seg.start)) return this.clock.read(raw);
    const dt = Number(raw - seg.start) / 1e9;
    return seg.reading + secondsToDuration(dt * (1 + seg.freq) + slewApplied(seg.mode, seg.pending, dt));
  }

  /** The slew still pending at counter value `raw` (the RFC's c.offset then). */
  pendingAt(raw: RawTime): number {
    const { seg, current } = this.segmentAt(raw);
    if (seg === undefined || (current && raw >= seg.start)) return this.clock.pendingSlew(raw);
    const dt = Math.max(0, Number(raw - seg.start) / 1e9);
    return seg.pending - slewApplied(seg.mode, seg.pending, dt);
  }
}
