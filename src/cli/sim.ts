/**
 * `ntpkit sim SCENARIO`: runs a simulation scenario (a TOML file, or the name of a standard scenario
 * in the package's scenarios/ directory) with the real engine and prints chrony-simulator-like
 * statistics per client.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { READ_LIMITS, readTextBounded } from '../io/bounded-read.js';
import { nodeCrypto } from '../io/crypto.js';
import { fakeEngineFactory, realEngineFactory } from '../sim/engines.js';
import { formatResult, resultToJson, seriesToCsv, seriesToSvg } from '../sim/report.js';
import { parseScenario, ScenarioError } from '../sim/scenario.js';
import { Simulation } from '../sim/simulation.js';

const USAGE = `usage: ntpkit sim SCENARIO [options]
  SCENARIO               a scenario file (TOML) or a standard scenario name (see --list)
  --list                 list the standard scenarios
  --seed N               override the scenario's seed
  --clock KIND           run every node with this clock: rfc5905 | feedforward
  --duration S           override the simulated duration (s)
  --warmup S             override the statistics warm-up (s)
  --json                 print the result as JSON
  --csv FILE             write the clock error time series as CSV
  --svg FILE             write an SVG plot of clock error against time
  --series-interval S    time series resolution (default: duration/4000, at least the sample interval)
  --plot-from S          start the SVG plot at S seconds (default: the warm-up)
  --fake                 use the tiny built-in fake engine instead of ntpkit's (plumbing checks)
  --no-progress          no progress bar (it is shown only when stderr is a terminal)`;

/** The standard scenario directory shipped with the package. */
export function scenariosDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const c of [join(here, '../../../scenarios'), join(here, '../../scenarios'), resolve('scenarios')]) {
    if (existsSync(c)) return c;
  }
  return resolve('scenarios');
}

export function findScenario(arg: string): string {
  if (existsSync(arg)) return arg;
  const p = join(scenariosDir(), arg.endsWith('.toml') ? arg : `${arg}.toml`);
  if (existsSync(p)) return p;
  throw new Error(`no scenario file or standard scenario named '${arg}' (try --list)`);
}

function progressBar(t: number, duration: number, wallMs: number): string {
  const width = 30;
  const frac = Math.min(1, t / duration);
  const done = Math.round(frac * width);
  const speed = wallMs > 0 ? (t / wallMs) * 1000 : 0;
  return `\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${t.toFixed(0)}/${duration} s  ${speed.toFixed(0)} sim-s/s`;
}

export async function run(args: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  function parse(a: string[]) {
    return parseArgs({
      args: a,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        list: { type: 'boolean' },
        seed: { type: 'string' },
        clock: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        json: { type: 'boolean' },
        csv: { type: 'string' },
        svg: { type: 'string' },
        'series-interval': { type: 'string' },
        'plot-from': { type: 'string' },
        fake: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
      },
    });
  }
  try {
    ({ values, positionals } = parse(args));
  } catch (e) {
    process.stderr.write(`ntpkit sim: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list === true) {
    const dir = scenariosDir();
    for (const f of readdirSync(dir)
      .filter((x) => x.endsWith('.toml'))
      .sort()) {
      let desc = '';
      try {
        desc = parseScenario(await readTextBounded(join(dir, f), READ_LIMITS.scenario), f).description;
      } catch {
        desc = '(invalid)';
      }
      process.stdout.write(`${f.replace(/\.toml$/, '').padEnd(22)} ${desc}\n`);
    }
    return 0;
  }
  const name = positionals[0];
  if (name === undefined || positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const num = (key: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${key} must be a number >= ${min}, got '${v}'`);
    return n;
  };
  let scenarioFile: string;
  try {
    scenarioFile = findScenario(name);
  } catch (e) {
    process.stderr.write(`ntpkit sim: ${(e as Error).message}\n`);
    return 2;
  }
  let sc: ReturnType<typeof parseScenario>;
  let seed: number | undefined;
  let seriesInterval: number | undefined;
  let plotFrom: number | undefined;
  try {
    sc = parseScenario(await readTextBounded(scenarioFile, READ_LIMITS.scenario), scenarioFile);
    seed = num('seed', values.seed, 0);
    const duration = num('duration', values.duration, 1);
    const warmup = num('warmup', values.warmup, 0);
    seriesInterval = num('series-interval', values['series-interval'], 0.001);
    plotFrom = num('plot-from', values['plot-from'], 0);
    if (duration !== undefined) sc.duration = duration;
    if (warmup !== undefined) sc.warmup = warmup;
    if (sc.warmup >= sc.duration) throw new Error('warm-up must be shorter than the duration');
    if (values.clock !== undefined && values.clock !== 'rfc5905' && values.clock !== 'feedforward') {
      throw new Error(`--clock must be rfc5905 or feedforward, got '${values.clock}'`);
    }
  } catch (e) {
    if (e instanceof ScenarioError) process.stderr.write(`ntpkit sim: invalid scenario:\n${e.message}\n`);
    else process.stderr.write(`ntpkit sim: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const clock = values.clock as 'rfc5905' | 'feedforward' | undefined;
  const factory = values.fake === true ? fakeEngineFactory() : realEngineFactory(nodeCrypto, clock);
  const wantSeries = values.csv !== undefined || values.svg !== undefined;
  const series = wantSeries ? (seriesInterval ?? Math.max(sc.sampleInterval, sc.duration / 4000)) : 0;
  const showProgress = values['no-progress'] !== true && process.stderr.isTTY === true;
  const t0 = performance.now();
  const sim = new Simulation(sc, factory, seed ?? sc.seed);
  const result = sim.run({
    seriesInterval: series,
    ...(showProgress
      ? {
          onProgress: (t: number, d: number) =>
            process.stderr.write(progressBar(t, d, performance.now() - t0)),
        }
      : {}),
  });
  const wall = (performance.now() - t0) / 1000;
  if (showProgress) process.stderr.write('\r\x1b[K');
  if (values.csv !== undefined) writeFileSync(values.csv, seriesToCsv(sim.getSeries()));
  if (values.svg !== undefined) {
    const title = `${sc.name} (seed ${result.seed}${clock === undefined ? '' : `, ${clock}`})`;
    writeFileSync(values.svg, seriesToSvg(sim.getSeries(), title, plotFrom ?? sc.warmup));
  }
  if (values.json === true) {
    const out = JSON.parse(resultToJson(result)) as Record<string, unknown>;
    out.wallSeconds = wall;
    out.speed = sc.duration / wall;
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatResult(result)}\n`);
    process.stdout.write(
      `wall ${wall.toFixed(2)} s, ${(sc.duration / wall).toFixed(0)} simulated s per second\n`,
    );
  }
  return 0;
}
