/**
 * The scenario file format (TOML) and its validation. See docs/simulator.md for every key.
 *
 * A node's NTP configuration is a `[node.ntp]` table in exactly the daemon's configuration format
 * (`[[node.ntp.server]]`, `[node.ntp.local]`, `[node.ntp.system]`, `[node.ntp.clock]`,
 * `[node.ntp.rate-limit]`, ...); it is validated by the daemon's own parser (src/config). Source
 * addresses may name other nodes.
 */
import { parse, stringify, TomlError } from 'smol-toml';
import { KeyLines } from '../config/lines.js';
import { checkConfig } from '../config/parse.js';
import { formatIssue, isTable, join, type Table, TomlReader } from '../config/reader.js';
import { checkDistribution, type Distribution } from './distributions.js';
import { parseUtc, type ScenarioLeap } from './leap.js';
import { defaultOscillatorSpec, type OscillatorSpec } from './oscillator.js';
import { defaultPathSpec, type PathChange, type PathSpec } from './path.js';
import type { Behaviour, LinkSpec, NodeSpec, Scenario } from './types.js';

/** True time 0 of a run without `epoch`: 2026-01-01T00:00:00Z as era-extended NTP time. */
export const SIM_START = 3976214400n << 32n;

export class ScenarioError extends Error {
  readonly code = 'SIM_SCENARIO';
  constructor(readonly issues: string[]) {
    super(issues.join('\n'));
    this.name = 'ScenarioError';
  }
}

/** The daemon's TOML reader plus the scenario-only value kinds (time windows, distributions). */
class Reader extends TomlReader {
  /** A scenario problem at `path`. */
  bad(path: string, msg: string): void {
    this.issue('CONFIG_BAD_VALUE', path, msg);
  }

  /** Issues as `file:line: key: message` lines. */
  messages(): string[] {
    return this.issues.map(formatIssue);
  }

  /** A sub-table; an absent one reads as empty (scenario sections are all optional). */
  override table(t: Table, key: string, path: string): Table {
    return super.table(t, key, path) ?? {};
  }

  windows(t: Table, key: string, path: string): [number, number][] {
    const v = t[key];
    if (v === undefined) return [];
    const out: [number, number][] = [];
    if (!Array.isArray(v)) {
      this.bad(join(path, key), 'expected a list of [start, end] pairs');
      return out;
    }
    for (const w of v) {
      const a = Array.isArray(w) ? w.map((x) => (typeof x === 'bigint' ? Number(x) : x)) : [];
      if (a.length !== 2 || typeof a[0] !== 'number' || typeof a[1] !== 'number' || a[1] < a[0]) {
        this.bad(join(path, key), 'each window must be [start, end] with end >= start (seconds)');
        continue;
      }
      out.push([a[0], a[1]]);
    }
    return out;
  }

  dist(t: Table, key: string, path: string, def: Distribution): Distribution {
    const v = t[key];
    if (v === undefined) return def;
    const p = join(path, key);
    if (typeof v === 'number' || typeof v === 'bigint') return { dist: 'constant', value: Number(v) };
    if (!isTable(v)) {
      this.bad(p, 'expected a number (constant) or a table like { dist = "exp", mean = 1e-4 }');
      return def;
    }
    const kind = this.str(v, 'dist', p, '');
    let d: Distribution;
    switch (kind) {
      case 'constant':
        this.keys(v, p, ['dist', 'value']);
        d = { dist: 'constant', value: this.num(v, 'value', p, 0) };
        break;
      case 'exp':
      case 'exponential':
        this.keys(v, p, ['dist', 'mean']);
        d = { dist: 'exp', mean: this.num(v, 'mean', p, 0, { min: 0 }) };
        break;
      case 'normal':
        this.keys(v, p, ['dist', 'mean', 'sd']);
        d = { dist: 'normal', mean: this.num(v, 'mean', p, 0), sd: this.num(v, 'sd', p, 0, { min: 0 }) };
        break;
      case 'uniform':
        this.keys(v, p, ['dist', 'min', 'max']);
        d = { dist: 'uniform', min: this.num(v, 'min', p, 0), max: this.num(v, 'max', p, 0) };
        break;
      case 'pareto':
        this.keys(v, p, ['dist', 'mean', 'shape']);
        d = {
          dist: 'pareto',
          mean: this.num(v, 'mean', p, 0, { min: 0 }),
          shape: this.num(v, 'shape', p, 2.5),
        };
        break;
      default:
        this.bad(p, `dist must be one of constant, exp, normal, uniform, pareto (got '${kind}')`);
        return def;
    }
    const bad = checkDistribution(d);
    if (bad !== null) this.bad(p, bad);
    return d;
  }
}

const TOP_KEYS = [
  'name',
  'description',
  'duration',
  'warmup',
  'seed',
  'sample-interval',
  'sync-bound',
  'epoch',
  'leap',
  'timescale',
  'smear-window',
  'node',
  'link',
];
const NODE_KEYS = [
  'name',
  'stats',
  'behaviour',
  'false-offset',
  'down',
  'start',
  'oscillator',
  'timestamping',
  'discipline',
  'ntp',
  'leap-list',
  'false-leap',
  'leap-stop',
];
const OSC_KEYS = [
  'offset',
  'freq-ppm',
  'wander',
  'wander-step',
  'periodic-ppm',
  'periodic-period',
  'periodic-phase',
  'resolution-ns',
  'noise',
  'steps',
];
const PATH_KEYS = ['delay', 'jitter', 'loss', 'duplicate', 'reorder', 'reorder-delay'];
const CHANGE_KEYS = ['at', 'delay', 'add', 'asymmetry', 'jitter', 'loss'];
const DISCIPLINE_KEYS: Record<string, string> = {
  'step-threshold': 'stepThreshold',
  'panic-threshold': 'panicThreshold',
  'step-at-startup': 'stepAtStartup',
  stepout: 'stepout',
  'max-frequency-ppm': 'maxFrequencyPpm',
  'initial-frequency-ppm': 'initialFrequencyPpm',
  precision: 'precision',
  'pll-gain': 'pllGain',
};

function readOscillator(r: Reader, t: Table, path: string): OscillatorSpec {
  r.keys(t, path, OSC_KEYS);
  const o = defaultOscillatorSpec();
  o.offset = r.num(t, 'offset', path, 0);
  o.freqPpm = r.num(t, 'freq-ppm', path, 0, { min: -10000, max: 10000 });
  o.wander = r.num(t, 'wander', path, 0, { min: 0, max: 1e-3 });
  o.wanderStep = r.num(t, 'wander-step', path, 1, { min: 0.001 });
  o.periodicPpm = r.num(t, 'periodic-ppm', path, 0);
  o.periodicPeriod = r.num(t, 'periodic-period', path, 86400, { min: 1 });
  o.periodicPhase = r.num(t, 'periodic-phase', path, 0);
  o.resolutionNs = r.num(t, 'resolution-ns', path, 1, { min: 1, int: true });
  o.noise = r.num(t, 'noise', path, 0, { min: 0 });
  o.steps = r.tables(t, 'steps', path).map((s, i) => {
    const p = `${path}.steps[${i}]`;
    r.keys(s, p, ['at', 'offset']);
    return { at: r.num(s, 'at', p, 0, { min: 0 }), offset: r.num(s, 'offset', p, 0) };
  });
  return o;
}

function readPathFields(r: Reader, t: Table, path: string, base: PathSpec): PathSpec {
  return {
    ...base,
    delay: r.num(t, 'delay', path, base.delay, { min: 0 }),
    jitter: r.dist(t, 'jitter', path, base.jitter),
    loss: r.num(t, 'loss', path, base.loss, { min: 0, max: 1 }),
    duplicate: r.num(t, 'duplicate', path, base.duplicate, { min: 0, max: 1 }),
    reorder: r.num(t, 'reorder', path, base.reorder, { min: 0, max: 1 }),
    reorderDelay: r.num(t, 'reorder-delay', path, base.reorderDelay, { min: 0 }),
    changes: [...base.changes],
    outages: [...base.outages],
  };
}

function readChange(r: Reader, c: Table, p: string, sign: number): PathChange {
  r.keys(c, p, CHANGE_KEYS);
  const ch: PathChange = { at: r.num(c, 'at', p, 0, { min: 0 }) };
  if (c.delay !== undefined) ch.delay = r.num(c, 'delay', p, 0, { min: 0 });
  let add = c.add !== undefined ? r.num(c, 'add', p, 0) : 0;
  if (c.asymmetry !== undefined) add += (sign * r.num(c, 'asymmetry', p, 0)) / 2;
  if (c.add !== undefined || c.asymmetry !== undefined) ch.add = add;
  if (c.jitter !== undefined) ch.jitter = r.dist(c, 'jitter', p, { dist: 'constant', value: 0 });
  if (c.loss !== undefined) ch.loss = r.num(c, 'loss', p, 0, { min: 0, max: 1 });
  return ch;
}

function readLink(r: Reader, t: Table, path: string): LinkSpec | null {
  r.keys(t, path, ['nodes', ...PATH_KEYS, 'asymmetry', 'outages', 'change', 'forward', 'reverse']);
  const nodes = t.nodes;
  if (!Array.isArray(nodes) || nodes.length !== 2 || !nodes.every((n) => typeof n === 'string')) {
    r.bad(join(path, 'nodes'), 'expected nodes = ["A", "B"] (forward is A → B)');
    return null;
  }
  const both = readPathFields(r, t, path, defaultPathSpec());
  both.outages = r.windows(t, 'outages', path);
  const asym = r.num(t, 'asymmetry', path, 0);
  const fT = r.table(t, 'forward', path);
  const bT = r.table(t, 'reverse', path);
  r.keys(fT, `${path}.forward`, [...PATH_KEYS, 'change', 'outages']);
  r.keys(bT, `${path}.reverse`, [...PATH_KEYS, 'change', 'outages']);
  const forward = readPathFields(r, fT, `${path}.forward`, { ...both, delay: both.delay + asym / 2 });
  const reverse = readPathFields(r, bT, `${path}.reverse`, {
    ...both,
    delay: Math.max(0, both.delay - asym / 2),
  });
  if (fT.delay !== undefined && asym !== 0) forward.delay += asym / 2;
  if (bT.delay !== undefined && asym !== 0) reverse.delay = Math.max(0, reverse.delay - asym / 2);
  r.tables(t, 'change', path).forEach((c, i) => {
    forward.changes.push(readChange(r, c, `${path}.change[${i}]`, 1));
    reverse.changes.push(readChange(r, c, `${path}.change[${i}]`, -1));
  });
  r.tables(fT, 'change', `${path}.forward`).forEach((c, i) => {
    forward.changes.push(readChange(r, c, `${path}.forward.change[${i}]`, 1));
  });
  r.tables(bT, 'change', `${path}.reverse`).forEach((c, i) => {
    reverse.changes.push(readChange(r, c, `${path}.reverse.change[${i}]`, 1));
  });
  forward.outages.push(...r.windows(fT, 'outages', `${path}.forward`));
  reverse.outages.push(...r.windows(bT, 'outages', `${path}.reverse`));
  return { a: nodes[0] as string, b: nodes[1] as string, forward, reverse };
}

function readNode(r: Reader, t: Table, path: string, index: number, file: string): NodeSpec {
  r.keys(t, path, NODE_KEYS);
  const name = r.str(t, 'name', path, `node${index + 1}`);
  const behaviour = r.str(t, 'behaviour', path, 'honest');
  if (!['honest', 'falseticker', 'flaky', 'ratelimit'].includes(behaviour)) {
    r.bad(join(path, 'behaviour'), 'expected honest, falseticker, flaky or ratelimit');
  }
  const oscillator = readOscillator(r, r.table(t, 'oscillator', path), `${path}.oscillator`);
  oscillator.offset += r.num(t, 'false-offset', path, 0);
  const ts = r.table(t, 'timestamping', path);
  r.keys(ts, `${path}.timestamping`, ['output-delay', 'rx-latency']);
  const zero: Distribution = { dist: 'constant', value: 0 };
  const dT = r.table(t, 'discipline', path);
  const discipline: Record<string, number | boolean> = {};
  for (const [k, v] of Object.entries(dT)) {
    const mapped = DISCIPLINE_KEYS[k];
    if (mapped === undefined) {
      r.bad(`${path}.discipline.${k}`, `unknown key; allowed: ${Object.keys(DISCIPLINE_KEYS).join(', ')}`);
      continue;
    }
    if (typeof v === 'number' || typeof v === 'boolean') discipline[mapped] = v;
    else if (typeof v === 'bigint') discipline[mapped] = Number(v);
    else r.bad(`${path}.discipline.${k}`, 'expected a number or boolean');
  }
  const ntpT = r.table(t, 'ntp', path);
  const { config, issues } = checkConfig(stringify(ntpT), `${file} node '${name}' [ntp]`);
  for (const i of issues) r.bad(`${path}.ntp.${i.key}`, i.message);
  if (config === null) throw new ScenarioError(r.messages());
  const hasSources =
    config.servers.length + config.pools.length + config.peers.length + config.broadcastClients.length > 0;
  if (behaviour === 'ratelimit' && !config.rateLimit.enabled) config.rateLimit.enabled = true;
  return {
    name,
    address: `10.0.${(index + 1) >> 8}.${(index + 1) & 255}`,
    stats: r.bool(t, 'stats', path, hasSources),
    oscillator,
    behaviour: behaviour as Behaviour,
    down: r.windows(t, 'down', path),
    ntp: config,
    discipline,
    outputDelay: r.dist(ts, 'output-delay', `${path}.timestamping`, zero),
    rxLatency: r.dist(ts, 'rx-latency', `${path}.timestamping`, zero),
    start: r.num(t, 'start', path, 0, { min: 0 }),
    leapList: r.bool(t, 'leap-list', path, !hasSources),
    falseLeap: readLeapKind(r, t, 'false-leap', path),
    leapStop: t['leap-stop'] === undefined ? null : r.num(t, 'leap-stop', path, 0, { min: 0 }),
  };
}

function readLeapKind(r: Reader, t: Table, key: string, path: string): 'insert' | 'delete' | null {
  if (t[key] === undefined) return null;
  const v = r.str(t, key, path, '');
  if (v === 'insert' || v === 'delete') return v;
  r.bad(join(path, key), `expected "insert" or "delete" (got '${v}')`);
  return null;
}

/** `epoch` and `[[leap]]`: "YYYY-MM-DDTHH:MM:SSZ" strings; leaps only at a month's first midnight. */
function readTime(r: Reader, t: Table, key: string, path: string): bigint | null {
  const v = t[key];
  const text = typeof v === 'string' ? v : '';
  const at = parseUtc(text);
  if (at === null) r.bad(join(path, key), 'expected a UTC time like "2017-01-01T00:00:00Z"');
  return at;
}

function readLeaps(r: Reader, doc: Table): ScenarioLeap[] {
  const out: ScenarioLeap[] = [];
  r.tables(doc, 'leap', '').forEach((t, i) => {
    const p = `leap[${i}]`;
    r.keys(t, p, ['at', 'kind']);
    const at = readTime(r, t, 'at', p);
    const kind = readLeapKind(r, t, 'kind', p) ?? 'insert';
    if (at === null) return;
    if (!/-01T00:00:00Z$/.test(String(t.at)))
      r.bad(join(p, 'at'), 'a leap second precedes the first midnight of a month');
    const prev = out[out.length - 1];
    if (prev !== undefined && at <= prev.at) r.bad(p, 'leaps must be in time order');
    out.push({ kind, at });
  });
  return out;
}

/** Parses and validates a scenario. Throws `ScenarioError` listing every problem (file:line: key: message). */
export function parseScenario(text: string, file = '<scenario>'): Scenario {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (e) {
    if (e instanceof TomlError)
      throw new ScenarioError([`${file}:${e.line}: TOML syntax: ${e.message.split('\n')[0]}`]);
    throw e;
  }
  const r = new Reader(file, new KeyLines(text));
  r.keys(doc, '', TOP_KEYS);
  const duration = r.num(doc, 'duration', '', 20000, { min: 1 });
  const sc: Scenario = {
    name: r.str(doc, 'name', '', file.replace(/^.*\//, '').replace(/\.toml$/, '')),
    description: r.str(doc, 'description', '', ''),
    duration,
    warmup: r.num(doc, 'warmup', '', 0, { min: 0 }),
    seed: r.num(doc, 'seed', '', 1, { int: true, min: 0 }),
    sampleInterval: r.num(doc, 'sample-interval', '', 1, { min: 0.001 }),
    syncBound: r.num(doc, 'sync-bound', '', 1e-3, { min: 0 }),
    epoch: doc.epoch === undefined ? SIM_START : (readTime(r, doc, 'epoch', '') ?? SIM_START),
    leaps: readLeaps(r, doc),
    timescale: {
      kind: r.oneOf(doc, 'timescale', '', 'utc', ['utc', 'smear'] as const),
      window: r.num(doc, 'smear-window', '', 86400, { min: 60, max: 7 * 86400 }),
    },
    nodes: [],
    links: [],
  };
  if (sc.warmup >= duration) r.bad('warmup', 'must be less than duration');
  const nodesT = r.tables(doc, 'node', '');
  if (nodesT.length === 0) r.bad('node', 'a scenario needs at least one [[node]]');
  if (nodesT.length > 65000) r.bad('node', 'too many nodes');
  nodesT.forEach((t, i) => {
    sc.nodes.push(readNode(r, t, `node[${i}]`, i, file));
  });
  const names = new Set<string>();
  for (const n of sc.nodes) {
    if (names.has(n.name)) r.bad('node', `duplicate node name '${n.name}'`);
    names.add(n.name);
  }
  r.tables(doc, 'link', '').forEach((t, i) => {
    const l = readLink(r, t, `link[${i}]`);
    if (l === null) return;
    for (const n of [l.a, l.b]) if (!names.has(n)) r.bad(`link[${i}].nodes`, `unknown node '${n}'`);
    sc.links.push(l);
  });
  for (const n of sc.nodes) {
    const hosts = [...n.ntp.servers, ...n.ntp.pools, ...n.ntp.peers, ...n.ntp.broadcastClients].map(
      (h) => h.host,
    );
    for (const h of hosts) {
      if (!names.has(h) && !sc.nodes.some((m) => m.address === h)) {
        r.bad(`node '${n.name}'`, `source '${h}' is not a node name or address`);
      }
    }
  }
  if (r.issues.length > 0) throw new ScenarioError(r.messages());
  return sc;
}
