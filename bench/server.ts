/**
 * `npm run bench:server`: the highest request rate each server answers with under 1% loss on
 * loopback, ntpkit (the real daemon, `ntpkit daemon`) next to chronyd in the same run.
 *
 * Method (following /work/shared/TESTRIG.md):
 * - load generator: bench/loadgen.c (sendmmsg/recvmmsg, 64 source addresses 127.0.1.1-64), compiled
 *   with gcc into a temp dir; without gcc, the Node generator (bench/udp-loadgen.ts) is used and the
 *   report says so;
 * - server and generator pinned to different cores with taskset (server on the last core);
 * - a search over offered rates: doubling/halving to bracket the < 1% loss limit, then geometric
 *   bisection to within 10%; each rate is tried up to 3 times and the best trial counts ("best of
 *   3": hypervisor CPU steal comes in bursts); bounded by a time budget per server;
 * - CPU per reply from the server's /proc/PID/stat utime+stime over the trial;
 * - every process is bounded in time; only loopback traffic; chronyd runs with CAP_SYS_TIME removed
 *   from its bounding set and -x (never touches the clock).
 *
 * - response time: a trial at 10k requests/s per server (best of the trials by p99); the generator
 *   times each request to its reply (bench/loadgen.c, 10 µs bins).
 *
 * Options: --seconds S (trial length, default 2), --trials N (default 3), --budget S (total time
 * limit per server, default 120), --servers ntpkit,ntpkit-user,ntpkit-batched,ntpkit-batched2,
 * chronyd,node-baseline (ntpkit-user: the daemon with `timestamping = "user"`, to show what kernel
 * timestamps cost; ntpkit-batched: `[serve] workers = 1`, the recvmmsg/sendmmsg worker, pinned to
 * the server core like the others; ntpkit-batched2: `workers = 2` on both cores, the generator
 * sharing core 0 with one of them; ntpkit-default: the `workers` key left out, i.e. one worker per
 * core, on every core; node-baseline: a minimal node:dgram responder, the platform's own
 * limit), --no-write (print only), --node-gen.
 * Writes the `## Server throughput` section of docs/BENCHMARKS.md, leaving other sections intact
 * (and its `### NTS` part, which `--nts` writes: bench/server-nts.ts, NTS-protected requests to
 * ntpkit with 1 worker and on node:dgram, and to chronyd's NTS server).
 * `--rss [N]` is another mode: the servers' RSS while N distinct client addresses ask (bench/server-rss.ts);
 * `--idle [SECONDS]` another: an idle server's CPU and wake-ups (bench/server-idle.ts).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { replaceDocSection } from './doc-section.js';
import type { LoadgenOptions, LoadgenResult } from './udp-loadgen.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
export const NTPKIT_PORT = 11521;
export const CHRONY_PORT = 11522;
const BASELINE_PORT = 11523;
const NSRC = 64;
const SRC_PREFIX = '127.0.1';

export interface Options {
  seconds: number;
  trials: number;
  budget: number;
  servers: string[];
  write: boolean;
  nodeGen: boolean;
  /** NTS mode (bench/server-nts.ts). */
  nts: boolean;
  /** --servers was given. */
  serversGiven: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    seconds: 2,
    trials: 3,
    budget: 120,
    servers: ['ntpkit', 'ntpkit-batched', 'ntpkit-batched2', 'chronyd', 'node-baseline'],
    write: true,
    nodeGen: false,
    nts: false,
    serversGiven: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--seconds') o.seconds = Math.min(10, num());
    else if (a === '--trials') o.trials = Math.min(5, Math.round(num()));
    else if (a === '--budget') o.budget = Math.min(600, num());
    else if (a === '--servers') {
      o.servers = (argv[++i] ?? '').split(',').filter((s) => s !== '');
      o.serversGiven = true;
    } else if (a === '--nts') o.nts = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--node-gen') o.nodeGen = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

export interface Trial {
  rate: number;
  sent: number;
  received: number;
  sendSeconds: number;
  loss: number;
  answeredPerSecond: number;
  cpuPerReplyUs: number | null;
  /** Response-time percentiles (µs) from the C generator; null from the Node one. */
  p50Us?: number | null;
  p99Us?: number | null;
  /** Replies with stratum 0 (KoDs, NTS NAKs), from the C generator. */
  kod?: number;
}

export type Generator = (
  rate: number,
  seconds: number,
  port: number,
) => Promise<Omit<Trial, 'cpuPerReplyUs'>>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function lastCore(): number {
  return Math.max(0, cpus().length - 1);
}

/** utime + stime of a process in seconds (Linux /proc). */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

export async function buildCGenerator(dir: string): Promise<string | null> {
  const src = join(ROOT, 'bench', 'loadgen.c');
  if (!existsSync(src) || !which('gcc')) return null;
  const out = join(dir, 'loadgen');
  execFileSync('gcc', ['-O2', '-o', out, src], { stdio: 'inherit' });
  return out;
}

/** The C generator; `reqFile`: ready requests to send instead of its own (bench/loadgen.c). */
export function cGenerator(bin: string, pin: boolean, reqFile?: string): Generator {
  return async (rate, seconds, port) => {
    const args = [
      '127.0.0.1',
      String(port),
      String(NSRC),
      SRC_PREFIX,
      String(Math.round(rate)),
      String(seconds),
    ];
    if (reqFile !== undefined) args.push(String(4 * 1024 * 1024), '0', reqFile);
    const cmd = pin ? 'taskset' : bin;
    const full = pin ? ['-c', '0', bin, ...args] : args;
    const out = execFileSync(cmd, full, { encoding: 'utf8', timeout: (seconds + 10) * 1000 });
    const r = JSON.parse(out) as {
      sent: number;
      received: number;
      sendSeconds: number;
      kod: number;
      p50Us?: number;
      p99Us?: number;
    };
    const pct = (v: number | undefined) => (v === undefined || v < 0 ? null : v);
    return {
      ...summarize(rate, r.sent, r.received, r.sendSeconds),
      p50Us: pct(r.p50Us),
      p99Us: pct(r.p99Us),
      kod: r.kod,
    };
  };
}

function nodeGenerator(): Generator {
  return (rate, seconds, port) =>
    new Promise((resolvePromise, reject) => {
      const o: LoadgenOptions = {
        host: '127.0.0.1',
        port,
        sources: Array.from({ length: NSRC }, (_, i) => `${SRC_PREFIX}.${i + 1}`),
        count: Math.round(rate * seconds),
        rate,
        maxSeconds: seconds + 1,
      };
      const w = new Worker(join(HERE, 'udp-loadgen.js'), { workerData: o });
      w.once('message', (m: { ok: boolean; result?: LoadgenResult; error?: string }) => {
        void w.terminate();
        if (!m.ok || m.result === undefined) return reject(new Error(m.error ?? 'generator failed'));
        const r = m.result;
        resolvePromise(summarize(rate, r.sent, r.normal + r.kod, r.sendSeconds));
      });
      w.once('error', reject);
    });
}

function summarize(rate: number, sent: number, received: number, sendSeconds: number) {
  return {
    rate,
    sent,
    received,
    sendSeconds,
    loss: sent > 0 ? 1 - received / sent : 1,
    answeredPerSecond: sendSeconds > 0 ? received / sendSeconds : 0,
  };
}

/** One NTP request to the server; resolves true on any reply within `ms`. */
async function probe(port: number, ms: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), ms);
      s.once('message', () => {
        clearTimeout(t);
        res(true);
      });
      s.on('error', () => undefined);
      const b = Buffer.alloc(48);
      b[0] = (4 << 3) | 3;
      b.writeUInt32BE(0x12345678, 44);
      s.send(b, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

export async function waitServing(port: number, child: ChildProcess, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    if (await probe(port, 200)) return;
    await sleep(100);
  }
  throw new Error(`server on port ${port} did not answer within ${seconds} s`);
}

export interface ServerHandle {
  name: string;
  version: string;
  child: ChildProcess;
  port: number;
  notes: string;
  stop(): Promise<void>;
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}

/** The ntpkit daemon; `workers` null: the key left out (the default, the number of cores). */
export async function startNtpkit(
  dir: string,
  pin: boolean,
  timestamping: 'kernel' | 'user',
  workers: number | null = 0,
): Promise<ServerHandle> {
  const conf = join(dir, `ntpkit-${timestamping}-${workers ?? 'default'}.toml`);
  await writeFile(
    conf,
    `# bench/server.ts: ntpkit serving its free-running clock as stratum 1, no rate limiting
[serve]
listen = ["127.0.0.1"]
port = ${NTPKIT_PORT}
timestamping = "${timestamping}"
${workers === null ? '' : `workers = ${workers}`}

[local]
stratum = 1

[observe]
control-socket = "${join(dir, 'ntpkit.sock')}"

[log]
level = "warn"
`,
  );
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const argv = [process.execPath, main, 'daemon', '--config', conf, '--no-drop-privileges'];
  // Two workers (or the default) get every core (the generator shares core 0); else the server core.
  const cores = workers === null || workers >= 2 ? `0-${lastCore()}` : String(lastCore());
  const child = pin
    ? spawn('taskset', ['-c', cores, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitServing(NTPKIT_PORT, child, 15);
  const name =
    workers === null
      ? 'ntpkit-default'
      : workers > 0
        ? `ntpkit-batched${workers > 1 ? workers : ''}`
        : timestamping === 'kernel'
          ? 'ntpkit'
          : 'ntpkit-user';
  const kind =
    workers === null
      ? `batched recvmmsg/sendmmsg, default workers (${cpus().length}, one per core), generator sharing core 0`
      : workers > 0
        ? `batched recvmmsg/sendmmsg, ${workers} worker${workers > 1 ? 's on both cores, generator sharing core 0' : ''}${workers === cpus().length ? ' (the default here: one per core)' : ''}`
        : `node:dgram (\`workers = 0\`), ${timestamping === 'kernel' ? 'kernel timestamps' : 'user-space timestamps'}`;
  return {
    name,
    version: `ntpkit 0.1.0 (node ${process.version}), ${kind}`,
    child,
    port: NTPKIT_PORT,
    notes: `ntpkit daemon, default SO_RCVBUF, timestamping = "${timestamping}", workers = ${workers ?? 'default'}`,
    stop: () => stopChild(child),
  };
}

/** The platform limit for comparison: a minimal node:dgram responder (fixed 48-byte mode 4 reply). */
async function startNodeBaseline(pin: boolean): Promise<ServerHandle> {
  const code = `
    const s = require('node:dgram').createSocket('udp4');
    const reply = Buffer.alloc(48); reply[0] = 0x24; reply[1] = 1;
    s.on('message', (m, r) => { if (m.length >= 48) { m.copy(reply, 24, 40, 48); s.send(reply, r.port, r.address); } });
    s.bind(${BASELINE_PORT}, '127.0.0.1');
    setTimeout(() => process.exit(0), 900000).unref();`;
  const argv = [process.execPath, '-e', code];
  const child = pin
    ? spawn('taskset', ['-c', String(lastCore()), ...argv], { stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitServing(BASELINE_PORT, child, 15);
  return {
    name: 'node-baseline',
    version: `plain node:dgram responder (node ${process.version}, not NTP: a fixed reply)`,
    child,
    port: BASELINE_PORT,
    notes: 'node -e: reply with a constant 48-byte packet',
    stop: () => stopChild(child),
  };
}

/** chronyd as a plain server; `extra`: more configuration lines (bench/server-nts.ts: its NTS server). */
export async function startChronyd(dir: string, pin: boolean, extra = ''): Promise<ServerHandle | null> {
  const bin = ['/usr/sbin/chronyd', '/usr/bin/chronyd'].find((p) => existsSync(p));
  if (bin === undefined || !which('setpriv')) return null;
  const cdir = join(dir, 'chrony');
  await import('node:fs/promises').then((f) => f.mkdir(cdir, { mode: 0o700 }));
  await chmod(cdir, 0o700);
  const conf = join(cdir, 'chronyd.conf');
  await writeFile(
    conf,
    `port ${CHRONY_PORT}
bindaddress 127.0.0.1
allow 127.0.0.0/8
local stratum 1
cmdport 0
bindcmdaddress ${join(cdir, 'chronyd.sock')}
pidfile ${join(cdir, 'chronyd.pid')}
${extra}`,
  );
  let version = 'chronyd';
  try {
    version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? version;
  } catch {
    /* keep the name */
  }
  const argv = ['setpriv', '--bounding-set', '-sys_time', '--'];
  if (pin) argv.push('taskset', '-c', String(lastCore()));
  argv.push(bin, '-x', '-d', '-u', 'root', '-f', conf);
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitServing(CHRONY_PORT, child, 15);
  return {
    name: 'chronyd',
    version: version.replace(/\s*\(.*$/, ''),
    child,
    port: CHRONY_PORT,
    notes: 'chronyd -x, local stratum 1, default SO_RCVBUF, no ratelimit',
    stop: () => stopChild(child),
  };
}

export interface ServerResult {
  name: string;
  version: string;
  notes: string;
  /** Highest offered rate answered with < 1% loss (best trial), or 0. */
  bestRate: number;
  bestTrial: Trial | null;
  peakAnswered: number;
  /** CPU per reply in the trial with the most answers per second (saturated server). */
  peakCpuPerReplyUs: number | null;
  /** The saturation trials: offered rate and the rate the generator actually achieved. */
  saturation: { offered: number; sentPerSecond: number } | null;
  ladder: { rate: number; bestLoss: number; answered: number; trials: number }[];
  /** The 10k/s trial with the lowest p99 (response times, loss). */
  at10k: Trial | null;
}

export async function measure(
  h: ServerHandle,
  gen: Generator,
  o: Options,
  startRate: number,
): Promise<ServerResult> {
  const res: ServerResult = {
    name: h.name,
    version: h.version,
    notes: h.notes,
    bestRate: 0,
    bestTrial: null,
    peakAnswered: 0,
    peakCpuPerReplyUs: null,
    saturation: null,
    ladder: [],
    at10k: null,
  };
  const t0 = Date.now();
  const overBudget = () => (Date.now() - t0) / 1000 > o.budget;
  /** Best of up to `o.trials` trials at `rate`; true when one had < 1% loss at the full offered rate. */
  const attempt = async (rate: number): Promise<boolean> => {
    let best: Trial | null = null;
    let tries = 0;
    for (let k = 0; k < o.trials; k++) {
      tries++;
      const pid = h.child.pid ?? 0;
      const c0 = cpuSeconds(pid);
      const t = await gen(rate, o.seconds, h.port);
      const c1 = cpuSeconds(pid);
      const trial: Trial = {
        ...t,
        cpuPerReplyUs: c0 !== null && c1 !== null && t.received > 0 ? ((c1 - c0) / t.received) * 1e6 : null,
      };
      if (trial.answeredPerSecond > res.peakAnswered) {
        res.peakAnswered = trial.answeredPerSecond;
        res.peakCpuPerReplyUs = trial.cpuPerReplyUs;
      }
      if (best === null || trial.loss < best.loss) best = trial;
      process.stderr.write(
        `${h.name} ${Math.round(rate)}/s try ${k + 1}: sent ${t.sent} answered ${t.received} ` +
          `loss ${(t.loss * 100).toFixed(2)}% cpu/reply ${trial.cpuPerReplyUs?.toFixed(1) ?? '?'} µs\n`,
      );
      if (trial.loss < 0.01) break;
      await sleep(300);
    }
    if (h.child.exitCode !== null) throw new Error(`${h.name} exited during the benchmark`);
    if (best === null) return false;
    res.ladder.push({ rate, bestLoss: best.loss, answered: best.answeredPerSecond, trials: tries });
    const ok = best.loss < 0.01 && best.sent >= rate * o.seconds * 0.98;
    if (ok && rate > res.bestRate) {
      res.bestRate = rate;
      res.bestTrial = best;
    }
    return ok;
  };
  // Response time at a moderate load first (10k/s), the same for every server.
  for (let k = 0; k < o.trials; k++) {
    const t = await gen(10_000, o.seconds, h.port);
    const trial: Trial = { ...t, cpuPerReplyUs: null };
    process.stderr.write(
      `${h.name} 10k/s latency try ${k + 1}: loss ${(t.loss * 100).toFixed(2)}% p50 ${t.p50Us ?? '?'} µs p99 ${t.p99Us ?? '?'} µs\n`,
    );
    if (res.at10k === null || (trial.p99Us ?? Infinity) < (res.at10k.p99Us ?? Infinity)) res.at10k = trial;
    await sleep(300);
  }
  // Bracket: double while passing, halve while failing; then bisect geometrically.
  let lo = 0;
  let hi = 0;
  let rate = startRate;
  if (await attempt(rate)) {
    lo = rate;
    while (!overBudget() && rate < 2_000_000) {
      rate *= 2;
      if (await attempt(rate)) lo = rate;
      else {
        hi = rate;
        break;
      }
    }
  } else {
    hi = rate;
    while (!overBudget() && rate > 500) {
      rate /= 2;
      if (await attempt(rate)) {
        lo = rate;
        break;
      }
      hi = rate;
    }
  }
  while (lo > 0 && hi > 0 && hi / lo > 1.1 && !overBudget()) {
    const mid = Math.round(Math.sqrt(lo * hi) / 100) * 100;
    if (await attempt(mid)) lo = mid;
    else hi = mid;
  }
  // Saturation: offer well above the limit to see the most the server answers (peak answered/s).
  const sat = Math.min(400_000, Math.max(200_000, 2 * (hi > 0 ? hi : lo)));
  for (let k = 0; k < o.trials && !overBudget(); k++) {
    const pid = h.child.pid ?? 0;
    const c0 = cpuSeconds(pid);
    const t = await gen(sat, o.seconds, h.port);
    const c1 = cpuSeconds(pid);
    const cpu = c0 !== null && c1 !== null && t.received > 0 ? ((c1 - c0) / t.received) * 1e6 : null;
    process.stderr.write(
      `${h.name} saturation ${sat}/s try ${k + 1}: sent ${t.sent} answered ${t.received} (${Math.round(t.answeredPerSecond)}/s)\n`,
    );
    if (t.answeredPerSecond > res.peakAnswered) {
      res.peakAnswered = t.answeredPerSecond;
      res.peakCpuPerReplyUs = cpu;
    }
    res.saturation = { offered: sat, sentPerSecond: t.sendSeconds > 0 ? t.sent / t.sendSeconds : 0 };
    await sleep(300);
  }
  if (overBudget()) process.stderr.write(`${h.name}: time budget reached\n`);
  res.ladder.sort((a, b) => a.rate - b.rate);
  return res;
}

function fmt10k(t: Trial | null): string {
  if (t === null) return '–';
  const p = (v: number | null | undefined) => (v === null || v === undefined ? '?' : `${Math.round(v)} µs`);
  return `${(t.loss * 100).toFixed(2)}%, ${p(t.p50Us)}, ${p(t.p99Us)}`;
}

export function fmtRate(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n));
}

function renderSection(results: ServerResult[], o: Options, genDesc: string, pinned: boolean): string {
  const rmem = (() => {
    try {
      return Number(readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim());
    } catch {
      return null;
    }
  })();
  const la = loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  const satNote = results
    .filter((r) => r.saturation !== null)
    .map((r) => `; ${r.name}: generator reached ${fmtRate(r.saturation?.sentPerSecond ?? 0)}/s`)
    .join('');
  const lines = [
    '## Server throughput',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:server\` ` +
      `(\`node dist/bench/server.js${o.seconds !== 2 || o.trials !== 3 ? ` --seconds ${o.seconds} --trials ${o.trials}` : ''}\`) ` +
      `on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Linux loopback.`,
    '',
    '| server | highest rate with < 1% loss | loss there | CPU per reply there | peak answered/s | CPU per reply at peak | at 10k/s: loss, p50, p99 |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const t = r.bestTrial;
    const us = (v: number | null | undefined) => (v !== null && v !== undefined ? `${v.toFixed(1)} µs` : '?');
    lines.push(
      `| ${r.version} | ${r.bestRate > 0 ? `${fmtRate(r.bestRate)}/s` : 'none ≥ 500/s'} | ` +
        `${t !== null ? `${(t.loss * 100).toFixed(2)}%` : '–'} | ${us(t?.cpuPerReplyUs)} | ` +
        `${fmtRate(r.peakAnswered)}/s | ${us(r.peakCpuPerReplyUs)} | ${fmt10k(r.at10k)} |`,
    );
  }
  const one = results.find((r) => r.name === 'ntpkit-batched');
  const two = results.find((r) => r.name === 'ntpkit-batched2');
  if (one !== undefined && two !== undefined && one.peakAnswered > 0)
    lines.push(
      '',
      `Two workers against one: peak ${fmtRate(two.peakAnswered)}/s against ${fmtRate(one.peakAnswered)}/s = ` +
        `${(two.peakAnswered / one.peakAnswered).toFixed(2)}× (the second worker's core is the generator's too).`,
    );
  lines.push(
    '',
    'Setup:',
    `- load generator: ${genDesc}, ${NSRC} source addresses ${SRC_PREFIX}.1–${NSRC}, 48-byte NTPv4 mode 3 requests;`,
    `- ${pinned ? `server pinned to core ${lastCore()}, generator to core 0 (taskset)` : 'no pinning (taskset missing or one core)'};`,
    `- each offered rate runs ${o.seconds} s, best of ${o.trials}; the rate is doubled/halved to bracket the < 1% loss limit, then bisected to within 10%;`,
    `- peak answered/s: the most answers per second seen, including ${o.trials} saturation trials offering twice the failing rate (200k–400k/s${satNote});`,
    `- buffers: servers use the default SO_RCVBUF (net.core.rmem_default = ${rmem ?? '?'} bytes; the kernel doubles it), ` +
      'the generator asks for 4 MiB per socket;',
    '- ntpkit: the real daemon (`ntpkit daemon`, free-running software clock, `[local] stratum = 1`, no rate limiting, ' +
      'access list allow-all, client table 4096); chronyd: `-x`, `local stratum 1`, `allow 127.0.0.0/8`, no `ratelimit`;',
    '- CPU per reply = (utime + stime of the server process during the trial) / replies, 10 ms tick resolution;',
    "- at 10k/s: response time from the generator's sendmmsg to the recvmmsg that read the reply (10 µs bins, the generator polls every 50 µs when idle);",
    '- RSS with 1,000,000 distinct client addresses: `--rss`, its own section (Server memory); NTS replies per second: `--nts`, below;',
    `- load average at the end of the run: ${la}. With other work on the machine, the < 1% loss figure is set by`,
    '  scheduling stalls (a server descheduled for tens of ms overflows its receive buffer) and varies several-fold',
    '  between runs; CPU per reply is the stable figure. Compare servers within one run.',
    '',
    'Rates tried (best trial per offered rate: loss / answered per second):',
    '',
  );
  for (const r of results) {
    lines.push(
      `- ${r.name}: ${r.ladder.map((s) => `${fmtRate(s.rate)} → ${(s.bestLoss * 100).toFixed(1)}% / ${fmtRate(s.answered)}`).join(', ')}`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** The `### NTS` part of the `## Server throughput` section in `doc` (what `--nts` wrote), or ''. */
export function keptNtsPart(doc: string): string {
  const start = doc.search(/^### NTS\b.*$/m);
  if (start < 0) return '';
  // It ends at the next heading (## or ###) after its own line.
  const body = doc.indexOf('\n', start) + 1;
  const next = body === 0 ? -1 : doc.slice(body).search(/^##/m);
  return `\n${doc.slice(start, body === 0 || next < 0 ? doc.length : body + next).trimEnd()}\n`;
}

/** Replaces (or appends) the `## Server throughput` section, keeping every other section. */
export function replaceSection(doc: string, section: string): string {
  return replaceDocSection(doc, '## Server throughput', section);
}

async function main(): Promise<number> {
  // RSS with many distinct clients: its own mode (bench/server-rss.ts).
  if (process.argv.includes('--rss')) return (await import('./server-rss.js')).rssMain(process.argv.slice(2));
  // An idle server's CPU and wake-ups: its own mode (bench/server-idle.ts).
  if (process.argv.includes('--idle'))
    return (await import('./server-idle.js')).idleMain(process.argv.slice(2));
  const o = parseArgs(process.argv.slice(2));
  if (o.nts) return (await import('./server-nts.js')).runNts(o);
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-bench-'));
  const pinned = which('taskset') && cpus().length >= 2;
  const handles: ServerHandle[] = [];
  const results: ServerResult[] = [];
  let genDesc: string;
  try {
    let gen: Generator;
    const cbin = o.nodeGen ? null : await buildCGenerator(dir);
    if (cbin !== null) {
      gen = cGenerator(cbin, pinned);
      genDesc = 'bench/loadgen.c (gcc -O2, sendmmsg/recvmmsg, one thread)';
    } else {
      gen = nodeGenerator();
      genDesc =
        'bench/udp-loadgen.ts (Node worker; gcc unavailable or --node-gen: the generator may be the bottleneck)';
    }
    for (const name of o.servers) {
      let h: ServerHandle | null;
      if (name === 'ntpkit') h = await startNtpkit(dir, pinned, 'kernel');
      else if (name === 'ntpkit-user') h = await startNtpkit(dir, pinned, 'user');
      else if (name === 'ntpkit-batched') h = await startNtpkit(dir, pinned, 'kernel', 1);
      else if (name === 'ntpkit-batched2') h = await startNtpkit(dir, pinned, 'kernel', 2);
      else if (name === 'ntpkit-default') h = await startNtpkit(dir, pinned, 'kernel', null);
      else if (name === 'chronyd') h = await startChronyd(dir, pinned);
      else if (name === 'node-baseline') h = await startNodeBaseline(pinned);
      else throw new Error(`unknown server ${name}`);
      if (h === null) {
        process.stderr.write(`${name}: not available, skipped\n`);
        continue;
      }
      handles.push(h);
      await sleep(500);
      results.push(await measure(h, gen, o, name === 'chronyd' ? 40_000 : 10_000));
      await h.stop();
    }
  } finally {
    await Promise.all(handles.map((h) => h.stop()));
  }
  const section = renderSection(results, o, genDesc, pinned);
  process.stdout.write(`${section}\n`);
  if (o.write) {
    const file = join(ROOT, 'docs', 'BENCHMARKS.md');
    const old = existsSync(file) ? await readFile(file, 'utf8') : '';
    await writeFile(file, replaceSection(old, section + keptNtsPart(old)));
    process.stderr.write(`written to ${file}\n`);
  }
  await rm(dir, { recursive: true, force: true });
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (c) => {
      process.exitCode = c;
    },
    (e: unknown) => {
      process.stderr.write(`bench:server: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
