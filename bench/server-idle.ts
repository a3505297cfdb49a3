/**
 * `npm run bench:server -- --idle [SECONDS]`: what an idle server costs, ntpkit next to chronyd in
 * the same run. Each server starts (ntpkit: `[local] stratum = 1`, `workers = 0` and the default
 * one worker per core; chronyd: `-x`, `local stratum 1`), answers one request, waits 20 s, then
 * sits idle for SECONDS (default 30): its CPU time (utime + stime of every thread, /proc/PID/task/TID/stat, in
 * clock ticks) and its wake-ups (voluntary context switches of every thread: each is one sleep
 * ended) are read before and after. Unpinned: an idle server's scheduling is what is measured.
 * Options: --servers a,b,c, --no-write. Writes the `## Server idle cost` section of docs/BENCHMARKS.md.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceDocSection } from './doc-section.js';
import { type ServerHandle, startChronyd, startNtpkit, stopChild } from './server.js';

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS = 100;

interface Reading {
  ticks: number;
  switches: number;
  threads: number;
}

/** CPU ticks and voluntary context switches of all threads of `pid`. */
function read(pid: number): Reading {
  let ticks = 0;
  let switches = 0;
  let threads = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the command name (in parentheses): utime and stime are the 12th and 13th.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(
        readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'),
      );
      switches += Number(m?.[1] ?? 0);
      threads++;
    } catch {
      /* a thread that ended meanwhile */
    }
  }
  return { ticks, switches, threads };
}

/** Seconds between the request and the idle window. */
const WARMUP_S = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function idleMain(argv: string[]): Promise<number> {
  let seconds = 30;
  let servers = ['ntpkit', 'ntpkit-default', 'chronyd'];
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a === '--idle') {
      if (next !== undefined && /^\d+$/.test(next)) seconds = Number(argv[++i]);
    } else if (a === '--servers') servers = (argv[++i] ?? '').split(',').filter((s) => s !== '');
    else if (a === '--no-write') write = false;
    else throw new Error(`unknown option ${a}`);
  }
  if (!(seconds >= 5 && seconds <= 600)) throw new Error('--idle SECONDS needs 5 ≤ SECONDS ≤ 600');
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-bench-idle-'));
  const rows: string[] = [];
  const load0 = loadavg();
  try {
    for (const name of servers) {
      let h: ServerHandle | null;
      if (name === 'ntpkit') h = await startNtpkit(dir, false, 'kernel', 0);
      else if (name === 'ntpkit-default') h = await startNtpkit(dir, false, 'kernel', null);
      else if (name === 'chronyd') h = await startChronyd(dir, false);
      else throw new Error(`unknown server ${name}`);
      if (h === null) throw new Error(`${name} is not available`);
      try {
        const pid = h.child.pid;
        if (pid === undefined) throw new Error(`${name}: no process`);
        // Past start-up (V8 finishes its compile and GC work on its own threads for ~15 s).
        await sleep(WARMUP_S * 1000);
        const a = read(pid);
        await sleep(seconds * 1000);
        const b = read(pid);
        const cpu = ((b.ticks - a.ticks) / TICKS / seconds) * 100;
        const wakes = (b.switches - a.switches) / seconds;
        rows.push(
          `| ${h.name} (${h.version.replace(', generator sharing core 0', '')}) | ${b.threads} | ${cpu.toFixed(2)} % | ${wakes.toFixed(1)} |`,
        );
        process.stderr.write(`${h.name}: ${cpu.toFixed(2)} % of a core, ${wakes.toFixed(1)} wake-ups/s\n`);
      } finally {
        await stopChild(h.child);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const la = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  const section = [
    '## Server idle cost',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:server -- --idle ${seconds}\` (bench/server-idle.ts) on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}; load average ${la(load0)} at the start, ${la(loadavg())} at the end.`,
    '',
    `Each server answered one request and ${WARMUP_S} s later sat idle for ${seconds} s, unpinned (in its first ~15 s node's V8 threads still finish compile and GC work). CPU: utime + stime of all its threads over the window (/proc, 10 ms ticks: below 0.03 % is within one tick); wake-ups: voluntary context switches of all its threads per second (each ends one sleep). ntpkit serves its free-running clock as stratum 1, as in the throughput table; chronyd: \`-x\`, \`local stratum 1\`.`,
    '',
    '| server | threads | CPU (% of a core) | wake-ups per second |',
    '|---|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(`${section}\n`);
  if (write) {
    const file = new URL('../../docs/BENCHMARKS.md', import.meta.url).pathname;
    const old = existsSync(file) ? await readFile(file, 'utf8') : '';
    await writeFile(file, replaceDocSection(old, '## Server idle cost', section));
    process.stderr.write(`written to ${file}\n`);
  }
  return 0;
}
