/**
 * A model of the Linux kernel clock as seen through adjtimex(2)/clock_adjtime(2) (kernel/time/ntp.c):
 * the realtime clock over a hardware counter, the kernel PLL/FLL (ADJ_OFFSET with STA_PLL, STA_FLL),
 * ADJ_FREQUENCY in scaled ppm (ppm × 2^16), ADJ_SETOFFSET steps, ADJ_OFFSET_SINGLESHOT (adjtime),
 * maxerror growth and STA_UNSYNC, time constant, TAI offset, status bits, ADJ_TICK (the clock's rate is
 * tick × USER_HZ µs per second plus the frequency), the leap-second state machine (STA_INS/STA_DEL →
 * TIME_INS/TIME_DEL, the second repeated or skipped at UTC midnight, TIME_OOP, TIME_WAIT), and EPERM
 * when unprivileged.
 *
 * It lets the system-clock driver (src/io/sysclock.ts) be tested without touching the host clock.
 * Sans-IO: time advances only through the hardware counter values passed in (nanoseconds).
 *
 * Simplifications: the per-tick phase adjustment is applied per second of the hardware counter
 * (the kernel's second_overflow), interpolated linearly inside the second; the leap state machine
 * runs on realtime seconds, evaluated whenever the clock is read or adjusted (exactly as if at every
 * second); PPS is not modelled.
 */

export const ADJ_OFFSET = 0x0001;
export const ADJ_FREQUENCY = 0x0002;
export const ADJ_MAXERROR = 0x0004;
export const ADJ_ESTERROR = 0x0008;
export const ADJ_STATUS = 0x0010;
export const ADJ_TIMECONST = 0x0020;
export const ADJ_TAI = 0x0080;
export const ADJ_SETOFFSET = 0x0100;
export const ADJ_MICRO = 0x1000;
export const ADJ_NANO = 0x2000;
export const ADJ_TICK = 0x4000;
export const ADJ_OFFSET_SINGLESHOT = 0x8001;
export const ADJ_OFFSET_SS_READ = 0xa001;

export const STA_PLL = 0x0001;
export const STA_PPSFREQ = 0x0002;
export const STA_PPSTIME = 0x0004;
export const STA_FLL = 0x0008;
export const STA_INS = 0x0010;
export const STA_DEL = 0x0020;
export const STA_UNSYNC = 0x0040;
export const STA_FREQHOLD = 0x0080;
export const STA_PPSSIGNAL = 0x0100;
export const STA_PPSJITTER = 0x0200;
export const STA_PPSWANDER = 0x0400;
export const STA_PPSERROR = 0x0800;
export const STA_CLOCKERR = 0x1000;
export const STA_NANO = 0x2000;
export const STA_MODE = 0x4000;
export const STA_CLK = 0x8000;
/** Read-only status bits. */
export const STA_RONLY =
  STA_PPSSIGNAL | STA_PPSJITTER | STA_PPSWANDER | STA_PPSERROR | STA_CLOCKERR | STA_NANO | STA_MODE | STA_CLK;

export const TIME_OK = 0;
export const TIME_INS = 1;
export const TIME_DEL = 2;
export const TIME_OOP = 3;
export const TIME_WAIT = 4;
export const TIME_ERROR = 5;

/** Kernel constants (kernel/time/ntp.c, include/linux/timex.h). */
const SHIFT_PLL = 2;
const SHIFT_FLL = 2;
const MAXTC = 10;
const MAXPHASE_NS = 500_000_000;
const MAXFREQ_NS = 500_000; // ns/s = 500 ppm
const MINSEC = 256;
const MAXSEC = 2048;
const NTP_PHASE_LIMIT_US = (MAXPHASE_NS / 1000) << 5; // 16 s
const MAX_TICKADJ_NS = 500_000; // adjtime slew: 500 µs per second
/** The ABI's clock ticks per second (USER_HZ) and the nominal and allowed ADJ_TICK values (µs). */
export const USER_HZ = 100;
export const NOMINAL_TICK = 1_000_000 / USER_HZ;
export const MIN_TICK = 900_000 / USER_HZ;
export const MAX_TICK = 1_100_000 / USER_HZ;
const S = 1_000_000_000n;
const DAY_S = 86400n;
export const SCALED_PPM = 65536;

/** The fields of `struct timex` the model uses. Units as in the kernel ABI. */
export interface Timex {
  modes: number;
  /** Offset: ns with STA_NANO (or ADJ_NANO), else µs. */
  offset: number;
  /** Frequency offset, ppm × 2^16. */
  freq: number;
  /** µs. */
  maxerror: number;
  esterror: number;
  status: number;
  constant: number;
  precision: number;
  tolerance: number;
  /** For ADJ_SETOFFSET: seconds and sub-second part (ns with ADJ_NANO, else µs). Readback: the time. */
  timeSec: number;
  timeFrac: number;
  tick: number;
  tai: number;
}

export type AdjtimexResult =
  | { ok: true; state: number; timex: Timex }
  | { ok: false; errno: 'EPERM' | 'EINVAL' };

export function emptyTimex(modes = 0): Timex {
  return {
    modes,
    offset: 0,
    freq: 0,
    maxerror: 0,
    esterror: 0,
    status: 0,
    constant: 0,
    precision: 0,
    tolerance: 0,
    timeSec: 0,
    timeFrac: 0,
    tick: 0,
    tai: 0,
  };
}

/** The whole second (floor) of a realtime in ns. */
function secondOf(ns: bigint): bigint {
  return ns >= 0n ? ns / S : -((-ns + S - 1n) / S);
}

export interface KernelModelOptions {
  /** Hardware counter (ns) and realtime (Unix ns) at the start. */
  hw?: bigint;
  realtime?: bigint;
  /** Whether the caller has CAP_SYS_TIME (otherwise every mode-setting call fails with EPERM). */
  privileged?: boolean;
  /** Initial status (default STA_UNSYNC, like a booted kernel without NTP). */
  status?: number;
}

export class KernelClockModel {
  private hwSec: bigint;
  private rtSec: bigint;
  /** ns/s of the current second, incl. frequency and the PLL phase chunk. */
  private curRate = 1e9;
  private hwNow: bigint;
  private freqNs = 0;
  private offsetNs = 0;
  private singleshotNs = 0;
  private tc = 0;
  private status: number;
  private maxerrorUs = NTP_PHASE_LIMIT_US;
  private esterrorUs = NTP_PHASE_LIMIT_US;
  private tai = 0;
  private tick = NOMINAL_TICK;
  private reftimeSec: number;
  /** Leap state (TIME_OK … TIME_WAIT; TIME_ERROR is only reported, from the status bits). */
  private state = TIME_OK;
  /** Realtime (ns) at which the pending leap fires: midnight (insert) or 23:59:59 (delete). */
  private leapAt: bigint | null = null;
  /** Realtime second in which STA_INS/STA_DEL last changed (the state machine acts a second later). */
  private flagSec = 0n;
  privileged: boolean;
  /** Steps applied (ADJ_SETOFFSET), for tests. */
  readonly steps: number[] = [];
  /** Leap seconds carried out: the kind and the UTC midnight (Unix s) they preceded, for tests. */
  readonly leaps: { kind: 'insert' | 'delete'; midnight: number }[] = [];

  constructor(opts: KernelModelOptions = {}) {
    this.hwSec = opts.hw ?? 0n;
    this.hwNow = this.hwSec;
    this.rtSec = opts.realtime ?? 1_767_225_600_000_000_000n;
    this.privileged = opts.privileged ?? true;
    this.status = opts.status ?? STA_UNSYNC;
    this.reftimeSec = Number(this.rtSec / 1_000_000_000n);
    this.startSecond();
  }

  /** Computes the rate of the second that starts now (kernel second_overflow). */
  private startSecond(): void {
    let delta = this.offsetNs / 2 ** (SHIFT_PLL + this.tc);
    if (!(this.status & STA_PLL)) delta = 0;
    this.offsetNs -= delta;
    let ss = 0;
    if (this.singleshotNs !== 0) {
      ss = Math.sign(this.singleshotNs) * Math.min(Math.abs(this.singleshotNs), MAX_TICKADJ_NS);
      this.singleshotNs -= ss;
    }
    this.curRate = this.tick * 1000 * USER_HZ + this.freqNs + delta + ss;
  }

  /** Advances the model to hardware counter value `hw` (never backwards). */
  advance(hw: bigint): void {
    if (hw < this.hwNow) return;
    this.hwNow = hw;
    while (hw - this.hwSec >= 1_000_000_000n) {
      this.rtSec += BigInt(Math.round(this.curRate));
      this.hwSec += 1_000_000_000n;
      this.maxerrorUs += MAXFREQ_NS / 1000;
      if (this.maxerrorUs > NTP_PHASE_LIMIT_US) {
        this.maxerrorUs = NTP_PHASE_LIMIT_US;
        this.status |= STA_UNSYNC;
      }
      this.startSecond();
    }
  }

  /** CLOCK_REALTIME (Unix ns) at hardware counter value `hw`. */
  realtime(hw: bigint): bigint {
    this.advance(hw);
    const into = Number(hw - this.hwSec);
    return this.leapStep(this.rtSec + BigInt(Math.round((into * this.curRate) / 1e9)));
  }

  /**
   * The kernel's leap-second state machine (second_overflow), caught up to realtime `rt` (ns, before
   * any leap due by then); returns `rt` after it. A leap moves the whole timescale by a second from
   * the instant it fires, so applying it when the clock is next read gives the same readings.
   */
  private leapStep(rt: bigint): bigint {
    const flags = this.status & (STA_INS | STA_DEL);
    const sec = secondOf(rt);
    let t = rt;
    if (this.state === TIME_OK && flags !== 0 && sec > this.flagSec) {
      // The state machine sees the flag at the next second boundary, and the leap is at the end of that day.
      const seen = this.flagSec + 1n;
      if (flags & STA_INS) {
        this.state = TIME_INS;
        this.leapAt = (seen - (seen % DAY_S) + DAY_S) * S;
      } else {
        this.state = TIME_DEL;
        this.leapAt = (seen + 1n - ((seen + 1n) % DAY_S) + DAY_S - 1n) * S;
      }
    }
    if (this.state === TIME_INS && this.leapAt !== null && t >= this.leapAt) {
      this.rtSec -= S;
      t -= S;
      this.tai += 1;
      this.state = TIME_OOP;
      this.leaps.push({ kind: 'insert', midnight: Number(this.leapAt / S) });
    }
    if (this.state === TIME_OOP && this.leapAt !== null && t >= this.leapAt) {
      this.state = TIME_WAIT;
      this.leapAt = null;
    }
    if (this.state === TIME_DEL && this.leapAt !== null && t >= this.leapAt) {
      this.rtSec += S;
      t += S;
      this.tai -= 1;
      this.state = TIME_WAIT;
      this.leaps.push({ kind: 'delete', midnight: Number(this.leapAt / S) + 1 });
      this.leapAt = null;
    }
    if (this.state === TIME_WAIT && flags === 0 && sec > this.flagSec) this.state = TIME_OK;
    return t;
  }

  private get nano(): boolean {
    return (this.status & STA_NANO) !== 0;
  }

  private readback(): Timex {
    const t = emptyTimex(0);
    t.offset = Math.round(this.nano ? this.offsetNs : this.offsetNs / 1000);
    t.freq = Math.round((this.freqNs / 1000) * SCALED_PPM);
    t.maxerror = Math.round(this.maxerrorUs);
    t.esterror = Math.round(this.esterrorUs);
    t.status = this.status;
    t.constant = this.tc;
    t.precision = 1;
    t.tolerance = (MAXFREQ_NS / 1000) * SCALED_PPM;
    const rt = this.realtime(this.hwNow);
    t.timeSec = Number(rt / 1_000_000_000n);
    const ns = Number(rt % 1_000_000_000n);
    t.timeFrac = this.nano ? ns : Math.floor(ns / 1000);
    t.tick = this.tick;
    t.tai = this.tai;
    return t;
  }

  /** adjtimex(2) / clock_adjtime(CLOCK_REALTIME) at hardware counter value `hw`. */
  adjtimex(hw: bigint, tx: Timex): AdjtimexResult {
    this.advance(hw);
    let modes = tx.modes;
    if (modes === ADJ_OFFSET_SS_READ) modes = 0;
    if (modes !== 0 && !this.privileged) return { ok: false, errno: 'EPERM' };
    if (modes & ADJ_TICK && (tx.tick < MIN_TICK || tx.tick > MAX_TICK)) return { ok: false, errno: 'EINVAL' };
    const rtNow = this.realtime(hw);
    if (modes & ADJ_SETOFFSET) {
      const frac = modes & ADJ_NANO ? tx.timeFrac : tx.timeFrac * 1000;
      if (frac < 0 || frac >= 1e9) return { ok: false, errno: 'EINVAL' };
      const ns = BigInt(tx.timeSec) * 1_000_000_000n + BigInt(frac);
      this.rtSec += ns;
      this.steps.push(Number(ns) / 1e9);
    }
    if ((modes & ADJ_OFFSET_SINGLESHOT) === ADJ_OFFSET_SINGLESHOT) {
      this.rebaseSecond(hw);
      this.singleshotNs = tx.offset * 1000;
      this.startSecond();
      return { ok: true, state: this.timeState(), timex: this.readback() };
    }
    if (modes & ADJ_STATUS) {
      const wasPll = (this.status & STA_PLL) !== 0;
      const wantPll = (tx.status & STA_PLL) !== 0;
      if (wasPll && !wantPll) {
        // The kernel resets the leap state when the PLL is turned off (a flag still set re-arms it a second later).
        this.state = TIME_OK;
        this.leapAt = null;
        this.flagSec = secondOf(rtNow);
      }
      if (!wasPll && wantPll) this.reftimeSec = Number(rtNow / S);
      const oldFlags = this.status & (STA_INS | STA_DEL);
      this.status = (this.status & STA_RONLY) | (tx.status & ~STA_RONLY);
      const flags = this.status & (STA_INS | STA_DEL);
      if (flags !== oldFlags) this.flagSec = secondOf(rtNow);
      // Clearing the flag before the leap fires cancels it (the kernel's TIME_INS/TIME_DEL → TIME_OK).
      if (
        (this.state === TIME_INS && !(flags & STA_INS)) ||
        (this.state === TIME_DEL && !(flags & STA_DEL))
      ) {
        this.state = TIME_OK;
        this.leapAt = null;
      }
    }
    if (modes & ADJ_NANO) this.status |= STA_NANO;
    if (modes & ADJ_MICRO) this.status &= ~STA_NANO;
    if (modes & ADJ_FREQUENCY) {
      const ns = (tx.freq / SCALED_PPM) * 1000;
      this.freqNs = Math.max(-MAXFREQ_NS, Math.min(MAXFREQ_NS, ns));
    }
    if (modes & ADJ_MAXERROR) this.maxerrorUs = Math.max(0, Math.min(NTP_PHASE_LIMIT_US, tx.maxerror));
    if (modes & ADJ_ESTERROR) this.esterrorUs = Math.max(0, Math.min(NTP_PHASE_LIMIT_US, tx.esterror));
    if (modes & ADJ_TIMECONST) {
      let tc = tx.constant;
      if (!(this.status & STA_NANO)) tc += 4;
      this.tc = Math.max(0, Math.min(MAXTC, tc));
    }
    if (modes & ADJ_TAI && tx.constant >= 0) this.tai = tx.constant;
    if (modes & ADJ_TICK) this.tick = tx.tick;
    if (modes & ADJ_OFFSET) this.updateOffset(hw, tx.offset);
    if (modes & (ADJ_OFFSET | ADJ_FREQUENCY | ADJ_TICK)) {
      this.rebaseSecond(hw);
      this.startSecond();
    }
    return { ok: true, state: this.timeState(), timex: this.readback() };
  }

  /** Re-anchors the current second at `hw` so a rate change applies from now on. */
  private rebaseSecond(hw: bigint): void {
    const into = Number(hw - this.hwSec);
    this.rtSec += BigInt(Math.round((into * this.curRate) / 1e9));
    this.hwSec = hw;
  }

  /** ntp_update_offset(): the kernel PLL/FLL. */
  private updateOffset(hw: bigint, offsetIn: number): void {
    if (!(this.status & STA_PLL)) return;
    let offset = offsetIn;
    if (!(this.status & STA_NANO)) {
      offset = Math.max(-1_000_000, Math.min(1_000_000, offset)) * 1000;
    }
    offset = Math.max(-MAXPHASE_NS, Math.min(MAXPHASE_NS, offset));
    const nowSec = Number(this.realtime(hw) / 1_000_000_000n);
    let secs = nowSec - this.reftimeSec;
    if (this.status & STA_FREQHOLD) secs = 0;
    this.reftimeSec = nowSec;
    // FLL (ntp_update_offset_fll)
    let freqAdj = 0;
    this.status &= ~STA_MODE;
    if (secs >= MINSEC && (this.status & STA_FLL || secs > MAXSEC)) {
      this.status |= STA_MODE;
      freqAdj = offset / (2 ** SHIFT_FLL * secs);
    }
    // PLL, with the update interval clamped to reduce the gain at low sampling rates
    const maxSecs = 2 ** (SHIFT_PLL + 1 + this.tc);
    if (secs > maxSecs) secs = maxSecs;
    freqAdj += (offset * secs) / 2 ** (2 * (SHIFT_PLL + 2 + this.tc));
    this.freqNs = Math.max(-MAXFREQ_NS, Math.min(MAXFREQ_NS, this.freqNs + freqAdj));
    this.offsetNs = offset;
  }

  private timeState(): number {
    return this.status & (STA_UNSYNC | STA_CLOCKERR) ? TIME_ERROR : this.state;
  }

  /** The leap state (TIME_OK … TIME_WAIT) at `hw`, without the TIME_ERROR override, for tests. */
  leapState(hw: bigint): number {
    this.realtime(hw);
    return this.state;
  }

  /** Remaining phase offset the kernel is slewing (ns), for tests. */
  pendingOffsetNs(): number {
    return this.offsetNs + this.singleshotNs;
  }

  /** Frequency correction in ppm, for tests. */
  frequencyPpm(): number {
    return this.freqNs / 1000;
  }
}
