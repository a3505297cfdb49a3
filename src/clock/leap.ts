/**
 * The leap-second layer over a discipline's clock: the UTC view (which repeats or skips a second at
 * the leap, as the Linux kernel does) and the served view (the UTC view, slewed or smeared per
 * `[clock] leap-mode`). The discipline's own clock never sees the leap: server timestamps are taken
 * back onto its timescale (`toContinuous`), so no source's one-second jump reaches it as an offset.
 *
 *   utc(raw)    = base(raw) + executed leaps (−1 s per inserted second, +1 s per deleted one)
 *   served(raw) = utc(raw) + correction(raw)   (0 in step and ignore modes)
 *
 * Sans-IO: everything is a function of the counter value passed in.
 */
import type { LeapKind } from '../time/leap-list.js';
import {
  durationToSeconds,
  type NtpDuration,
  type NtpTime,
  ONE_SECOND,
  secondsToDuration,
} from '../time/ntp-time.js';
import type { ClockChange, ClockListener, LocalClock, RawTime } from './types.js';

export type LeapMode = 'step' | 'slew' | 'smear' | 'ignore';
export const LEAP_MODES: readonly LeapMode[] = ['step', 'slew', 'smear', 'ignore'];

export interface LeapClockOptions {
  mode: LeapMode;
  /** Smear window, s, centred on the leap (default 86400: noon to noon UTC). */
  smearWindow?: number;
  /** Rate of the slew after the leap in slew mode, s/s (default 1/12: chrony's 83 333 ppm, 12 s). */
  slewRate?: number;
}

/** A leap carried out (or, in ignore mode, let pass). */
export interface LeapExecution {
  kind: LeapKind;
  at: NtpTime;
  /** Counter value at which the UTC view repeated (or skipped) the second. */
  raw: RawTime;
  mode: LeapMode;
  /** Step of the UTC view, s: −1 (insert), +1 (delete), 0 (ignore). */
  step: number;
}

interface Scheduled {
  kind: LeapKind;
  at: NtpTime;
  /** Smear mode: pre-leap time at which smearing starts (later than noon when scheduled late). */
  smearStart: NtpTime;
}

function sign(kind: LeapKind): bigint {
  return kind === 'insert' ? 1n : -1n;
}

/** Pre-leap time at which the UTC view steps: midnight (insert) or 23:59:59 (delete). */
function trigger(s: { kind: LeapKind; at: NtpTime }): NtpTime {
  return s.kind === 'insert' ? s.at : s.at - ONE_SECOND;
}

class View implements LocalClock {
  constructor(
    private readonly layer: LeapClock,
    private readonly served: boolean,
  ) {}
  read(raw: RawTime): NtpTime {
    return this.served ? this.layer.readServed(raw) : this.layer.readUtc(raw);
  }
  errorBound(raw: RawTime): number {
    return this.layer.base.errorBound(raw);
  }
  frequencyPpm(): number {
    return this.layer.base.frequencyPpm();
  }
  onChange(listener: ClockListener): () => void {
    return this.layer.onChange(listener);
  }
}

export class LeapClock {
  readonly base: LocalClock;
  readonly mode: LeapMode;
  /** UTC: repeats 23:59:59 at an inserted leap, skips it at a deleted one (not in ignore mode). */
  readonly utc: LocalClock;
  /** What the server serves: UTC, slewed after the leap (slew) or smeared around it (smear). */
  readonly served: LocalClock;
  private readonly window: NtpDuration;
  private readonly slewRate: number;
  private sched: Scheduled | null = null;
  /** utc = base + offset from counter `offsetRaw` on, base + prevOffset before. */
  private offset: NtpDuration = 0n;
  private prevOffset: NtpDuration = 0n;
  private offsetRaw: RawTime | null = null;
  private last: (LeapExecution & { smearStart: NtpTime }) | null = null;
  private readonly listeners = new Set<ClockListener>();

  constructor(base: LocalClock, opts: LeapClockOptions) {
    this.base = base;
    this.mode = opts.mode;
    this.window = secondsToDuration(opts.smearWindow ?? 86400);
    this.slewRate = opts.slewRate ?? 1 / 12;
    this.utc = new View(this, false);
    this.served = new View(this, true);
  }

  /** Listeners of the base clock's changes and of the UTC view's leap steps. */
  onChange(listener: ClockListener): () => void {
    const off = this.base.onChange(listener);
    this.listeners.add(listener);
    return () => {
      off();
      this.listeners.delete(listener);
    };
  }

  /** Schedules the leap before midnight `at` (replacing any other). `raw`: now. */
  schedule(raw: RawTime, kind: LeapKind, at: NtpTime): void {
    if (this.sched !== null && this.sched.kind === kind && this.sched.at === at) return;
    const now = this.base.read(raw) + this.committed(raw);
    const noon = at - this.window / 2n;
    this.sched = { kind, at, smearStart: now > noon ? now : noon };
  }

  cancel(): void {
    this.sched = null;
  }

  scheduled(): { kind: LeapKind; at: NtpTime } | null {
    return this.sched === null ? null : { kind: this.sched.kind, at: this.sched.at };
  }

  /** The last leap carried out, or null. */
  lastLeap(): LeapExecution | null {
    if (this.last === null) return null;
    const { smearStart: _, ...e } = this.last;
    return e;
  }

  private committed(raw: RawTime): NtpDuration {
    return this.offsetRaw !== null && raw < this.offsetRaw ? this.prevOffset : this.offset;
  }

  /** base + utc offset at `raw`, including a scheduled leap whose instant has passed (not yet polled). */
  private utcOffset(raw: RawTime): NtpDuration {
    const off = this.committed(raw);
    const s = this.sched;
    if (s === null || this.mode === 'ignore') return off;
    if (this.offsetRaw !== null && raw < this.offsetRaw) return off;
    return this.base.read(raw) + off >= trigger(s) ? off - sign(s.kind) * ONE_SECOND : off;
  }

  readUtc(raw: RawTime): NtpTime {
    return this.base.read(raw) + this.utcOffset(raw);
  }

  /** A timestamp of UTC (a server's) taken onto the base clock's timescale as of counter `raw`. */
  toContinuous(t: NtpTime, raw: RawTime): NtpTime {
    return t - this.utcOffset(raw);
  }

  /** Seconds the served time differs from UTC at `raw` (slew or smear), 0 otherwise. */
  correction(raw: RawTime): number {
    return durationToSeconds(this.correctionDuration(raw));
  }

  /**
   * Slew mode: the leap the slew follows at `raw` — the last one carried out, or a scheduled one whose
   * instant has passed but which `poll` has not carried out yet (so that the served time never shows
   * the UTC view's step in between).
   */
  private slewLeap(raw: RawTime): { raw: RawTime; step: number } | null {
    const s = this.sched;
    if (s !== null && !(this.offsetRaw !== null && raw < this.offsetRaw)) {
      const late = durationToSeconds(this.base.read(raw) + this.committed(raw) - trigger(s));
      if (late >= 0) return { raw: raw - BigInt(Math.round(late * 1e9)), step: s.kind === 'insert' ? -1 : 1 };
    }
    const l = this.last;
    return l === null || raw < l.raw ? null : l;
  }

  private correctionDuration(raw: RawTime): NtpDuration {
    if (this.mode === 'slew') {
      const l = this.slewLeap(raw);
      if (l === null) return 0n;
      const left = 1 - this.slewRate * (Number(raw - l.raw) / 1e9);
      return left <= 0 ? 0n : -BigInt(l.step) * secondsToDuration(left);
    }
    if (this.mode !== 'smear') return 0n;
    const s = this.sched;
    if (s !== null) {
      const stepped = this.utcOffset(raw) !== this.committed(raw);
      return this.smear(s.kind, s.at, s.smearStart, this.base.read(raw) + this.committed(raw), stepped);
    }
    const l = this.last;
    if (l === null) return 0n;
    const before = raw < l.raw;
    const pre = this.base.read(raw) + (before ? this.committed(raw) : this.prevOffset);
    return this.smear(l.kind, l.at, l.smearStart, pre, !before);
  }

  /**
   * The smear correction at pre-leap time `pre`: the served time runs linearly from UTC at
   * `start` to UTC at the end of the window (`at` + half the window, UTC), absorbing the second.
   */
  private smear(kind: LeapKind, at: NtpTime, start: NtpTime, pre: NtpTime, stepped: boolean): NtpDuration {
    const sg = sign(kind);
    const end = at + this.window / 2n + sg * ONE_SECOND;
    let f: NtpDuration;
    if (pre <= start) f = 0n;
    else if (pre >= end) f = ONE_SECOND;
    else f = ((pre - start) * ONE_SECOND) / (end - start);
    // Before the step: served = utc − sg·f; after it utc is sg seconds lower, served the same.
    return stepped ? sg * (ONE_SECOND - f) : -sg * f;
  }

  /**
   * Rate of the served time against the UTC view at `raw` (s/s; steps aside): the slew after the
   * leap, or the smear. The system-clock driver feeds it forward to the kernel.
   */
  correctionRate(raw: RawTime): number {
    if (this.mode === 'slew') {
      const l = this.slewLeap(raw);
      if (l === null || this.slewRate * (Number(raw - l.raw) / 1e9) >= 1) return 0;
      return l.step * this.slewRate;
    }
    const w = this.smearWindowAt(raw);
    return w === null ? 0 : -Number(sign(w.kind)) / durationToSeconds(w.end - w.start);
  }

  /** The time on the pre-leap timescale at `raw` (the smear runs on it: no step inside the window). */
  private preLeap(raw: RawTime): NtpTime {
    const l = this.last;
    const after = this.sched === null && l !== null && raw >= l.raw;
    return this.base.read(raw) + (after ? this.prevOffset : this.committed(raw));
  }

  /** Smear mode: the smear in force at `raw` (pre-leap start and end of its window), or null outside one. */
  private smearWindowAt(raw: RawTime): { kind: LeapKind; start: NtpTime; end: NtpTime } | null {
    if (this.mode !== 'smear') return null;
    const s = this.sched ?? this.last;
    if (s === null) return null;
    const pre = this.preLeap(raw);
    const end = s.at + this.window / 2n + sign(s.kind) * ONE_SECOND;
    return pre >= s.smearStart && pre < end ? { kind: s.kind, start: s.smearStart, end } : null;
  }

  /**
   * The next counter value after `raw` at which `correctionRate` changes (the leap, the end of the
   * slew, the edges of the smear window), or null: the driver wakes then to re-steer the kernel.
   */
  nextRateChange(raw: RawTime): RawTime | null {
    const after = (pre: NtpTime, t: NtpTime): RawTime | null => {
      const d = durationToSeconds(t - pre);
      return d > 0 ? raw + BigInt(Math.ceil(d * 1e9)) : null;
    };
    if (this.mode === 'slew') {
      const l = this.slewLeap(raw);
      if (l !== null) {
        const end = l.raw + BigInt(Math.round(1e9 / this.slewRate));
        return end > raw ? end : null;
      }
      const s = this.sched;
      return s === null ? null : after(this.base.read(raw) + this.committed(raw), trigger(s));
    }
    if (this.mode !== 'smear') return null;
    const s = this.sched ?? this.last;
    if (s === null) return null;
    const pre = this.preLeap(raw);
    const end = s.at + this.window / 2n + sign(s.kind) * ONE_SECOND;
    return after(pre, pre < s.smearStart ? s.smearStart : end);
  }

  readServed(raw: RawTime): NtpTime {
    return this.readUtc(raw) + this.correctionDuration(raw);
  }

  /** Whether the served time is being smeared (smear mode, inside the window) at `raw`. */
  smearing(raw: RawTime): boolean {
    return this.mode === 'smear' && this.correctionDuration(raw) !== 0n;
  }

  /**
   * Carries out a scheduled leap whose instant has passed by `raw`: the UTC view's offset is
   * committed from the counter value at which the second was repeated (or skipped), the listeners
   * hear of the step. Returns what was done, or null.
   */
  poll(raw: RawTime): LeapExecution | null {
    const s = this.sched;
    if (s === null) return null;
    const off = this.committed(raw);
    const pre = this.base.read(raw) + off;
    const t = trigger(s);
    if (pre < t) return null;
    this.sched = null;
    const late = durationToSeconds(pre - t);
    const at = raw - BigInt(Math.round(late * 1e9));
    const atRaw = this.offsetRaw !== null && at < this.offsetRaw ? this.offsetRaw : at;
    const step = this.mode === 'ignore' ? 0 : s.kind === 'insert' ? -1 : 1;
    const e = { kind: s.kind, at: s.at, raw: atRaw, mode: this.mode, step, smearStart: s.smearStart };
    this.last = e;
    if (step !== 0) {
      this.prevOffset = off;
      this.offset = off + BigInt(step) * ONE_SECOND;
      this.offsetRaw = atRaw;
      const reason = s.kind === 'insert' ? 'leap second inserted (23:59:59 repeated)' : 'leap second deleted';
      const change: ClockChange = { kind: 'step', raw: atRaw, offset: step, reason };
      for (const l of [...this.listeners]) l(change);
    }
    return this.lastLeap();
  }
}
