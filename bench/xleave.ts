/**
 * `npm run bench:xleave` (`node dist/bench/xleave.js`): does interleaved mode make ntpkit's
 * measurements more accurate than basic mode over real loopback sockets? Two set-ups, each run in
 * basic and in interleaved (xleave) mode, polling every 0.25 s:
 *
 * - "ntpkit → chronyd": the ntpkit daemon (in this process) is a client of chronyd (`local
 *   stratum 1`, `-x`), which serves the host clock unchanged. Per new clock-filter sample, the
 *   measured offset of chronyd is compared with the truth, −(ntpkit clock − host clock).
 * - "chronyd → ntpkit": chronyd (`-x`, never adjusting anything) is a client of the ntpkit daemon
 *   (`[local] stratum = 1`, no sources: its software clock runs freely from the host clock). Per
 *   measurement in chronyd's measurements log, the offset chronyd measured for ntpkit is compared
 *   with the truth, ntpkit clock − host clock.
 *
 * Both daemons read the same host clock, so the truth is known to the precision of reading two
 * clocks in a row: the host clock is CLOCK_REALTIME read through clock_gettime (koffi), around a
 * reading of ntpkit's clock. Reported per run: the error's mean (bias), RMS, robust SD
 * (1.4826 × MAD) and 95th percentile of |error|, and the median measured delay.
 *
 * Options: --seconds S per run (default 30), --rounds N (default 2, each = all four runs),
 * --port P (default 11240), --user-rounds N (default 1: extra rounds with ntpkit's sockets on
 * `timestamping = "user"`, for comparison), --workers N (the ntpkit server of "chronyd → ntpkit"
 * on `[serve] workers = N`; default the daemon's own, the number of cores; 0 = the node:dgram
 * path; the workers' receive stamps are the kernel's whatever `timestamping` says),
 * --no-write. Writes the `## Interleaved vs basic (daemon, loopback)` section of docs/BENCHMARKS.md.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config/parse.js';
import { type Daemon, startDaemon } from '../src/daemon/daemon.js';
import { silentLogger } from '../src/daemon/log.js';
import { clockReader } from '../src/io/ffi.js';
import { durationToSeconds, unixNsToNtpTime } from '../src/time/ntp-time.js';
import { sleep, startChronyd } from '../test/support/peers.js';

type Mode = 'basic' | 'xleave';
type Setup = 'ntpkit → chronyd' | 'chronyd → ntpkit';

interface Stats {
  stamps: string;
  setup: Setup;
  mode: Mode;
  samples: number;
  interleavedShare: number;
  mean: number;
  rms: number;
  robustSd: number;
  p95: number;
  medianDelay: number;
}

const realtime = clockReader(0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : def;
}

/** The ntpkit server's transport in the last "chronyd → ntpkit" run (for the report). */
let serverTransport = '';

/** `[serve] workers = N` when --workers is given (else the daemon's default). */
function workersLine(): string {
  const w = arg('workers', -1);
  return w >= 0 ? `workers = ${w}` : '';
}

/** ntpkit's clock − host clock (s), the host clock read on both sides of ntpkit's reading. */
function clockError(d: Daemon): number {
  if (realtime === null) throw new Error('clock_gettime through koffi is needed');
  const a = realtime();
  const ours = d.now();
  const b = realtime();
  return durationToSeconds(ours - unixNsToNtpTime((a + b) / 2n));
}

function stats(
  stamps: string,
  setup: Setup,
  mode: Mode,
  errors: number[],
  delays: number[],
  share: number,
): Stats {
  const med = median(errors);
  const dev = errors.map((e) => Math.abs(e - med));
  const n = Math.max(1, errors.length);
  return {
    stamps,
    setup,
    mode,
    samples: errors.length,
    interleavedShare: share,
    mean: errors.reduce((a, b) => a + b, 0) / n,
    rms: Math.sqrt(errors.reduce((a, b) => a + b * b, 0) / n),
    robustSd: 1.4826 * median(dev),
    p95: quantile(
      errors.map((e) => Math.abs(e)),
      0.95,
    ),
    medianDelay: median(delays),
  };
}

async function daemonConfig(body: string): Promise<Daemon> {
  return startDaemon(
    parseConfig(`${body}
[clock]
stepout = 2
[observe]
control-socket = false
`),
    { logger: silentLogger },
  );
}

/** ntpkit as a client of chronyd. */
async function clientRun(mode: Mode, port: number, seconds: number, timestamping: string): Promise<Stats> {
  const d = await daemonConfig(
    `
[[server]]
address = "127.0.0.1"
port = ${port}
iburst = true
minpoll = -2
maxpoll = -2
xleave = ${mode === 'xleave'}
[serve]
enabled = false
listen = ["127.0.0.1"]
timestamping = "${timestamping}"
`,
  );
  const errors: number[] = [];
  const delays: number[] = [];
  let interleaved = 0;
  let polls = 0;
  try {
    const start = Date.now();
    while (!d.snapshot().system.synchronised && Date.now() - start < 30_000) await sleep(250);
    await sleep(5_000);
    const end = Date.now() + seconds * 1000;
    let last = '';
    // (seconds, clock error) history, to know the clock's error when a sample was taken.
    const history: { t: number; e: number }[] = [];
    const t0 = performance.now();
    while (Date.now() < end) {
      await sleep(20);
      const ce = clockError(d);
      const now = (performance.now() - t0) / 1000;
      history.push({ t: now, e: ce });
      const src = d.snapshot().system.sources[0];
      const f = src?.filter[0];
      if (src === undefined || f === undefined) continue;
      polls++;
      if (src.interleaved) interleaved++;
      const key = `${f.offset}/${f.delay}`;
      if (key === last) continue;
      last = key;
      const at = now - f.age;
      let best = history[0];
      for (const h of history) if (best === undefined || Math.abs(h.t - at) < Math.abs(best.t - at)) best = h;
      if (best === undefined || Math.abs(best.t - at) > 0.05) continue;
      // The sample is chronyd − ntpkit; the truth is host − ntpkit = −(clock error).
      errors.push(f.offset + best.e);
      delays.push(f.delay);
    }
  } finally {
    await d.stop();
  }
  return stats(timestamping, 'ntpkit → chronyd', mode, errors, delays, polls === 0 ? 0 : interleaved / polls);
}

/** chronyd as a client of ntpkit; chronyd's measurements log gives its samples. */
async function serverRun(mode: Mode, port: number, seconds: number, timestamping: string): Promise<Stats> {
  const d = await daemonConfig(
    `
[local]
stratum = 1
[serve]
listen = ["127.0.0.1"]
port = ${port}
timestamping = "${timestamping}"
${workersLine()}
[rate-limit]
enabled = false
`,
  );
  const logdir = await mkdtemp(join(tmpdir(), 'ntpkit-xleave-'));
  const chrony = await startChronyd({
    port: 0,
    conf: [
      `server 127.0.0.1 port ${port} minpoll -2 maxpoll -2 iburst noselect${mode === 'xleave' ? ' xleave' : ''}`,
      `logdir ${logdir}`,
      'log rawmeasurements',
    ],
  });
  const ces: number[] = [];
  try {
    const end = Date.now() + (seconds + 8) * 1000;
    while (Date.now() < end) {
      await sleep(200);
      ces.push(clockError(d));
    }
    const snap = d.snapshot();
    const tr = snap.transport;
    const sl = snap.timestamping?.sendLatency;
    serverTransport =
      tr?.kind === 'batched'
        ? `batched, ${tr.workers} worker${tr.workers === 1 ? '' : 's'}`
        : `node:dgram (${tr?.reason})`;
    if (sl !== undefined && timestamping === 'kernel')
      serverTransport += `; send latency of basic replies ${sl.samples} samples, compensation ${(sl.compensation * 1e6).toFixed(1)} µs`;
  } finally {
    await chrony.stop();
    await d.stop();
  }
  let text = '';
  try {
    text = await readFile(join(logdir, 'measurements.log'), 'utf8');
  } finally {
    await rm(logdir, { recursive: true, force: true });
  }
  // ntpkit's clock runs freely from the host clock: its error is the same all along (to well under
  // a microsecond over a run); the median of the readings is the truth.
  const truth = median(ces);
  const errors: number[] = [];
  const delays: number[] = [];
  let interleaved = 0;
  const rows = text.split('\n').filter((l) => /^\d{4}-\d\d-\d\d /.test(l));
  // Skip the first 8 s (iburst, start-up) like the client runs skip their start.
  const skip = Math.min(rows.length, 32);
  for (const line of rows.slice(skip)) {
    const c = line.trim().split(/\s+/);
    // date time ip leap stratum t1-3 t5-7 t-max lpoll rpoll score offset delay disp rdelay rdisp refid mode txs rxs
    const offset = Number(c[11]);
    const delay = Number(c[12]);
    const m = c[17] ?? '';
    if (!Number.isFinite(offset) || !Number.isFinite(delay) || c[5] !== '111' || c[6] !== '111') continue;
    if (m.endsWith('I')) interleaved++;
    errors.push(offset - truth);
    delays.push(delay);
  }
  return stats(
    timestamping,
    'chronyd → ntpkit',
    mode,
    errors,
    delays,
    errors.length === 0 ? 0 : interleaved / errors.length,
  );
}

const us = (s: number) => `${(s * 1e6).toFixed(1)} µs`;

function summary(results: Stats[], stamps: string): string[] {
  const out: string[] = [];
  for (const setup of ['ntpkit → chronyd', 'chronyd → ntpkit'] as const) {
    const avg = (mode: Mode, f: (s: Stats) => number) => {
      const xs = results.filter((r) => r.stamps === stamps && r.setup === setup && r.mode === mode).map(f);
      return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    };
    const part = (mode: Mode) =>
      `mean ${us(avg(mode, (s) => s.mean))}, RMS ${us(avg(mode, (s) => s.rms))}, robust SD ${us(avg(mode, (s) => s.robustSd))}, median delay ${us(avg(mode, (s) => s.medianDelay))}`;
    out.push(`- ${stamps} stamps, ${setup}: basic ${part('basic')}; xleave ${part('xleave')}.`);
  }
  return out;
}

/** The conclusion, from the kernel-stamp rounds: how much more accurate (RMS) interleaving is. */
function reading(results: Stats[]): string {
  const rms = (setup: Setup, mode: Mode) => {
    const xs = results.filter((r) => r.stamps === 'kernel' && r.setup === setup && r.mode === mode);
    return xs.reduce((a, b) => a + b.rms, 0) / Math.max(1, xs.length);
  };
  const parts = (['ntpkit → chronyd', 'chronyd → ntpkit'] as const).map((setup) => {
    const b = rms(setup, 'basic');
    const x = rms(setup, 'xleave');
    return `${setup} ${us(b)} → ${us(x)} (${(b / x).toFixed(1)}× ${x < b ? 'better' : 'worse'})`;
  });
  return `Reading (kernel stamps, RMS error basic → interleaved): ${parts.join('; ')}.`;
}

async function main(): Promise<void> {
  if (realtime === null) throw new Error('this benchmark needs koffi and Linux (clock_gettime)');
  const seconds = arg('seconds', 30);
  const rounds = arg('rounds', 2);
  const port = arg('port', 11240);
  const userRounds = arg('user-rounds', 1);
  const plan = [
    ...Array.from({ length: rounds }, () => 'kernel'),
    ...Array.from({ length: userRounds }, () => 'user'),
  ];
  const results: Stats[] = [];
  const chrony = await startChronyd({ port, localStratum: 1 });
  try {
    for (const timestamping of plan) {
      for (const mode of ['basic', 'xleave'] as const) {
        results.push(await clientRun(mode, port, seconds, timestamping));
        results.push(await serverRun(mode, port + 1, seconds, timestamping));
        for (const s of results.slice(-2))
          process.stderr.write(
            `${timestamping} ${s.setup} ${mode}: ${s.samples} samples, interleaved ${(s.interleavedShare * 100).toFixed(0)}%, mean ${us(s.mean)}, RMS ${us(s.rms)}, robust SD ${us(s.robustSd)}, p95 ${us(s.p95)}, delay ${us(s.medianDelay)}\n`,
          );
      }
    }
  } finally {
    await chrony.stop();
  }
  const rows = results.map(
    (s, i) =>
      `| ${Math.floor(i / 4) + 1} | ${s.stamps} | ${s.setup} | ${s.mode} | ${s.samples} | ${(s.interleavedShare * 100).toFixed(0)}% | ${us(s.mean)} | ${us(s.rms)} | ${us(s.robustSd)} | ${us(s.p95)} | ${us(s.medianDelay)} |`,
  );
  const section = [
    '## Interleaved vs basic (daemon, loopback)',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:xleave\` (bench/xleave.ts, \`--seconds ${seconds} --rounds ${rounds} --user-rounds ${userRounds}${arg('workers', -1) >= 0 ? ` --workers ${arg('workers', -1)}` : ''}\`) on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}; load average at the end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; the ntpkit server: ${serverTransport}.`,
    '',
    'Loopback, polling every 0.25 s; rounds with the ntpkit daemon\'s sockets on `[serve] timestamping = "kernel"` (the default) and, for comparison, on `"user"`. "ntpkit → chronyd": ntpkit is a client of chronyd 4.3 (`local stratum 1`, `-x`); error = offset of chronyd measured by ntpkit (each new clock-filter sample) − the true offset. "chronyd → ntpkit": chronyd 4.3 (`-x`) is a client of ntpkit (`[local] stratum = 1`); error = offset of ntpkit measured by chronyd (its measurements log, after 8 s) − the true offset. Both serve or read the host clock, so the truth is known: ntpkit clock − CLOCK_REALTIME, read back to back through clock_gettime. An error of 0 is perfect; the mean is the bias, the RMS includes it.',
    '',
    '| round | ntpkit stamps | set-up | mode | samples | interleaved | mean error | RMS error | robust SD | p95 \\|error\\| | median delay |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    'Averages over the rounds:',
    ...summary(results, 'kernel'),
    ...(userRounds > 0 ? summary(results, 'user') : []),
    '',
    reading(results),
    '',
    'What the modes differ in: in basic mode the server transmit timestamp is read in user space before the reply is sent (chronyd: just before sendmsg; ntpkit: just before `socket.send()`, whose path through Node takes 35–100 µs at this request rate), so it is early by that time, which the client counts as network delay and half of which shows as offset error. With kernel stamps ntpkit measures that path on its replies and advances the timestamp by the lower quartile of the recent latencies (src/serve/send-latency.ts; before it did, this table showed chronyd → ntpkit basic at a mean of −29.6 µs, RMS 31.2 µs, median delay 60 µs); what is left is the spread of the path above that quartile. The batched workers (the default on Linux) read the clock right before sendmmsg and advance it the same way, by the quartile of their own measured latencies (sampled replies asking for their kernel transmit stamp; before they did, chronyd → ntpkit basic with two workers had a mean of −8.6 and −9.3 µs and a median delay of 14.3 and 15.6 µs in two rounds, 2026-12-02 19:55 UTC). In interleaved mode the server sends the kernel transmit timestamp of its previous reply instead. The client side is the same in both modes: chronyd and ntpkit use kernel receive and transmit timestamps (ntpkit: SIOCGSTAMPNS and the SO_TIMESTAMPING error queue, src/io/kernel-timestamps.ts). With user-space stamps (the `user` rows) ntpkit\'s receive stamps are late by the event loop\'s latency and its precise transmit stamps are read in the send callback, both tens to hundreds of µs off, which swamps what interleaving gains. With the batched workers serving, the `user` rows of "chronyd → ntpkit" still have the workers\' kernel stamps (`timestamping` is for the node:dgram path), so only "ntpkit → chronyd" (a client-only daemon, on node:dgram) shows user-space stamps there.',
    '',
  ].join('\n');
  process.stdout.write(`${section}\n`);
  if (process.argv.includes('--no-write')) return;
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'BENCHMARKS.md');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const head = '## Interleaved vs basic (daemon, loopback)';
  const i = text.indexOf(head);
  if (i < 0) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', i + head.length);
    text = `${text.slice(0, i)}${section}${next < 0 ? '' : `\n${text.slice(next + 1)}`}`;
  }
  await writeFile(file, text);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
