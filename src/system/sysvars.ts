/**
 * The system variables (RFC 5905 section 11.3) and the state we advertise from them through the one
 * announcement rule (src/system/announce.ts): synchronised (possibly in holdover), a configured local
 * stratum, or unsynchronised (LI 3, stratum 16, INIT).
 */
import type { ServerState } from '../assoc/server.js';
import { type LocalClock, type RawTime, rawSeconds } from '../clock/types.js';
import type { NtpTime } from '../time/ntp-time.js';
import { type Announcement, announce, type ServedClock } from './announce.js';
import type { SystemConfig, SystemEvent } from './types.js';

/** Slews from this size (s) on are announced (clock-slew event): an operator wants to hear of them. */
export const LARGE_SLEW = 0.1;

/** What a clock update sets (clock_update()). */
export interface SystemUpdate {
  leap: number;
  stratum: number;
  refid: number;
  rootDelay: number;
  rootDispersion: number;
  /** Combined offset and system jitter (s). */
  offset: number;
  jitter: number;
}

export class SystemVariables {
  leap = 3;
  stratum = 16;
  refid = 0;
  referenceTime: NtpTime | null = null;
  /** Counter value of the last clock update (s.t). */
  updateRaw: RawTime | null = null;
  rootDelay = 0;
  rootDispersion = 0;
  offset = 0;
  jitter = 0;
  /** A clock update stands (the announcement rule decides what is announced from it). */
  synchronised = false;
  /** Why the standing update is not announced (a step pending), or null. */
  hold: string | null = null;
  /** The clock model changed since start (a step or a rate correction): no longer the host's time. */
  clockTouched: boolean;
  /** Times the sources showed the served time beyond the announced root distance. */
  violations = 0;
  /** Synchronisation as last announced (for the 'sync' event). */
  private announced = false;
  private readonly config: Pick<SystemConfig, 'maxDistance' | 'localStratum' | 'precision'>;
  private readonly clock: LocalClock;

  constructor(config: Pick<SystemConfig, 'maxDistance' | 'localStratum' | 'precision'>, clock: LocalClock) {
    this.config = config;
    this.clock = clock;
    this.clockTouched = clock.frequencyPpm() !== 0;
  }

  /** After a clock update the discipline applied, at counter value `raw`. */
  update(raw: RawTime, u: SystemUpdate): void {
    this.leap = u.leap;
    this.stratum = u.stratum;
    this.refid = u.refid;
    this.referenceTime = this.clock.read(raw);
    this.updateRaw = raw;
    this.rootDelay = u.rootDelay;
    this.rootDispersion = u.rootDispersion;
    this.offset = u.offset;
    this.jitter = u.jitter;
    this.hold = null;
  }

  /** After a step: unsynchronised until the next update. */
  stepped(): void {
    this.stratum = 16;
    this.leap = 3;
    this.hold = null;
  }

  /** The announcement rule applied at `raw` (holdover when there is no system peer). */
  announcement(raw: RawTime, hasSysPeer: boolean): Announcement {
    const age = this.updateRaw === null ? 0 : Math.max(0, rawSeconds(raw) - rawSeconds(this.updateRaw));
    const local = this.config.localStratum;
    const bound = this.clock.errorBound(raw);
    const served: ServedClock = Number.isFinite(bound) ? 'disciplined' : this.clockTouched ? 'other' : 'host';
    return announce({
      system: this.synchronised
        ? {
            leap: this.leap,
            stratum: this.stratum,
            refid: this.refid,
            referenceTime: this.referenceTime,
            rootDelay: this.rootDelay,
            rootDispersion: this.rootDispersion,
            age,
            holdover: !hasSysPeer,
          }
        : null,
      clockBound: bound,
      pending: this.clock.pendingSlew?.(raw) ?? 0,
      hold: this.hold,
      maxDistance: this.config.maxDistance,
      local: local === null ? null : { stratum: local, served },
      precision: this.config.precision,
      now: this.clock.read(raw),
    });
  }

  /** A slew of `offset` s was applied: true when it is large and the one before was not (log it once). */
  largeSlewStarted(offset: number): boolean {
    const large = Math.abs(offset) >= LARGE_SLEW;
    const started = large && !this.largeSlew;
    this.largeSlew = large;
    return started;
  }
  private largeSlew = false;

  /**
   * The served-time check, at each selection: `offsetNow`, the system peer's offset now, is what the
   * served time is off the sources by. Beyond the announced root distance plus half the sample's delay
   * (the most its asymmetry hides) the announcement was wrong: counted, and unsynchronised until the
   * next clock update. Returns the event to emit, or null.
   */
  checkServed(raw: RawTime, hasSysPeer: boolean, offsetNow: number, delay: number): SystemEvent | null {
    const a = this.announcement(raw, hasSysPeer);
    if (!a.synchronised || a.basis === 'local' || Math.abs(offsetNow) <= a.distance + delay / 2) return null;
    this.violations++;
    this.synchronised = false;
    return { kind: 'served-time-violation', offset: offsetNow, distance: a.distance };
  }

  /** The 'sync' event when the announcement changed since the last call, else null. */
  syncChange(raw: RawTime, hasSysPeer: boolean): SystemEvent | null {
    const a = this.announcement(raw, hasSysPeer);
    if (a.synchronised === this.announced) return null;
    this.announced = a.synchronised;
    return a.synchronised
      ? { kind: 'sync', synchronised: true }
      : { kind: 'sync', synchronised: false, reason: a.reason };
  }

  /** Our system variables as advertised to clients and peers. */
  serverState(raw: RawTime, hasSysPeer: boolean): ServerState {
    return this.announcement(raw, hasSysPeer).state;
  }
}
