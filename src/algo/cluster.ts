/**
 * The cluster algorithm (RFC 5905 section 11.2.2, Appendix A.5.5.2). Survivors are ordered by merit
 * (stratum × MAXDIST + root distance). While more than MINCLOCK survive, the survivor with the largest
 * selection jitter φ_s(i) = sqrt( 1/(n−1) Σ_j (θ_i − θ_j)^2 ) is discarded, unless that largest
 * selection jitter is already below the smallest peer jitter (removing more would not help).
 */

export interface ClusterCandidate {
  id: string;
  offset: number;
  jitter: number;
  stratum: number;
  rootDistance: number;
  prefer?: boolean;
}

export interface ClusterResult {
  /** Survivors, best merit first. */
  survivors: string[];
  /** Discarded outliers, in the order they were removed. */
  outliers: string[];
  /** Selection jitter of each remaining survivor (s). */
  selectionJitter: Map<string, number>;
}

export function merit(c: ClusterCandidate, maxDist: number): number {
  return c.stratum * maxDist + c.rootDistance;
}

function selJitter(c: ClusterCandidate, all: ClusterCandidate[]): number {
  if (all.length < 2) return 0;
  let sum = 0;
  for (const o of all) sum += (c.offset - o.offset) ** 2;
  return Math.sqrt(sum / (all.length - 1));
}

export function cluster(candidates: ClusterCandidate[], minClock: number, maxDist: number): ClusterResult {
  let list = [...candidates].sort((a, b) => merit(a, maxDist) - merit(b, maxDist));
  const outliers: string[] = [];
  for (;;) {
    if (list.length <= Math.max(1, minClock)) break;
    let worst = -1;
    let maxSel = -1;
    let minPeer = Number.POSITIVE_INFINITY;
    list.forEach((c, i) => {
      const s = selJitter(c, list);
      // Prefer the lower-merit (later) one on ties, as ntpd does by scanning from the end.
      if (s >= maxSel) {
        maxSel = s;
        worst = i;
      }
      minPeer = Math.min(minPeer, c.jitter);
    });
    if (maxSel <= minPeer) break;
    const victim = list[worst];
    if (victim === undefined || victim.prefer) break;
    outliers.push(victim.id);
    list = list.filter((_, i) => i !== worst);
  }
  const selectionJitter = new Map<string, number>();
  for (const c of list) selectionJitter.set(c.id, selJitter(c, list));
  return { survivors: list.map((c) => c.id), outliers, selectionJitter };
}
