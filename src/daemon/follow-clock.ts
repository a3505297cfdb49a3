/**
 * `[clock] system-clock`: the host clock follows the software clock (src/io/sysclock.ts), only
 * when configured AND privileged. The software clock then runs on the kernel interface's raw
 * counter (CLOCK_MONOTONIC_RAW), which the adjustments do not affect.
 */
import type { RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import {
  type KernelClockInterface,
  type KernelStatus,
  loadFfiKernel,
  SystemClockDriver,
} from '../io/sysclock.js';
import type { LeapControl } from '../system/leap-control.js';
import type { Logger } from './log.js';

export class SystemClockFollower {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  private constructor(
    private readonly driver: SystemClockDriver,
    /** The raw counter the software clock must run on (CLOCK_MONOTONIC_RAW). */
    readonly raw: () => RawTime,
    private readonly log: () => Logger,
  ) {}

  /** The follower for `config`, or null (not configured, no clock_adjtime, or not allowed). */
  static create(
    config: DaemonConfig['clock'],
    kernel: KernelClockInterface | undefined,
    log: () => Logger,
  ): SystemClockFollower | null {
    if (!config.systemClock) return null;
    const k = kernel ?? loadFfiKernel({ allowWrite: true });
    if (k === null) {
      log().warn('system-clock: no clock_adjtime access (FFI unavailable); serving the software clock only');
      return null;
    }
    const driver = new SystemClockDriver(k, { enable: true, stepThreshold: config.stepThreshold });
    if (!driver.adjusting) {
      log().warn('system-clock: not adjusting the host clock', { reason: driver.reason });
      return null;
    }
    log().info('system-clock: the host clock follows the software clock', { kernel: k.name });
    return new SystemClockFollower(driver, () => k.rawNow(), log);
  }

  /** The kernel's counter/realtime pair to start the software clock from. */
  sample(): { raw: RawTime; realtime: bigint } {
    return this.driver.kernel.sample();
  }

  /**
   * Once a second while `synchronised()`: make the kernel clock follow what the engine serves (UTC
   * with the leap, slewed or smeared per leap-mode). In step mode the kernel inserts the second
   * itself (STA_INS/STA_DEL during the last day, as ntpd does), and the clock is left alone for the
   * seconds around midnight so that the two do not both step. In slew and smear modes the served
   * time's own rate is fed forward (up to ±100 000 ppm through ADJ_TICK), and the follower also wakes
   * at the instants that rate changes (the leap, the end of the slew, the edges of the smear window).
   */
  start(leap: LeapControl, synchronised: () => boolean): void {
    const run = () => {
      this.tick(leap, synchronised);
      if (!this.stopped) this.timer = setTimeout(run, this.nextDelayMs(leap));
    };
    this.timer = setTimeout(run, 1000);
  }

  /** The kernel clock's status as read back (adjtimex modes 0), or null. */
  status(): KernelStatus | null {
    return this.driver.readStatus();
  }

  /** Milliseconds until the next adjustment: a second, or less to the served time's next rate change. */
  nextDelayMs(lc: LeapControl): number {
    const raw = this.raw();
    const next = lc.clock.nextRateChange(raw);
    if (next === null) return 1000;
    return Math.max(1, Math.min(1000, Math.ceil(Number(next - raw) / 1e6)));
  }

  /** One adjustment (what the timer runs), when `synchronised()`. */
  tick(lc: LeapControl, synchronised: () => boolean): void {
    if (synchronised()) this.follow(lc);
  }

  private follow(lc: LeapControl): void {
    const raw = this.raw();
    const pending = lc.clock.scheduled();
    const step = lc.clock.mode === 'step';
    if (pending !== null && step && Math.abs(Number(pending.at - lc.clock.utc.read(raw)) / 2 ** 32) < 3)
      return;
    const last = lc.clock.lastLeap();
    if (last !== null && last.mode === 'step' && Number(raw - last.raw) / 1e9 < 3) return;
    const kernelLeap = step && pending !== null && lc.indicator(raw) !== 0 ? pending.kind : null;
    const r = this.driver.follow(lc.clock.served, kernelLeap, lc.clock.correctionRate(raw) * 1e6);
    if (r.kind === 'step') this.log().info('system clock stepped', { offset: r.offset });
    else if (r.kind === 'error') this.log().warn('system clock adjustment failed', { errno: r.errno });
    else if (r.kind === 'disabled') {
      this.log().warn('system clock driving stopped', { reason: r.reason });
      this.stop();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
