/**
 * Orphan mode (`[local] orphan = STRATUM`, ntpd's `tos orphan`): servers of one group that lose every
 * upstream source keep a common time. Each serves at the orphan stratum while it has no upstream; an
 * orphan that sees another orphan-stratum server with a lower root distance (ties: the lower address
 * hash, as ntpd breaks them) follows it and serves one stratum below, so one orphan parent remains.
 */

import { PHI } from '../algo/constants.js';
import { Association } from '../assoc/association.js';
import type { ServerState } from '../assoc/server.js';
import { type RawTime, rawSeconds } from '../clock/types.js';
import { toTimestamp } from '../time/ntp-time.js';
import { secondsToShort } from '../time/short.js';
import type { Verdict } from './mitigation.js';
import type { SystemVariables } from './sysvars.js';

/** ntpd's reference ID of an orphan parent: 127.0.0.1. */
const REFID_ORPHAN = 0x7f000001;

/** Our root distance at `raw` from the last clock update (Infinity: never synchronised). */
export function ownRootDistance(v: SystemVariables, raw: RawTime): number {
  if (v.updateRaw === null) return Number.POSITIVE_INFINITY;
  return v.rootDelay / 2 + v.rootDispersion + PHI * Math.max(0, rawSeconds(raw) - rawSeconds(v.updateRaw));
}

/** What an orphan parent serves (ntpd's): the orphan stratum, refid 127.0.0.1, our holdover root values (bounded). */
export function orphanServerState(
  v: SystemVariables,
  raw: RawTime,
  stratum: number,
  config: { precision: number; maxDistance: number },
  leap: number,
): ServerState {
  const age = v.updateRaw === null ? 0 : Math.max(0, rawSeconds(raw) - rawSeconds(v.updateRaw));
  return {
    leap,
    stratum,
    precision: config.precision,
    rootDelay: secondsToShort(v.rootDelay),
    rootDispersion: secondsToShort(Math.min(v.rootDispersion + PHI * age, config.maxDistance / 2)),
    referenceId: REFID_ORPHAN,
    referenceTimestamp: v.referenceTime === null ? 0n : toTimestamp(v.referenceTime),
  };
}

/** An orphan-stratum server seen as a source, or ourselves. */
export interface OrphanCandidate {
  id: string;
  /** Root distance it advertises (root delay / 2 + root dispersion), s. */
  distance: number;
  /** Tie-break: its address as a 32-bit reference ID (ours: the local address's). */
  refid: number;
}

/**
 * The orphan parent among `others` and ourselves (`self`): the id of the source to follow, or null
 * when we are the parent.
 */
export function electOrphanParent(self: OrphanCandidate, others: readonly OrphanCandidate[]): string | null {
  let best: OrphanCandidate = self;
  for (const c of others) {
    if (c.distance < best.distance || (c.distance === best.distance && c.refid >>> 0 < best.refid >>> 0))
      best = c;
  }
  return best === self ? null : best.id;
}

/** Tracks whether orphan mode is on (and who the parent is) to report the changes once. */
export class OrphanState {
  active = false;
  /** The source followed as orphan parent; null while we are the parent (or not in orphan mode). */
  parent: string | null = null;

  constructor(readonly stratum: number) {}

  /** Records the current decision; returns the log line when orphan mode starts, ends or changes parent. */
  set(active: boolean, parent: string | null): string | null {
    const was = this.active;
    const wasParent = this.parent;
    this.active = active;
    this.parent = active ? parent : null;
    if (!was && !active) return null;
    if (was && !active) return 'orphan mode off: an upstream source is back';
    if (!was) {
      return parent === null
        ? `orphan mode: no upstream source; serving at orphan stratum ${this.stratum} as the group's parent`
        : `orphan mode: no upstream source; following orphan parent ${parent}`;
    }
    if (wasParent === this.parent) return null;
    return this.parent === null
      ? `orphan mode: now the group's parent (stratum ${this.stratum})`
      : `orphan mode: following orphan parent ${this.parent}`;
  }
}

/** What `orphanEntries` needs of a selection entry. */
interface OrphanEntry {
  source: { id: string; stratum: number; rootDelay: number; rootDispersion: number };
}

/**
 * Orphan mode's say in the selection. `fit`: the entries fit for selection now. With upstream
 * sources (below the orphan stratum) only they are selected; without, the orphan parent is elected
 * among the orphan-stratum associations and us (`own`: our root distance, Infinity when never
 * synchronised). Returns the entries to select from (or null: we are the parent), the verdicts of
 * the orphan-stratum entries left out, and the decision for `OrphanState.set`.
 */
export function orphanEntries<E extends OrphanEntry>(
  entries: E[],
  fit: (e: E) => boolean,
  stratum: number,
  own: OrphanCandidate,
  refidOf: (a: Association) => number,
): { entries: E[] | null; verdicts: [string, Verdict][]; active: boolean; parent: string | null } {
  const ok = entries.filter(fit);
  const up = ok.filter((e) => e.source.stratum < stratum);
  const verdicts: [string, Verdict][] = ok
    .filter((e) => e.source.stratum >= stratum)
    .map((e) => [
      e.source.id,
      {
        verdict: 'bad-stratum',
        reason:
          up.length > 0
            ? `orphan-mode server (stratum ${e.source.stratum}): not used while upstream sources survive`
            : `orphan child (stratum ${e.source.stratum})`,
      },
    ]);
  if (up.length > 0)
    return {
      entries: entries.filter((e) => !fit(e) || e.source.stratum < stratum),
      verdicts,
      active: false,
      parent: null,
    };
  const orphans = ok.filter((e) => e.source instanceof Association && e.source.stratum === stratum);
  const parent = electOrphanParent(
    own,
    orphans.map((e) => ({
      id: e.source.id,
      distance: e.source.rootDelay / 2 + e.source.rootDispersion,
      refid: refidOf(e.source as unknown as Association),
    })),
  );
  const p = orphans.find((e) => e.source.id === parent);
  if (p === undefined) {
    // We lead, if we ever had a time to give the group.
    const lead = Number.isFinite(own.distance);
    return { entries: lead ? null : [], verdicts, active: lead, parent: null };
  }
  return {
    entries: [p],
    verdicts: verdicts.filter(([id]) => id !== p.source.id),
    active: true,
    parent: p.source.id,
  };
}
