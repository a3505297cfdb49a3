/**
 * Orphan mode (`[local] orphan = STRATUM`, ntpd's `tos orphan`): servers of one group that lose every
 * upstream source keep a common time. Each serves at the orphan stratum while it has no upstream; an
 * orphan that sees another orphan-stratum server with a lower root distance (ties: the lower address
 * hash, as ntpd breaks them) follows it and serves one stratum below, so one orphan parent remains.
 */

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
