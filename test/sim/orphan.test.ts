/**
 * Orphan mode in the simulator (scenarios/orphan.toml): three ntpkit servers lose their stratum-1
 * upstream for three hours. With `[local] orphan = 5` they elect one parent (stratum 5, the others 6)
 * and agree within 1 ms from an hour after the loss on; without it (the same world) they drift tens of
 * ms apart. When the upstream returns they follow it again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { realEngineFactory } from '../../src/sim/engines.js';
import { type EngineFactory, Simulation } from '../../src/sim/simulation.js';
import type { Scenario } from '../../src/sim/types.js';
import type { SystemEvent } from '../../src/system/types.js';
import { standard } from './support.js';

const LOST = 3000;
const BACK = 14000;

function run(sc: Scenario, clock: 'rfc5905' | 'feedforward') {
  const events = new Map<string, string[]>();
  const base = realEngineFactory(nodeCrypto, clock);
  const factory: EngineFactory = (ctx) => {
    const h = base(ctx);
    const list: string[] = [];
    events.set(ctx.node.name, list);
    const e = h.engine;
    const wrap = <A extends unknown[]>(f: (...a: A) => ReturnType<typeof e.handleTimer>) => {
      return (...a: A) => {
        const out = f(...a);
        for (const x of out)
          if (x.kind === 'event' && x.event.kind === 'orphan')
            list.push((x.event as Extract<SystemEvent, { kind: 'orphan' }>).message);
        return out;
      };
    };
    e.handlePacket = wrap(e.handlePacket.bind(e));
    e.handleTimer = wrap(e.handleTimer.bind(e));
    return h;
  };
  const sim = new Simulation(sc, factory);
  const result = sim.run({ seriesInterval: 10 });
  const at = new Map<number, number[]>();
  for (const p of sim.getSeries()) {
    const v = at.get(p.t) ?? [];
    v.push(p.error);
    at.set(p.t, v);
  }
  let spread = 0;
  for (const [t, v] of at)
    if (t >= LOST + 3600 && t < BACK) spread = Math.max(spread, Math.max(...v) - Math.min(...v));
  return { result, events, spread };
}

function withoutOrphan(): Scenario {
  const sc = standard('orphan');
  for (const n of sc.nodes) n.ntp.system.orphanStratum = null;
  return sc;
}

test('orphan mode: three servers without upstream elect one parent and agree within 1 ms after an hour', () => {
  const r = run(standard('orphan'), 'rfc5905');
  assert.ok(r.spread < 1e-3, `spread ${r.spread} s`);
  const parents = ['o1', 'o2', 'o3'].filter((n) => {
    const msgs = r.events.get(n) ?? [];
    const during = msgs.filter((m) => !/off/.test(m));
    return /parent \(stratum 5\)|as the group's parent/.test(during[during.length - 1] ?? '');
  });
  assert.equal(parents.length, 1, JSON.stringify(Object.fromEntries(r.events)));
  for (const n of ['o1', 'o2', 'o3']) {
    const msgs = r.events.get(n) ?? [];
    assert.ok(msgs.length >= 2, `${n}: ${JSON.stringify(msgs)}`);
    assert.match(msgs[msgs.length - 1] ?? '', /orphan mode off/);
  }
  // Back to the upstream: every server synchronised again, through s0 (stratum 2) or one of the others.
  for (const c of r.result.clients) {
    assert.ok(c.final.synchronised, c.node);
    assert.ok(c.final.stratum <= 3, `${c.node} stratum ${c.final.stratum}`);
  }
  const control = run(withoutOrphan(), 'rfc5905');
  assert.ok(control.spread > 10e-3, `without orphan mode the spread is only ${control.spread} s`);
  assert.deepEqual([...control.events.values()].flat(), []);
});

test('orphan mode with the feed-forward clock: the group stays within 2 ms (tens of ms without)', () => {
  const r = run(standard('orphan'), 'feedforward');
  assert.ok(r.spread < 2e-3, `spread ${r.spread} s`);
});
