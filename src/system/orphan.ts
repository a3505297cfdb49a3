/**
 * Orphan mode (`[local] orphan = STRATUM`, ntpd's `tos orphan`): servers of one group that lose every
 * upstream source keep a common time. Each serves at the orphan stratum while it has no upstream; the
 * group's orphan parent is elected by ntpd's rule (ntpd 4.2.8 and NTPsec, `clock_select`): among the
 * orphan-stratum servers and ourselves, the one with the lowest address metric (an IPv4 address as a
 * number, the first 32 bits of an IPv6 address's MD5 hash: its reference ID). Every member computes
 * the same order from the addresses alone, so all children pick the same parent, whatever the root
 * distances (which ntpd's orphan parents advertise as 0). The others follow it one stratum below.
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

/** An orphan-stratum server seen as a source. */
export interface OrphanCandidate {
  id: string;
  /** Its address as a 32-bit reference ID (ntpd's `addr2refid`): the election metric. */
  refid: number;
  /** Our own metric towards it: the reference ID of our local address its packets arrive at. */
  localRefid: number;
}

/**
 * The orphan parent among `others` and ourselves: the id of the source to follow, or null when we
 * are the parent. ntpd's rule: a candidate wins when its metric is below ours (on the address it
 * talks to) and below every other candidate's.
 */
export function electOrphanParent(others: readonly OrphanCandidate[]): string | null {
  let best: OrphanCandidate | null = null;
  for (const c of others) {
    const m = c.refid >>> 0;
    if (m < c.localRefid >>> 0 && (best === null || m < best.refid >>> 0)) best = c;
  }
  return best?.id ?? null;
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
  source: { id: string; stratum: number };
}

/**
 * Orphan mode's say in the selection. `fit`: the entries fit for selection now. With upstream
 * sources (below the orphan stratum) only they are selected; without, the orphan parent is elected
 * among the orphan-stratum associations and us (`refids(a)`: the association's address metric and
 * ours towards it). We lead only if we were ever synchronised (`synced`), so that a never-set clock is
 * not served as the group's time. Returns the entries to select from (or null: we are the parent),
 * the verdicts of the orphan-stratum entries left out, and the decision for `OrphanState.set`.
 */
export function orphanEntries<E extends OrphanEntry>(
  entries: E[],
  fit: (e: E) => boolean,
  stratum: number,
  synced: boolean,
  refids: (a: Association) => { refid: number; localRefid: number },
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
            : e.source.stratum === stratum
              ? `orphan server (stratum ${e.source.stratum}) with a higher address metric than the parent's`
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
    orphans.map((e) => ({ id: e.source.id, ...refids(e.source as unknown as Association) })),
  );
  const p = orphans.find((e) => e.source.id === parent);
  if (p === undefined) {
    // We lead, if we ever had a time to give the group.
    return { entries: synced ? null : [], verdicts, active: synced, parent: null };
  }
  return {
    entries: [p],
    verdicts: verdicts.filter(([id]) => id !== p.source.id),
    active: true,
    parent: p.source.id,
  };
}
