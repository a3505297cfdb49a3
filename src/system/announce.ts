/**
 * The one announcement rule: what the system says on the wire (leap, stratum, refid, root delay and
 * dispersion) about the time it serves. Synchronisation is announced only while the served time is the
 * disciplined one, within a root distance that covers the clock's own uncertainty and any correction
 * not applied yet; otherwise LI 3, stratum 16, refid INIT (see docs/engine.md, "What is served when").
 */
import { PHI } from '../algo/constants.js';
import type { ServerState } from '../assoc/server.js';
import { type NtpTime, toTimestamp } from '../time/ntp-time.js';
import { secondsToShort } from '../time/short.js';
import { refidFromString } from '../wire/refid.js';

const REFID_INIT = refidFromString('INIT');
const REFID_LOCL = refidFromString('LOCL');

/** The system variables of the last clock update (RFC 5905 section 11.3). */
export interface SystemTime {
  leap: number;
  stratum: number;
  refid: number;
  referenceTime: NtpTime | null;
  rootDelay: number;
  /** Root dispersion at the update (s); it grows at PHI from there. */
  rootDispersion: number;
  /** Seconds since the update. */
  age: number;
  /** The system peer is gone (holdover on the last update). */
  holdover: boolean;
}

/** What the clock being served is, for `[local] stratum`. */
export type ServedClock =
  /** Still the host's time as read at start (no step, no rate correction since). */
  | 'host'
  /** Disciplined at least once (its error bound is finite): free-running from there. */
  | 'disciplined'
  /** Neither (e.g. a rate correction from a state file, never synchronised). */
  | 'other';

export interface AnnounceInput {
  /** The last clock update while it stands (null: none, or undone by a step or a violation). */
  system: SystemTime | null;
  /** The clock's bound on its error at now (`LocalClock.errorBound`); Infinity: never disciplined. */
  clockBound: number;
  /** Correction the clock has taken but not applied to its reading yet (s, a pending slew). */
  pending: number;
  /** Why the served time is not the disciplined one although an update stands (null: it is). */
  hold: string | null;
  /** Root distance beyond which nothing is announced as synchronised (the selection's limit). */
  maxDistance: number;
  /** `[local] stratum` and what the served clock is, or null. */
  local: { stratum: number; served: ServedClock } | null;
  precision: number;
  /** The clock's reading now (reference timestamp of a local reference). */
  now: NtpTime;
}

export type Announcement =
  | {
      synchronised: true;
      /** 'system': a system peer; 'holdover': the last update, aging; 'local': `[local] stratum`. */
      basis: 'system' | 'holdover' | 'local';
      /** Root distance announced (s). */
      distance: number;
      state: ServerState;
    }
  | { synchronised: false; reason: string; state: ServerState };

/** LI 3, stratum 16 (0 on the wire), refid INIT: no time to give (RFC 5905 section 7.3). */
function unsynchronised(precision: number, reason: string): Announcement {
  return {
    synchronised: false,
    reason,
    state: {
      leap: 3,
      stratum: 16,
      precision,
      rootDelay: 0,
      rootDispersion: 0,
      referenceId: REFID_INIT,
      referenceTimestamp: 0n,
    },
  };
}

/**
 * The announcement for `i`. A standing system update is announced with its root dispersion aged at PHI
 * plus the pending correction, raised to the clock's own error bound when that is larger — so the
 * served time is never further from the disciplined time than the root distance said — and only while
 * that distance is within `maxDistance`. Without one, `[local] stratum` is announced only for the
 * host's clock or a disciplined one.
 */
export function announce(i: AnnounceInput): Announcement {
  const s = i.system;
  let why = 'no clock update from a system peer';
  if (s !== null && s.stratum < 16) {
    if (i.hold !== null) why = i.hold;
    else if (!Number.isFinite(i.clockBound)) why = 'the clock has not applied its first correction';
    else {
      let dispersion = s.rootDispersion + PHI * Math.max(0, s.age) + Math.abs(i.pending);
      const bound = i.clockBound - s.rootDelay / 2;
      if (bound > dispersion) dispersion = bound;
      const distance = s.rootDelay / 2 + dispersion;
      if (distance <= i.maxDistance)
        return {
          synchronised: true,
          basis: s.holdover ? 'holdover' : 'system',
          distance,
          state: {
            leap: s.leap,
            stratum: s.stratum,
            precision: i.precision,
            rootDelay: secondsToShort(s.rootDelay),
            rootDispersion: secondsToShort(dispersion),
            referenceId: s.refid,
            referenceTimestamp: s.referenceTime === null ? 0n : toTimestamp(s.referenceTime),
          },
        };
      why = `root distance ${distance.toFixed(6)} s over ${i.maxDistance} s`;
    }
  }
  const l = i.local;
  if (l === null) return unsynchronised(i.precision, why);
  if (l.served === 'other')
    return unsynchronised(
      i.precision,
      `${why}; [local]: the served clock is neither the host's nor disciplined`,
    );
  // A disciplined clock in free run is as good as its error bound; the host's own time is the reference.
  const dispersion = l.served === 'disciplined' && Number.isFinite(i.clockBound) ? i.clockBound : 0;
  return {
    synchronised: true,
    basis: 'local',
    distance: dispersion,
    state: {
      leap: 0,
      stratum: l.stratum,
      precision: i.precision,
      rootDelay: 0,
      rootDispersion: secondsToShort(dispersion),
      referenceId: REFID_LOCL,
      referenceTimestamp: toTimestamp(i.now),
    },
  };
}
