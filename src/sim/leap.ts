/**
 * Leap seconds in the simulator: true UTC (which repeats or skips a second at each scenario leap,
 * as the kernel does) or the smeared timescale, on the continuous true-time axis, and the leap-second
 * list a scenario's leaps make (handed to the nodes that have one).
 */
import type { LeapList } from '../time/leap-list.js';
import {
  daysFromCivil,
  type NtpDuration,
  type NtpTime,
  ONE_SECOND,
  secondsToDuration,
  UNIX_EPOCH_NTP_SECONDS,
} from '../time/ntp-time.js';

export interface ScenarioLeap {
  kind: 'insert' | 'delete';
  /** The UTC midnight the leap second precedes (NTP time). */
  at: NtpTime;
}

/** How the simulator's truth treats leaps: true UTC, or UTC smeared linearly over `window` s. */
export interface Timescale {
  kind: 'utc' | 'smear';
  window: number;
}

/** Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC) into NTP time; null when malformed. */
export function parseUtc(text: string): NtpTime | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})Z$/.exec(text);
  if (m === null) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  const secs = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + s);
  return (secs + UNIX_EPOCH_NTP_SECONDS) << 32n;
}

function sign(kind: ScenarioLeap['kind']): bigint {
  return kind === 'insert' ? 1n : -1n;
}

/**
 * True time at `t` s after the run's start, whose UTC is `epoch`. `leaps` in time order. With a
 * smear timescale the result is the smeared time (each leap absorbed linearly over the window
 * centred on its midnight).
 */
export function trueTime(epoch: NtpTime, leaps: readonly ScenarioLeap[], t: number, ts: Timescale): NtpTime {
  // Pre-leap ("continuous") time: epoch + t shifted by the leaps already past.
  let off: NtpDuration = 0n;
  const cont = epoch + secondsToDuration(t);
  for (const l of leaps) {
    const sg = sign(l.kind);
    const pre = cont + off;
    if (ts.kind === 'smear') {
      const w = secondsToDuration(ts.window);
      const start = l.at - w / 2n;
      const end = l.at + w / 2n + sg * ONE_SECOND;
      if (pre <= start) break;
      if (pre >= end) {
        off -= sg * ONE_SECOND;
        continue;
      }
      return pre - (sg * (pre - start) * ONE_SECOND) / (end - start);
    }
    const trigger = l.kind === 'insert' ? l.at : l.at - ONE_SECOND;
    if (pre < trigger) break;
    off -= sg * ONE_SECOND;
  }
  return cont + off;
}

/** The leap-second list of a scenario's leaps (TAI−UTC 37 s before the first), valid ten years on. */
export function scenarioLeapList(epoch: NtpTime, leaps: readonly ScenarioLeap[]): LeapList {
  const year = secondsToDuration(365 * 86400);
  const entries = [{ at: epoch - 10n * year, taiUtc: 37 }];
  let v = 37;
  for (const l of leaps) {
    v += l.kind === 'insert' ? 1 : -1;
    entries.push({ at: l.at, taiUtc: v });
  }
  return { source: 'scenario', updated: epoch - year, expires: epoch + 10n * year, entries };
}
