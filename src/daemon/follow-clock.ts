/**
 * `[clock] system-clock`: the host clock follows the software clock (src/io/sysclock.ts), only
 * when configured AND privileged. The software clock then runs on the kernel interface's raw
 * counter (CLOCK_MONOTONIC_RAW), which the adjustments do not affect.
 */
import type { RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import { type KernelClockInterface, loadFfiKernel, SystemClockDriver } from '../io/sysclock.js';
import type { LeapControl } from '../system/leap-control.js';
import type { Logger } from './log.js';

export class SystemClockFollower {
  private timer: NodeJS.Timeout | null = null;

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
   * seconds around midnight so that the two do not both step.
   */
  start(leap: LeapControl, synchronised: () => boolean): void {
    this.timer = setInterval(() => {
      if (synchronised()) this.follow(leap);
    }, 1000);
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
    const r = this.driver.follow(lc.clock.served, kernelLeap);
    if (r.kind === 'step') this.log().info('system clock stepped', { offset: r.offset });
    else if (r.kind === 'error') this.log().warn('system clock adjustment failed', { errno: r.errno });
    else if (r.kind === 'disabled') {
      this.log().warn('system clock driving stopped', { reason: r.reason });
      this.stop();
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
