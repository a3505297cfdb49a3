/**
 * `npm run bench:server -- --rss [N]`: the resident memory of each server while N distinct client
 * addresses (default 1,000,000) each send it a request, ntpkit next to chronyd in the same run.
 *
 * The generator (bench/loadgen.c in its CYCLE mode) sends every request from the next address of
 * 127.1.0.0 onwards (loopback answers the whole 127.0.0.0/8), at --rate R requests/s (default
 * 40,000) for N / R seconds, so every request is a new client to the server. RSS is read from
 * /proc/PID/status (VmRSS) before the run (after 1 s idle), every 200 ms during it (reported: at a
 * quarter, half and three quarters of the clients, and the peak) and 1 s after it. Servers (--servers): ntpkit-batched (`[serve] workers = 1`, pinned to the last
 * core), ntpkit-default (the `workers` key left out: one worker per core, every core) and chronyd
 * (default `clientloglimit`, pinned to the last core). ntpkit's client table is
 * `[serve] client-table-size` (default 4096) entries per worker and one for the main thread,
 * least recently seen evicted, so its memory must not grow with the number of clients.
 * Options: --rate R, --servers a,b,c, --no-write. Writes the `## Server memory` section of
 * docs/BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceDocSection } from './doc-section.js';
import {
  buildCGenerator,
  lastCore,
  type ServerHandle,
  startChronyd,
  startNtpkit,
  stopChild,
} from './server.js';

interface RssResult {
  name: string;
  version: string;
  before: number;
  /** RSS when a quarter, half and three quarters of the clients had asked (MiB). */
  quarters: number[];
  peak: number;
  after: number;
  sent: number;
  received: number;
}

/** The RSS bound docs/daemon.md states for the daemon (MiB): a base and a share per worker. */
const BOUND_BASE_MIB = 100;
const BOUND_PER_WORKER_MIB = 80;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a process (MiB), null when unreadable. */
function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) / 1024;
  } catch {
    return null;
  }
}

/** Runs the generator in CYCLE mode (asynchronously, so RSS can be sampled meanwhile). */
function cycleGenerator(
  bin: string,
  port: number,
  rate: number,
  seconds: number,
  clients: number,
): Promise<{ sent: number; received: number }> {
  return new Promise((resolve, reject) => {
    const args = [
      '127.0.0.1',
      String(port),
      '1',
      'x',
      String(rate),
      String(seconds),
      '4194304',
      String(clients),
    ];
    const child = spawn('taskset', ['-c', '0', bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    child.once('exit', (code) => {
      clearTimeout(t);
      try {
        if (code !== 0) throw new Error(`loadgen exited with ${code}`);
        const r = JSON.parse(out) as { sent: number; received: number };
        resolve({ sent: r.sent, received: r.received });
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function measureRss(h: ServerHandle, bin: string, rate: number, clients: number): Promise<RssResult> {
  const pid = h.child.pid ?? 0;
  await sleep(1000);
  const before = rssMiB(pid) ?? Number.NaN;
  let peak = before;
  let running = true;
  const trace: { t: number; rss: number }[] = [];
  const t0 = Date.now();
  const sampler = (async () => {
    while (running) {
      const r = rssMiB(pid);
      if (r !== null) {
        trace.push({ t: (Date.now() - t0) / 1000, rss: r });
        if (r > peak) peak = r;
      }
      await sleep(200);
    }
  })();
  const seconds = clients / rate;
  const g = await cycleGenerator(bin, h.port, rate, seconds, clients);
  running = false;
  await sampler;
  await sleep(1000);
  const after = rssMiB(pid) ?? Number.NaN;
  peak = Math.max(peak, after);
  const at = (q: number) => {
    let best = trace[0];
    for (const x of trace)
      if (best === undefined || Math.abs(x.t - q * seconds) < Math.abs(best.t - q * seconds)) best = x;
    return best?.rss ?? Number.NaN;
  };
  const quarters = [0.25, 0.5, 0.75].map(at);
  process.stderr.write(
    `${h.name}: RSS ${before.toFixed(1)} → ${quarters.map((q) => q.toFixed(1)).join(' → ')} → peak ${peak.toFixed(1)} → ${after.toFixed(1)} MiB; ${g.received}/${g.sent} answered\n`,
  );
  return { name: h.name, version: h.version, before, quarters, peak, after, ...g };
}

export async function rssMain(argv: string[]): Promise<number> {
  let clients = 1_000_000;
  let rate = 40_000;
  let servers = ['ntpkit-batched', 'ntpkit-default', 'chronyd'];
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a === '--rss') {
      if (next !== undefined && /^\d+$/.test(next)) clients = Number(argv[++i]);
    } else if (a === '--rate') rate = Number(argv[++i]);
    else if (a === '--servers') servers = (argv[++i] ?? '').split(',').filter((s) => s !== '');
    else if (a === '--no-write') write = false;
    else throw new Error(`unknown option ${a}`);
  }
  if (!(clients >= 1000 && clients <= 16_000_000) || !(rate > 0) || clients / rate > 60)
    throw new Error('--rss N needs 1000 ≤ N ≤ 16,000,000 and N / --rate ≤ 60 s');
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-bench-rss-'));
  const results: RssResult[] = [];
  try {
    const bin = await buildCGenerator(dir);
    if (bin === null) throw new Error('the RSS mode needs gcc (bench/loadgen.c)');
    for (const name of servers) {
      let h: ServerHandle | null;
      if (name === 'ntpkit-batched') h = await startNtpkit(dir, true, 'kernel', 1);
      else if (name === 'ntpkit-default') h = await startNtpkit(dir, true, 'kernel', null);
      else if (name === 'ntpkit') h = await startNtpkit(dir, true, 'kernel', 0);
      else if (name === 'chronyd') h = await startChronyd(dir, true);
      else throw new Error(`unknown server ${name}`);
      if (h === null) {
        process.stderr.write(`${name}: not available, skipped\n`);
        continue;
      }
      try {
        results.push(await measureRss(h, bin, rate, clients));
      } finally {
        await stopChild(h.child);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const fmt = (x: number) => `${x.toFixed(1)} MiB`;
  const lines = [
    '## Server memory',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:server -- --rss ${clients} --rate ${rate}\` (bench/server-rss.ts) on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}; load average at the end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}.`,
    '',
    `${clients.toLocaleString('en-US')} distinct client addresses (127.1.0.0 onwards, one request each, bench/loadgen.c CYCLE mode, generator on core 0) at ${rate.toLocaleString('en-US')} requests/s; RSS (VmRSS) after 1 s idle, when a quarter, half and three quarters of the clients had asked, its peak (sampled every 200 ms) and 1 s after the last request. ntpkit: the daemon with \`[serve] client-table-size\` 4096 (the default) per worker and for the main thread, rate limiting off; chronyd: \`-x\`, \`local stratum 1\`, default \`clientloglimit\` (524288 bytes), no \`ratelimit\`. Servers pinned to core ${lastCore()} except ntpkit-default (every core).`,
    '',
    '| server | RSS before | at 1/4 of the clients | at 1/2 | at 3/4 | peak RSS | RSS after | answered |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.name} (${r.version}) | ${fmt(r.before)} | ${r.quarters.map(fmt).join(' | ')} | ${fmt(r.peak)} | ${fmt(r.after)} | ${r.received.toLocaleString('en-US')} of ${r.sent.toLocaleString('en-US')} |`,
    ),
    '',
  ];
  // The bound docs/daemon.md states, checked against this run.
  const checks = results
    .map((r) => {
      const w =
        r.name === 'ntpkit-batched'
          ? 1
          : r.name === 'ntpkit-default'
            ? cpus().length
            : r.name === 'ntpkit'
              ? 0
              : -1;
      if (w < 0) return null;
      const bound = BOUND_BASE_MIB + BOUND_PER_WORKER_MIB * w;
      return `${r.name} peak ${fmt(r.peak)} ${r.peak <= bound ? '≤' : '> (exceeded)'} ${bound} MiB`;
    })
    .filter((x) => x !== null);
  lines.push(
    `The bound (docs/daemon.md): ntpkit's RSS stays at most ${BOUND_BASE_MIB} MiB + ${BOUND_PER_WORKER_MIB} MiB per worker whatever the number of clients. This run: ${checks.join('; ')}.`,
    '',
  );
  const section = lines.join('\n');
  process.stdout.write(`${section}\n`);
  if (write) {
    const file = join(dirname2(), 'docs', 'BENCHMARKS.md');
    const old = existsSync(file) ? await readFile(file, 'utf8') : '';
    await writeFile(file, replaceDocSection(old, '## Server memory', section));
    process.stderr.write(`written to ${file}\n`);
  }
  return 0;
}

/** The repository root (this file is dist/bench/server-rss.js). */
function dirname2(): string {
  return new URL('../..', import.meta.url).pathname;
}
