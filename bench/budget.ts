/**
 * Request budgets of the accuracy benchmark. A budget is applied to the parsed scenario before
 * either simulator sees it, so ntpkit's simulator and the clknetsim configuration generated for
 * chrony (bench/clknetsim/config.ts) are built from the very same `Scenario` value.
 *
 * - `pinned`: every client-side source (server, pool, peer) polls at exactly 2^poll s
 *   (minpoll = maxpoll = poll), whatever the scenario says;
 * - `default`: the scenario as written; where it leaves minpoll/maxpoll unset each implementation
 *   uses its own defaults (both 6 and 10), and its own adaptive polling between them.
 *
 * A scenario whose sources are all pinned already (lan-poll16, interleaved-vs-basic) or that has
 * no polled sources at all (broadcast) only runs at its own budget: pinning it elsewhere would just
 * repeat another scenario.
 */
import type { Scenario } from '../src/sim/types.js';

export type Budget = { kind: 'pinned'; poll: number } | { kind: 'default' };

export function budgetLabel(b: Budget): string {
  switch (b.kind) {
    case 'pinned':
      return `poll ${b.poll} (${2 ** b.poll} s)`;
    case 'default':
      return 'defaults';
  }
}

/** Parses `--poll` values: an exponent (e.g. 6) or `default`. */
export function parseBudget(s: string): Budget {
  if (s === 'default' || s === 'defaults') return { kind: 'default' };
  const n = Number(s);
  if (!Number.isInteger(n) || n < -4 || n > 17) {
    throw new Error(`--poll: expected a poll exponent (-4 … 17) or 'default', got '${s}'`);
  }
  return { kind: 'pinned', poll: n };
}

/** True when every polled source already has minpoll = maxpoll, or there is no polled source. */
export function pinnedByScenario(sc: Scenario): boolean {
  const polled = sc.nodes.flatMap((n) => [...n.ntp.servers, ...n.ntp.pools, ...n.ntp.peers]);
  return polled.every((s) => s.minpoll === s.maxpoll);
}

/** A copy of the scenario with the budget applied (and, optionally, another duration). */
export function applyBudget(sc: Scenario, b: Budget, duration?: number): Scenario {
  const pin = <T extends { minpoll: number; maxpoll: number }>(s: T): T =>
    b.kind === 'pinned' ? { ...s, minpoll: b.poll, maxpoll: b.poll } : { ...s };
  return {
    ...sc,
    duration: duration ?? sc.duration,
    nodes: sc.nodes.map((n) => ({
      ...n,
      ntp: {
        ...n.ntp,
        servers: n.ntp.servers.map(pin),
        pools: n.ntp.pools.map(pin),
        peers: n.ntp.peers.map(pin),
      },
    })),
  };
}
