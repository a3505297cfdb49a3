/**
 * Operator commands on the engine (`ntpkit burst|offline|online|makestep`, src/daemon/commands.ts),
 * through its public API: the association changes its poll state, and a timer run sends what is due
 * now and re-arms the engine's one timer.
 */
import type { Discipline, RawTime } from '../clock/types.js';
import type { NtpSystem } from './system.js';
import type { Action } from './types.js';

/** A burst from association `id` now; null when there is none or it cannot burst (see Association.burst). */
export function burstSource(sys: NtpSystem, raw: RawTime, id: string, count?: number): Action[] | null {
  const a = sys.association(id);
  if (a === undefined || !a.burst(raw, count)) return null;
  return sys.handleTimer(raw);
}

/** Offline (no requests, state kept) or online (polls at once); null when there is no such association. */
export function setSourceOffline(
  sys: NtpSystem,
  raw: RawTime,
  id: string,
  offline: boolean,
): Action[] | null {
  const a = sys.association(id);
  if (a === undefined) return null;
  a.setOffline(raw, offline);
  return sys.handleTimer(raw);
}

/**
 * chrony's makestep: the correction the clock is still slewing is stepped at once; the engine hears
 * of it through the clock's change listener (a clock-step event, stored times moved). Returns the
 * step (0: nothing pending), null when the discipline cannot step on demand.
 */
export function makestep(
  d: Discipline,
  sys: NtpSystem,
  raw: RawTime,
): { offset: number; actions: Action[] } | null {
  if (d.makestep === undefined) return null;
  const offset = d.makestep(raw, 'makestep command');
  return { offset, actions: sys.handleTimer(raw) };
}
