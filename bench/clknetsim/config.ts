/**
 * Scenario → clknetsim: generates, from a parsed ntpkit scenario (src/sim), the configuration of
 * clknetsim (the network and clock simulator chrony is tested with) and one chronyd configuration
 * per node, so that chrony runs on the same model as ntpkit's simulator:
 *
 * - node N of clknetsim is the scenario's N-th [[node]], address 192.168.123.N;
 * - each direction of a [[link]] becomes `nodeA_delayB`: base delay + jitter, with level shifts and
 *   other scheduled changes as step functions of the `time` variable, loss and outages as a negative
 *   delay (clknetsim drops such packets); unlinked pairs get no delay expression (always dropped);
 * - the oscillator becomes `nodeN_offset` (initial phase) and `nodeN_freq` (frequency error plus a
 *   random walk of `wander` per √s, evaluated once per simulated second, plus a periodic term),
 *   phase steps become `nodeN_step`;
 * - `[local] stratum`, `[[server]]`, `[[peer]]` and their options become chronyd directives.
 *
 * What cannot be expressed is never approximated silently: the result is then `{ ok: false,
 * reason }` (e.g. chrony has no broadcast client; clknetsim has no model of a transmit-timestamp
 * delay). Small differences that do not change the model are listed in `notes`.
 *
 * clknetsim evaluates `nodeN_freq` and `nodeN_step` at true times 0, 1, 2, … (the k-th evaluation at
 * k − 1 s; checked with a step of a server clock) and delay expressions once per packet.
 */
import { checkConfig } from '../../src/config/parse.js';
import type { HostSourceConfig } from '../../src/config/types.js';
import type { Distribution } from '../../src/sim/distributions.js';
import type { OscillatorSpec } from '../../src/sim/oscillator.js';
import type { PathSpec } from '../../src/sim/path.js';
import type { NodeSpec, Scenario } from '../../src/sim/types.js';

/** One chronyd instance of the simulation. */
export interface ChronydNode {
  /** clknetsim node number (1-based): the position of the node in the scenario. */
  index: number;
  name: string;
  /** The node's address inside clknetsim. */
  address: string;
  /** chronyd directives from the scenario (the runner adds pidfile and command-socket lines). */
  directives: string[];
  /** Clock-error statistics are reported for this node (as ntpkit's simulator does). */
  stats: boolean;
  /** True time at which the node starts (s). */
  start: number;
}

export interface ClknetsimSetup {
  ok: true;
  scenario: string;
  nodes: ChronydNode[];
  /** The text of clknetsim's configuration file. */
  config: string;
  /** Approximations that do not change the model in a way that matters. */
  notes: string[];
  duration: number;
  warmup: number;
}

export interface Unmapped {
  ok: false;
  scenario: string;
  reason: string;
}

export type Mapping = ClknetsimSetup | Unmapped;

/** clknetsim's first subnet: node N is 192.168.123.N. */
export function nodeAddress(index: number): string {
  return `192.168.123.${index}`;
}

/** A number as clknetsim's parser (atof) reads it, written without float noise. */
export function num(x: number): string {
  const v = Number(x.toPrecision(12));
  if (Object.is(v, -0) || v === 0) return '0';
  if (Number.isInteger(v) || Math.abs(v) >= 0.01) return String(v);
  return v.toExponential();
}

class Unexpressible extends Error {}

function fail(msg: string): never {
  throw new Unexpressible(msg);
}

/** 0 before true time `at`, 1 from `at` on (a 1 ns ramp). */
function stepAt(at: number): string {
  return `(min 1 (max 0 (* 1e9 (+ time ${num(-at)}))))`;
}

/** 1 inside [a, b), 0 outside. */
function window(a: number, b: number): string {
  if (a <= 0) return `(+ 1 (* -1 ${stepAt(b)}))`;
  return `(+ ${stepAt(a)} (* -1 ${stepAt(b)}))`;
}

function sumOf(terms: string[]): string {
  const t = terms.filter((x) => x !== '0');
  if (t.length === 0) return '0';
  if (t.length === 1) return t[0]!;
  return `(+ ${t.join(' ')})`;
}

function distExpr(d: Distribution): string {
  switch (d.dist) {
    case 'constant':
      return num(d.value);
    case 'exp':
      return d.mean > 0 ? `(* ${num(d.mean)} (exponential))` : '0';
    case 'normal':
      return sumOf([num(d.mean), d.sd > 0 ? `(* ${num(d.sd)} (normal))` : '0']);
    case 'uniform':
      return sumOf([num(d.min), d.max > d.min ? `(* ${num(d.max - d.min)} (uniform))` : '0']);
    case 'pareto':
      return fail('Pareto jitter: clknetsim has no power function to draw it');
  }
}

/** The smallest value a distribution can take. */
function distMin(d: Distribution): number {
  switch (d.dist) {
    case 'constant':
      return d.value;
    case 'exp':
    case 'pareto':
      return 0;
    case 'normal':
      return d.sd > 0 ? Number.NEGATIVE_INFINITY : d.mean;
    case 'uniform':
      return d.min;
  }
}

interface Segment {
  from: number;
  delay: number;
  jitter: Distribution;
  loss: number;
}

/** The path's piecewise-constant parameters, replaying the changes exactly as src/sim/path.ts does. */
function segments(p: PathSpec): Segment[] {
  const changes = [...p.changes].sort((a, b) => a.at - b.at);
  let delay = p.delay;
  let jitter = p.jitter;
  let loss = p.loss;
  const out: Segment[] = [{ from: 0, delay, jitter, loss }];
  for (const c of changes) {
    if (c.delay !== undefined) delay = c.delay;
    if (c.add !== undefined) delay += c.add;
    if (c.jitter !== undefined) jitter = c.jitter;
    if (c.loss !== undefined) loss = c.loss;
    const last = out[out.length - 1]!;
    const seg = { from: c.at, delay, jitter, loss };
    if (last.from === c.at || c.at <= 0) out[out.length - 1] = { ...seg, from: last.from };
    else out.push(seg);
  }
  return out;
}

/** The terms of a piecewise-constant value as an expression of `time`: v0 + Σ Δv·step(t). */
function piecewiseTerms(segs: Segment[], value: (s: Segment) => number): string[] {
  const v0 = value(segs[0]!);
  const terms = [num(v0)];
  let prev = v0;
  for (const s of segs.slice(1)) {
    const v = value(s);
    if (v !== prev) terms.push(`(* ${num(v - prev)} ${stepAt(s.from)})`);
    prev = v;
  }
  return terms;
}

function piecewise(segs: Segment[], value: (s: Segment) => number): string {
  return sumOf(piecewiseTerms(segs, value));
}

function sameDist(a: Distribution, b: Distribution): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The delay expression of one direction (negative = dropped). */
export function delayExpr(p: PathSpec, extraOutages: [number, number][] = []): string {
  if (p.duplicate > 0) fail('duplicated packets: clknetsim delivers each packet once');
  const segs = segments(p);
  const base = piecewiseTerms(segs, (s) => s.delay);
  let jitter: string;
  const j0 = segs[0]!.jitter;
  if (segs.every((s) => sameDist(s.jitter, j0))) jitter = distExpr(j0);
  else if (segs.every((s) => s.jitter.dist === 'exp')) {
    jitter = `(* ${piecewise(segs, (s) => (s.jitter.dist === 'exp' ? s.jitter.mean : 0))} (exponential))`;
  } else {
    jitter = sumOf(
      segs.map((s, i) => {
        const next = segs[i + 1];
        const w = next === undefined ? (s.from <= 0 ? '1' : stepAt(s.from)) : window(s.from, next.from);
        const e = distExpr(s.jitter);
        return e === '0' ? '0' : w === '1' ? e : `(* ${w} ${e})`;
      }),
    );
  }
  const reorder =
    p.reorder > 0 && p.reorderDelay > 0
      ? `(* ${num(p.reorderDelay)} (equal ${num(p.reorder)} (uniform) 1))`
      : '0';
  let delay = sumOf([...base, jitter, reorder]);
  // ntpkit clamps a delay at 0 and delivers the packet; clknetsim drops a delay <= 0.
  if (segs.some((s) => s.delay + distMin(s.jitter) <= 0)) delay = `(max 1e-9 ${delay})`;
  const drops: string[] = [];
  if (segs.some((s) => s.loss > 0)) drops.push(`(equal ${piecewise(segs, (s) => s.loss)} (uniform) 1)`);
  for (const [a, b] of [...p.outages, ...extraOutages]) if (b > a) drops.push(window(a, b));
  if (drops.length === 0) return delay;
  const drop = drops.length === 1 ? drops[0]! : `(max ${drops.join(' ')})`;
  return `(+ ${delay} (* -1000 ${drop}))`;
}

/** `nodeN_freq`: frequency error, random-walk wander (per second), periodic variation. */
export function freqExpr(o: OscillatorSpec): string {
  const terms = [num(o.freqPpm * 1e-6)];
  if (o.wander > 0) terms.push(`(sum (* ${num(o.wander)} (normal)))`);
  if (o.periodicPpm !== 0) {
    // ntpkit: A·sin(2πt/P + φ) = A·cos φ·sin(2πt/P) + A·sin φ·cos(2πt/P); clknetsim's (sine P)
    // and (cosine P) count evaluations, one per second from t = 0.
    const a = o.periodicPpm * 1e-6;
    const c = a * Math.cos(o.periodicPhase);
    const s = a * Math.sin(o.periodicPhase);
    if (Math.abs(c) > 1e-18) terms.push(`(* ${num(c)} (sine ${num(o.periodicPeriod)}))`);
    if (Math.abs(s) > 1e-18) terms.push(`(* ${num(s)} (cosine ${num(o.periodicPeriod)}))`);
  }
  return sumOf(terms);
}

/** `nodeN_step`: the phase steps, each applied once at the evaluation at ⌈at⌉ s. */
function stepExpr(o: OscillatorSpec): string {
  return sumOf(o.steps.map((s) => `(* ${num(s.offset)} (equal 0.5 (sum 1) ${num(Math.ceil(s.at) + 1)}))`));
}

function sourceDirective(kind: 'server' | 'peer', h: HostSourceConfig, address: string): string {
  if (h.key !== null) fail(`${kind} ${h.host}: symmetric keys are not set up for chrony in this benchmark`);
  if (h.nts === true) fail(`${kind} ${h.host}: NTS is not built into this chronyd`);
  if (h.port !== 123) fail(`${kind} ${h.host}: port ${h.port} (the simulated servers answer on 123)`);
  const o = [kind, address];
  if (h.iburst) o.push('iburst');
  if (h.burst) o.push('burst');
  // chrony's defaults are minpoll 6, maxpoll 10, as ntpkit's.
  if (h.minpoll !== 6 || h.maxpoll !== 10) o.push('minpoll', String(h.minpoll), 'maxpoll', String(h.maxpoll));
  if (h.prefer) o.push('prefer');
  if (h.noselect) o.push('noselect');
  if (h.xleave) o.push('xleave');
  if (h.maxDelay !== null) o.push('maxdelay', num(h.maxDelay));
  if (h.version !== 4) o.push('version', String(h.version));
  return o.join(' ');
}

let defaults: ReturnType<typeof checkConfig>['config'] = null;
function defaultConfig() {
  if (defaults === null) defaults = checkConfig('', '<defaults>').config;
  if (defaults === null) throw new Error('the empty configuration does not parse');
  return defaults;
}

function chronydDirectives(n: NodeSpec, addressOf: (host: string) => string, notes: string[]): string[] {
  const ntp = n.ntp;
  const def = defaultConfig();
  const d: string[] = [];
  if (ntp.broadcastClients.length > 0) fail(`node ${n.name}: chrony has no broadcast client`);
  if (ntp.pools.length > 0) fail(`node ${n.name}: pools need DNS, which the benchmark does not simulate`);
  if (ntp.refclocks.length > 0) fail(`node ${n.name}: reference clocks are not mapped`);
  if (n.behaviour === 'ratelimit' || ntp.rateLimit.enabled)
    fail(`node ${n.name}: rate limiting is not mapped`);
  if (
    n.outputDelay.dist !== 'constant' ||
    n.outputDelay.value !== 0 ||
    n.rxLatency.dist !== 'constant' ||
    n.rxLatency.value !== 0
  ) {
    fail(
      `node ${n.name}: timestamping errors (output delay, receive latency): clknetsim stamps every packet exactly when it leaves and arrives`,
    );
  }
  const sys = ntp.system;
  if (sys.localStratum !== null) d.push(`local stratum ${sys.localStratum}`);
  for (const b of sys.broadcast) {
    d.push(`broadcast ${2 ** b.poll} 192.168.123.255${b.port !== 123 ? ` ${b.port}` : ''}`);
  }
  if (sys.minSane !== def.system.minSane) d.push(`minsources ${sys.minSane}`);
  if (sys.maxDistance !== def.system.maxDistance) d.push(`maxdistance ${num(sys.maxDistance)}`);
  for (const k of ['minClock', 'maxClock', 'maxStratum', 'huffPuff', 'precision'] as const) {
    if (sys[k] !== def.system[k])
      fail(`node ${n.name}: [system] ${k} = ${sys[k]} has no chrony equivalent here`);
  }
  for (const s of ntp.servers) d.push(sourceDirective('server', s, addressOf(s.host)));
  for (const s of ntp.peers) d.push(sourceDirective('peer', s, addressOf(s.host)));
  // Every ntpkit node answers requests unless [server] is disabled; chronyd only with `allow`.
  if (ntp.server.enabled) d.push('allow');
  const tuned = Object.keys(n.discipline);
  const clock = ntp.clock;
  for (const k of ['stepThreshold', 'panicThreshold', 'stepout', 'stepAtStartup', 'maxFrequency'] as const) {
    if (clock[k] !== def.clock[k]) tuned.push(`[clock] ${k}`);
  }
  if (tuned.length > 0) {
    notes.push(
      `node ${n.name}: ntpkit discipline settings (${tuned.join(', ')}) are ntpkit's own; chronyd keeps its defaults`,
    );
  }
  return d;
}

function oscillatorLines(n: NodeSpec, index: number, notes: string[]): string[] {
  const o = n.oscillator;
  if (o.noise > 0) fail(`node ${n.name}: clock reading noise: clknetsim reads the clock exactly`);
  if (o.resolutionNs > 1)
    fail(`node ${n.name}: clock resolution ${o.resolutionNs} ns: clknetsim reads in ns`);
  const lines: string[] = [];
  const f = freqExpr(o);
  if (f !== '0') lines.push(`node${index}_freq = ${f}`);
  if (o.offset !== 0) lines.push(`node${index}_offset = ${num(o.offset)}`);
  if (o.steps.length > 0) {
    lines.push(`node${index}_step = ${stepExpr(o)}`);
    if (o.steps.some((s) => !Number.isInteger(s.at))) {
      notes.push(`node ${n.name}: clknetsim applies a clock step at the next whole second`);
    }
  }
  if (o.wander > 0 && o.wanderStep !== 1) {
    notes.push(
      `node ${n.name}: the frequency random walk is drawn every second in clknetsim (every ${o.wanderStep} s in ntpkit), with the same variance per unit time`,
    );
  }
  if (n.start > 0) lines.push(`node${index}_start = ${num(n.start)}`);
  return lines;
}

/** Maps a scenario (with its request budget already applied) to clknetsim and chronyd configurations. */
export function mapScenario(sc: Scenario, source = `${sc.name}.toml`): Mapping {
  const notes: string[] = [];
  try {
    const index = new Map<string, number>();
    sc.nodes.forEach((n, i) => {
      index.set(n.name, i + 1);
      index.set(n.address, i + 1);
    });
    const addressOf = (host: string): string => {
      const i = index.get(host);
      if (i === undefined) fail(`source ${host} is not a node of the scenario`);
      return nodeAddress(i);
    };
    const nodes: ChronydNode[] = sc.nodes.map((n, i) => ({
      index: i + 1,
      name: n.name,
      address: nodeAddress(i + 1),
      directives: chronydDirectives(n, addressOf, notes),
      stats: n.stats,
      start: n.start,
    }));
    const lines = [
      `# clknetsim configuration generated by ntpkit's bench/clknetsim/config.ts from ${source}`,
      `# nodes: ${nodes.map((n) => `${n.index}=${n.name}`).join(' ')}`,
    ];
    const down = (name: string): [number, number][] => sc.nodes.find((n) => n.name === name)?.down ?? [];
    for (const l of sc.links) {
      const a = index.get(l.a);
      const b = index.get(l.b);
      if (a === undefined || b === undefined) fail(`link ${l.a} - ${l.b}: unknown node`);
      // A node that is down neither sends nor receives: every packet to or from it is lost.
      const out = [...down(l.a), ...down(l.b)];
      lines.push(`node${a}_delay${b} = ${delayExpr(l.forward, out)}`);
      lines.push(`node${b}_delay${a} = ${delayExpr(l.reverse, out)}`);
    }
    if (sc.nodes.some((n) => n.down.length > 0)) {
      notes.push('down windows become outages of the node’s links (ntpkit also holds the node’s poll timer)');
    }
    sc.nodes.forEach((n, i) => {
      lines.push(...oscillatorLines(n, i + 1, notes));
    });
    if (sc.sampleInterval !== 1)
      fail('clknetsim logs the clock error once per second (sample-interval must be 1)');
    return {
      ok: true,
      scenario: sc.name,
      nodes,
      config: `${lines.join('\n')}\n`,
      notes,
      duration: sc.duration,
      warmup: sc.warmup,
    };
  } catch (e) {
    if (e instanceof Unexpressible) return { ok: false, scenario: sc.name, reason: e.message };
    throw e;
  }
}

/** The complete chronyd configuration file of one node (`dir`: the run directory). */
export function chronydConf(n: ChronydNode, dir: string): string {
  return [
    `# chronyd node ${n.index} (${n.name}), generated by ntpkit's bench/clknetsim/config.ts`,
    `pidfile ${dir}/chronyd.${n.index}.pid`,
    'cmdport 0',
    'bindcmdaddress /',
    ...n.directives,
    '',
  ].join('\n');
}
