/** Helpers for the simulator tests: scenario text builders and a factory wrapper that counts. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario } from '../../src/sim/scenario.js';
import type { EngineFactory, EngineHandle } from '../../src/sim/simulation.js';
import type { Scenario } from '../../src/sim/types.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's scenarios/ directory (tests run from dist/test/sim). */
export const SCENARIOS = join(here, '../../../scenarios');

export function standard(name: string, patch: Partial<Scenario> = {}): Scenario {
  const file = join(SCENARIOS, `${name}.toml`);
  return { ...parseScenario(readFileSync(file, 'utf8'), file), ...patch };
}

/** The scenario with every node's sources polled at a fixed 2^poll s (minpoll = maxpoll = poll). */
export function pinned(sc: Scenario, poll: number): Scenario {
  for (const n of sc.nodes)
    for (const h of [...n.ntp.servers, ...n.ntp.pools, ...n.ntp.peers]) {
      h.minpoll = poll;
      h.maxpoll = poll;
    }
  return sc;
}

/** One server and one client over a link; `link`, `client`, `server` are extra TOML lines. */
export function pair(o: { link?: string; client?: string; server?: string; top?: string } = {}): Scenario {
  const top = o.top ?? '';
  const text = `
name = "pair"
${top.includes('duration') ? '' : 'duration = 4000'}
${top.includes('warmup') ? '' : 'warmup = 1000'}
${top}
[[node]]
name = "server"
${o.server ?? ''}
[node.ntp.local]
stratum = 1

[[node]]
name = "client"
${o.client ?? ''}
[[node.ntp.server]]
address = "server"

[[link]]
nodes = ["client", "server"]
${o.link ?? ''}
`;
  return parseScenario(text, 'pair.toml');
}

export interface Counts {
  received: number;
  kod: number;
  transmitted: number;
}

/** Wraps a factory to count, per node, packets received, KoD received and handleTransmitted calls. */
export function counting(base: EngineFactory, counts: Map<string, Counts>): EngineFactory {
  return (ctx) => {
    const h: EngineHandle = base(ctx);
    const e = h.engine;
    const c: Counts = { received: 0, kod: 0, transmitted: 0 };
    counts.set(ctx.node.name, c);
    const hp = e.handlePacket.bind(e);
    e.handlePacket = (raw, bytes, from, to) => {
      c.received++;
      if (((bytes[0] ?? 0) & 7) === 4 && bytes[1] === 0) c.kod++;
      return hp(raw, bytes, from, to);
    };
    const ht = e.handleTransmitted.bind(e);
    e.handleTransmitted = (id, raw) => {
      c.transmitted++;
      return ht(id, raw);
    };
    return h;
  };
}
