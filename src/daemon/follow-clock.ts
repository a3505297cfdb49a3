/**
 * `[clock] system-clock`: the host clock follows the software clock (src/io/sysclock.ts), only
 * when configured AND privileged. The software clock then runs on the kernel interface's raw
 * counter (CLOCK_MONOTONIC_RAW), which the adjustments do not affect.
 */
import type { LocalClock, RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import { type KernelClockInterface, loadFfiKernel, SystemClockDriver } from '../io/sysclock.js';
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

  /** Once a second while `synchronised()`: make the kernel clock follow `clock`. */
  start(clock: LocalClock, synchronised: () => boolean): void {
    this.timer = setInterval(() => {
      if (synchronised()) this.follow(clock);
    }, 1000);
  }

  private follow(clock: LocalClock): void {
    const r = this.driver.follow(clock);
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
