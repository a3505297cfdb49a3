/**
 * Runs one generated clknetsim setup (bench/clknetsim/config.ts) with one seed: a chronyd per node
 * with clknetsim's library preloaded, and the clknetsim server, in a fresh directory; then reads the
 * clock errors (log.offset) and the requests (log.packets) back.
 *
 * The simulation never runs with the right to set the clock: as root it runs as `nobody` with
 * CAP_SYS_TIME dropped from the bounding set (setpriv), so that a chronyd whose LD_PRELOAD failed
 * can never reach the real clock. CPU time is that of clknetsim and every chronyd (bash `times`
 * over the children it waited for).
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Built } from './build.js';
import { shellQuote } from './build.js';
import { type ClknetsimSetup, chronydConf } from './config.js';
import { parseOffsetLog, type RequestStats, requestStats, type SeriesStats, seriesStats } from './series.js';

export interface ChronyNodeResult {
  node: string;
  index: number;
  stats: SeriesStats;
  requests: RequestStats;
}

export interface ChronyRun {
  seed: number;
  nodes: ChronyNodeResult[];
  /** CPU seconds of clknetsim and all chronyd processes. */
  cpuSeconds: number;
  wallSeconds: number;
}

const NOBODY = 65534;

/** The shell script of one run (exported for the tests). */
export function runnerScript(setup: ClknetsimSetup, built: Built, dir: string, seed: number): string {
  const q = shellQuote;
  const lines = ['set -u', `cd ${q(dir)}`, 'pids=""'];
  for (const n of setup.nodes) {
    lines.push(
      `LD_PRELOAD=${q(built.preload)} CLKNETSIM_NODE=${n.index} CLKNETSIM_SOCKET=${q(`${dir}/sock`)} ` +
        `CLKNETSIM_RANDOM_SEED=${seed} ${q(built.chronyd)} -d -f conf.${n.index} >log.${n.index} 2>&1 &`,
      'pids="$pids $!"',
    );
  }
  lines.push(
    `CLKNETSIM_RANDOM_SEED=${seed} ${q(built.clknetsim)} -l ${setup.duration} -o log.offset -p log.packets ` +
      `-s ${q(`${dir}/sock`)} clknetsim.conf ${setup.nodes.length} >stats 2>log.clknetsim`,
    'rc=$?',
    'kill $pids 2>/dev/null',
    'wait',
    'times >times',
    'exit $rc',
  );
  return `${lines.join('\n')}\n`;
}

function tail(file: string, n = 8): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(none)';
  }
}

/** Parses bash `times`: the second line is the children's user and system time. */
export function parseTimes(text: string): number {
  const line = text.trim().split('\n')[1] ?? '';
  let total = 0;
  for (const m of line.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(m[1]) * 60 + Number(m[2]);
  return total;
}

export async function runChrony(
  setup: ClknetsimSetup,
  built: Built,
  seed: number,
  o: { keep?: boolean; timeoutMs?: number; cpu?: number } = {},
): Promise<ChronyRun> {
  const dir = mkdtempSync(join(tmpdir(), `ntpkit-clknetsim-${setup.scenario}-`));
  const asRoot = process.getuid?.() === 0;
  let keep = o.keep === true;
  try {
    writeFileSync(join(dir, 'clknetsim.conf'), setup.config);
    for (const n of setup.nodes) writeFileSync(join(dir, `conf.${n.index}`), chronydConf(n, dir));
    writeFileSync(join(dir, 'run.sh'), runnerScript(setup, built, dir, seed));
    if (asRoot) {
      chmodSync(dir, 0o755);
      chownSync(dir, NOBODY, NOBODY);
    }
    const pin = o.cpu !== undefined ? ['taskset', '-c', String(o.cpu)] : [];
    const argv = asRoot
      ? [
          ...pin,
          'setpriv',
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          '--clear-groups',
          '--bounding-set',
          '-sys_time',
          '--',
          'bash',
          join(dir, 'run.sh'),
        ]
      : [...pin, 'bash', join(dir, 'run.sh')];
    const t0 = performance.now();
    const rc = await new Promise<number | string>((res, rej) => {
      const p = spawn(argv[0]!, argv.slice(1), { cwd: dir, detached: true, stdio: 'ignore' });
      const timer = setTimeout(() => {
        try {
          if (p.pid !== undefined) process.kill(-p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, o.timeoutMs ?? 600_000);
      p.on('error', (e) => {
        clearTimeout(timer);
        rej(e);
      });
      p.on('exit', (code, signal) => {
        clearTimeout(timer);
        res(code ?? signal ?? 'unknown');
      });
    });
    const wallSeconds = (performance.now() - t0) / 1000;
    if (rc !== 0) {
      throw new Error(
        `clknetsim run of ${setup.scenario} (seed ${seed}) failed (${rc}) in ${dir}:\n${tail(join(dir, 'log.clknetsim'))}\n` +
          setup.nodes
            .map((n) => `chronyd ${n.index} (${n.name}):\n${tail(join(dir, `log.${n.index}`))}`)
            .join('\n'),
      );
    }
    const cols = parseOffsetLog(readFileSync(join(dir, 'log.offset'), 'utf8'), setup.nodes.length);
    if ((cols[0]?.length ?? 0) < setup.duration + 1) {
      throw new Error(`clknetsim run of ${setup.scenario} (seed ${seed}): log.offset is short in ${dir}`);
    }
    const packets = readFileSync(join(dir, 'log.packets'), 'utf8');
    const nodes: ChronyNodeResult[] = [];
    for (const n of setup.nodes) {
      if (!n.stats) continue;
      nodes.push({
        node: n.name,
        index: n.index,
        stats: seriesStats(cols[n.index - 1]!, { warmup: setup.warmup, start: n.start }),
        requests: requestStats(packets, n.index, setup.warmup),
      });
    }
    return { seed, nodes, cpuSeconds: parseTimes(readFileSync(join(dir, 'times'), 'utf8')), wallSeconds };
  } catch (e) {
    keep = true;
    throw e;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
