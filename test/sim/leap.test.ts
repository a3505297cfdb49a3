/**
 * Leap seconds in the simulator with the real engine: servers that insert (or delete) the second and
 * a client that follows them by vote, a falseticker announcing a false leap, servers that stop
 * announcing early, and a smearing client. Errors are against true UTC (the leap included) or the
 * smeared timescale.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { realEngineFactory } from '../../src/sim/engines.js';
import type { EngineFactory } from '../../src/sim/simulation.js';
import { Simulation } from '../../src/sim/simulation.js';
import type { SystemEvent } from '../../src/system/types.js';
import { standard } from './support.js';

type LeapEvent = Extract<SystemEvent, { kind: 'leap' }>;

/** Wraps a factory to keep every node's leap and clock-step events. */
function recording(base: EngineFactory, events: Map<string, SystemEvent[]>): EngineFactory {
  return (ctx) => {
    const h = base(ctx);
    const list: SystemEvent[] = [];
    events.set(ctx.node.name, list);
    const keep = <T extends unknown[]>(f: (...a: T) => ReturnType<typeof h.engine.start>) => {
      return (...a: T) => {
        const out = f(...a);
        for (const x of out)
          if (x.kind === 'event' && (x.event.kind === 'leap' || x.event.kind === 'clock-step'))
            list.push(x.event);
        return out;
      };
    };
    const e = h.engine;
    e.handlePacket = keep(e.handlePacket.bind(e));
    e.handleTimer = keep(e.handleTimer.bind(e));
    return h;
  };
}

function run(name: string, clock: 'rfc5905' | 'feedforward' = 'rfc5905') {
  const events = new Map<string, SystemEvent[]>();
  const sim = new Simulation(standard(name), recording(realEngineFactory(nodeCrypto, clock), events));
  // The client's source verdicts every 10 s.
  const verdicts: { t: number; verdicts: Map<string, string> }[] = [];
  const node = sim.nodes.find((n) => n.spec.name === 'client');
  assert.ok(node !== undefined);
  const result = sim.run({
    seriesInterval: 1,
    progressEvery: 10,
    onProgress: (t) =>
      verdicts.push({ t, verdicts: new Map(node.snapshot(t).sources.map((s) => [s.address, s.verdict])) }),
  });
  const series = sim.getSeries().filter((p) => p.node === 'client');
  const client = result.clients.find((c) => c.node === 'client');
  assert.ok(client !== undefined);
  const leaps = (events.get('client') ?? []).filter((e): e is LeapEvent => e.kind === 'leap');
  const steps = (events.get('client') ?? []).filter((e) => e.kind === 'clock-step');
  return { client, series, leaps, steps, verdicts };
}

/** Largest |error| and largest change of the error between readings 1 s apart, over [from, to]. */
function window(series: { t: number; error: number }[], from: number, to: number) {
  const w = series.filter((p) => p.t >= from && p.t <= to);
  let max = 0;
  let jump = 0;
  for (let i = 0; i < w.length; i++) {
    max = Math.max(max, Math.abs(w[i]!.error));
    if (i > 0) jump = Math.max(jump, Math.abs(w[i]!.error - w[i - 1]!.error));
  }
  return { max, jump, n: w.length };
}

const MIDNIGHT = 14400;

for (const kind of ['insert', 'delete'] as const) {
  test(`leap ${kind}: the client follows four servers by vote, within 1 ms of true UTC across the leap`, () => {
    const r = run(`leap-${kind}`);
    const sched = r.leaps.find((e) => e.action === 'scheduled');
    assert.ok(sched?.pending !== undefined, 'no leap scheduled');
    assert.equal(sched.pending.kind, kind);
    assert.equal(sched.pending.at, kind === 'insert' ? '2016-12-31T23:59:60Z' : '2016-12-31T23:59:59Z');
    assert.equal(sched.pending.list, 'none');
    assert.ok(sched.pending.votes * 2 > sched.pending.sources, JSON.stringify(sched.pending));
    const exec = r.leaps.filter((e) => e.action === 'executed');
    assert.equal(exec.length, 1, JSON.stringify(r.leaps));
    assert.ok(!r.leaps.some((e) => e.action === 'cancelled'));
    // One start-up step and the leap's own step: no step storm after it.
    const leapSteps = r.steps.filter((e) => e.kind === 'clock-step' && /leap/.test(e.reason));
    assert.equal(leapSteps.length, 1);
    assert.equal(r.steps.length, 2, JSON.stringify(r.steps));
    const w = window(r.series, 2000, 20000);
    assert.ok(w.n > 17000);
    assert.ok(w.max < 1e-3, `max error ${w.max}`);
    assert.ok(r.client.maxError < 1e-3);
    // No source is judged a falseticker (or loses its place) because of the leap: every 10 s from
    // the warm-up on, each source survives the selection (system peer, combined, or pruned by the
    // cluster algorithm); and after the leap each is in the combination in at least a third of the
    // readings (seeds 1–8: 46–100 %). The cluster algorithm prunes one of four equally good sources
    // whenever their offsets spread more than their jitters: from 4,000 s on, 11–74 % of the
    // readings show one (seeds 1–8; 36–70 % with every source at the system poll), and half the
    // seeds end with one, so the verdicts of the last reading alone cannot tell a leap's harm.
    const after = r.verdicts.filter((v) => v.t >= MIDNIGHT);
    for (const v of r.verdicts.filter((x) => x.t >= 2000))
      for (const [src, verdict] of v.verdicts)
        assert.ok(['sys-peer', 'combined', 'outlier'].includes(verdict), `${src} at ${v.t} s: ${verdict}`);
    for (const src of r.client.final.sources.map((s) => s.address)) {
      const kept = after.filter((v) => ['sys-peer', 'combined'].includes(v.verdicts.get(src) ?? '')).length;
      assert.ok(
        kept >= after.length / 3,
        `${src} combined in ${kept} of ${after.length} readings after the leap`,
      );
    }
  });
}

test('leap insert with the feed-forward clock: the leap changes none of its errors against true UTC', () => {
  const r = run('leap-insert', 'feedforward');
  assert.equal(r.leaps.filter((e) => e.action === 'executed').length, 1);
  // The same world without the leap: the clock error series must be the same (the feed-forward
  // clock's own excursions included), i.e. nothing of the one-second jump reached the clock.
  const plain = new Simulation(
    standard('leap-insert', { leaps: [] }),
    realEngineFactory(nodeCrypto, 'feedforward'),
  );
  plain.run({ seriesInterval: 1 });
  const base = plain.getSeries().filter((p) => p.node === 'client');
  assert.equal(base.length, r.series.length);
  let diff = 0;
  for (let i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(base[i]!.error - r.series[i]!.error));
  assert.ok(diff < 1e-6, `differs by ${diff} s`);
  const w = window(r.series, MIDNIGHT - 10, MIDNIGHT + 10);
  assert.ok(w.max < 1e-3, `max error ${w.max}`);
});

test('a single server announcing a false leap is outvoted: nothing scheduled, UTC kept', () => {
  const r = run('leap-falseticker');
  assert.deepEqual(
    r.leaps.filter((e) => e.action !== 'list-expired'),
    [],
  );
  const w = window(r.series, 2000, 20000);
  assert.ok(w.max < 1e-3, `max error ${w.max}`);
});

test('servers that stop announcing ten minutes early do not cancel the leap', () => {
  const r = run('leap-stop-early');
  assert.ok(r.leaps.some((e) => e.action === 'scheduled'));
  assert.ok(!r.leaps.some((e) => e.action === 'cancelled'), JSON.stringify(r.leaps));
  assert.equal(r.leaps.filter((e) => e.action === 'executed').length, 1);
  const w = window(r.series, 2000, 20000);
  assert.ok(w.max < 1e-3, `max error ${w.max}`);
});

test('smear: served time within 1 ms of the smeared timescale, no jump over 1 ms between readings', () => {
  const r = run('leap-smear');
  assert.ok(
    r.leaps.some((e) => e.action === 'smear'),
    'smearing is logged',
  );
  assert.equal(r.leaps.filter((e) => e.action === 'executed').length, 1);
  // The served clock never steps at the leap in smear mode.
  assert.ok(!r.steps.some((e) => e.kind === 'clock-step' && /leap/.test(e.reason)));
  const w = window(r.series, 2000, 20000);
  assert.ok(w.max < 1e-3, `max error ${w.max}`);
  assert.ok(w.jump < 1e-3, `jump ${w.jump}`);
});
