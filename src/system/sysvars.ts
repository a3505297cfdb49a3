/**
 * The system variables (RFC 5905 section 11.3) and the state we advertise from them: synchronised
 * (possibly in holdover), a configured local stratum, or unsynchronised (LI 3, stratum 16, INIT).
 */
import { PHI } from '../algo/constants.js';
import type { ServerState } from '../assoc/server.js';
import { type LocalClock, type RawTime, rawSeconds } from '../clock/types.js';
import { type NtpTime, toTimestamp } from '../time/ntp-time.js';
import { secondsToShort } from '../time/short.js';
import { refidFromString } from '../wire/refid.js';
import type { SystemConfig } from './types.js';

const REFID_INIT = refidFromString('INIT');
const REFID_LOCL = refidFromString('LOCL');

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
  synchronised = false;
  private readonly config: Pick<SystemConfig, 'maxDistance' | 'localStratum' | 'precision'>;
  private readonly clock: LocalClock;

  constructor(config: Pick<SystemConfig, 'maxDistance' | 'localStratum' | 'precision'>, clock: LocalClock) {
    this.config = config;
    this.clock = clock;
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
  }

  /** After a step: unsynchronised until the next update. */
  stepped(): void {
    this.stratum = 16;
    this.leap = 3;
  }

  /**
   * Synchronised, possibly in holdover: after the last system peer is lost we keep serving our
   * variables with a root dispersion growing at PHI, until the root distance exceeds maxDistance.
   */
  holdingOver(raw: RawTime, hasSysPeer: boolean): boolean {
    if (!this.synchronised || this.stratum >= 16) return false;
    if (hasSysPeer || this.updateRaw === null) return true;
    const age = Math.max(0, rawSeconds(raw) - rawSeconds(this.updateRaw));
    return this.rootDelay / 2 + this.rootDispersion + PHI * age <= this.config.maxDistance;
  }

  /** Our system variables as advertised to clients and peers. */
  serverState(raw: RawTime, hasSysPeer: boolean): ServerState {
    if (this.holdingOver(raw, hasSysPeer)) {
      const age = this.updateRaw === null ? 0 : Math.max(0, rawSeconds(raw) - rawSeconds(this.updateRaw));
      return {
        leap: this.leap,
        stratum: this.stratum,
        precision: this.config.precision,
        rootDelay: secondsToShort(this.rootDelay),
        // Root dispersion grows at PHI since the last update (the bound stays honest between updates).
        rootDispersion: secondsToShort(this.rootDispersion + PHI * age),
        referenceId: this.refid,
        referenceTimestamp: this.referenceTime === null ? 0n : toTimestamp(this.referenceTime),
      };
    }
    if (this.config.localStratum !== null) {
      return {
        leap: 0,
        stratum: this.config.localStratum,
        precision: this.config.precision,
        rootDelay: 0,
        rootDispersion: 0,
        referenceId: REFID_LOCL,
        referenceTimestamp: toTimestamp(this.clock.read(raw)),
      };
    }
    // Not synchronised: LI=3, stratum 16 (sent as 0 on the wire, RFC 5905 section 7.3) and refid INIT,
    // as ntpd does, so clients see at once that we have no time to give.
    return {
      leap: 3,
      stratum: 16,
      precision: this.config.precision,
      rootDelay: 0,
      rootDispersion: 0,
      referenceId: REFID_INIT,
      referenceTimestamp: 0n,
    };
  }
}
