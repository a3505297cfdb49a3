/**
 * The selection algorithm (RFC 5905 section 11.2.1, Appendix A.5.5.1 clock_select()): a variant of
 * Marzullo's intersection algorithm. Each candidate contributes a correctness interval
 * [θ − λ, θ + λ] (λ = root distance). The algorithm looks for the smallest number `f` of
 * falsetickers (f < n/2) such that an interval is contained in at least n − f correctness intervals
 * and contains no more than f midpoints outside it. Candidates whose correctness interval does not
 * overlap the intersection interval are falsetickers (ntpd 4.2.8 uses this overlap rule; RFC 5905's
 * sketch tests the midpoint, which wrongly discards truechimers with asymmetric paths).
 */

export interface SelectCandidate {
  id: string;
  offset: number;
  /** Root distance λ (s): the half-width of the correctness interval. */
  rootDistance: number;
}

export interface SelectResult {
  /** True when a majority clique was found (at least minSane truechimers). */
  ok: boolean;
  /** The intersection interval, when found. */
  low: number;
  high: number;
  /** Number of falsetickers allowed by the solution. */
  allow: number;
  truechimers: string[];
  falsetickers: string[];
}

interface Endpoint {
  value: number;
  /** -1 lower edge, 0 midpoint, +1 upper edge. */
  type: -1 | 0 | 1;
}

export function intersect(candidates: SelectCandidate[], minSane = 1): SelectResult {
  const n = candidates.length;
  const none: SelectResult = {
    ok: false,
    low: Number.NaN,
    high: Number.NaN,
    allow: 0,
    truechimers: [],
    falsetickers: candidates.map((c) => c.id),
  };
  if (n === 0) return none;
  const ends: Endpoint[] = [];
  for (const c of candidates) {
    ends.push({ value: c.offset - c.rootDistance, type: -1 });
    ends.push({ value: c.offset, type: 0 });
    ends.push({ value: c.offset + c.rootDistance, type: 1 });
  }
  // Ascending by value; at equal values lower edges first, then midpoints, then upper edges, so that
  // touching intervals count as overlapping.
  ends.sort((a, b) => a.value - b.value || a.type - b.type);
  let low = Number.NaN;
  let high = Number.NaN;
  let allow = 0;
  let found = false;
  for (allow = 0; 2 * allow < n; allow++) {
    let midpoints = 0;
    let chime = 0;
    low = Number.NaN;
    for (const e of ends) {
      chime -= e.type;
      if (chime >= n - allow) {
        low = e.value;
        break;
      }
      if (e.type === 0) midpoints++;
    }
    chime = 0;
    high = Number.NaN;
    for (let i = ends.length - 1; i >= 0; i--) {
      const e = ends[i];
      if (e === undefined) continue;
      chime += e.type;
      if (chime >= n - allow) {
        high = e.value;
        break;
      }
      if (e.type === 0) midpoints++;
    }
    if (midpoints > allow) continue;
    if (high >= low) {
      found = true;
      break;
    }
  }
  if (!found) return none;
  const truechimers: string[] = [];
  const falsetickers: string[] = [];
  for (const c of candidates) {
    if (c.offset + c.rootDistance < low || c.offset - c.rootDistance > high) falsetickers.push(c.id);
    else truechimers.push(c.id);
  }
  if (truechimers.length < minSane) return { ...none, low, high, allow };
  return { ok: true, low, high, allow, truechimers, falsetickers };
}
