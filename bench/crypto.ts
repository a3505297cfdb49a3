/**
 * `npm run bench:crypto` (`node dist/bench/crypto.js`): the CPU cost of each cryptographic operation
 * an NTP packet goes through, measured in-process (no sockets): a symmetric-key MAC signed and
 * verified for every key type, the NTS server's request check and response build, the NTS client's
 * request build and response check, and a cookie seal and open.
 *
 * Method: each operation runs in rounds of about `--ms` milliseconds (default 150) after a warm-up
 * round; the figure is the median over `--rounds` rounds (default 7) of the mean time per operation,
 * with the fastest and slowest round beside it. The machine is shared: compare rows of one run.
 *
 * Before/after: `--baseline DIR` names a built checkout of another commit (its dist/bench/crypto.js);
 * the run then alternates, `--pairs` times (default 3), a run of the baseline in a child process and
 * one of this build, and reports the medians over the pairs with the range of the speed-up.
 *
 * Options: --rounds N, --ms M, --baseline DIR, --pairs N, --json FILE (write this build's results as
 * JSON), --no-write (print only). Labels: NTPKIT_BENCH_LABEL (this build), --baseline-label TEXT.
 * Writes the `## Crypto cost per operation` section of docs/BENCHMARKS.md, leaving others intact.
 */
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAuth, KeyRing, sign } from '../src/assoc/util.js';
import { nodeCrypto } from '../src/io/crypto.js';
import { nodeRandomBytes } from '../src/io/nts-ke.js';
import { CookieJar, type NtsKeys } from '../src/nts/cookie.js';
import {
  buildNtsResponse,
  NtsClientSession,
  type NtsServerContext,
  verifyNtsRequest,
} from '../src/nts/ntp.js';
import type { SymmetricKey } from '../src/system/types.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../src/wire/packet.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const SECTION = '## Crypto cost per operation';
const EXPLAIN = `What each row does, in-process (no sockets), as the engine does it: a MAC row signs a 48-byte
client request (\`sign\` + encode) or verifies a decoded signed one (\`checkAuth\`) through the
engine's KeyRing; "NTS server: verify" opens the cookie with a master key and checks the
authenticator with the client's key from it; "build a response" seals one new cookie and the reply's
authenticator; the client rows build a request from a session (one cookie, no placeholders) and
verify the server's reply. Random bytes come from node:crypto in both builds. Server throughput with
these costs inside: the "Server throughput" section (bench:server).`;

interface Options {
  rounds: number;
  ms: number;
  json: string | null;
  baseline: string | null;
  baselineLabel: string;
  pairs: number;
  write: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rounds: 7,
    ms: 150,
    json: null,
    baseline: null,
    baselineLabel: 'baseline',
    pairs: 3,
    write: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--rounds') o.rounds = Math.min(50, Math.round(num()));
    else if (a === '--ms') o.ms = Math.min(5000, num());
    else if (a === '--json') o.json = argv[++i] ?? null;
    else if (a === '--baseline') o.baseline = argv[++i] ?? null;
    else if (a === '--baseline-label') o.baselineLabel = argv[++i] ?? o.baselineLabel;
    else if (a === '--pairs') o.pairs = Math.min(10, Math.round(num()));
    else if (a === '--no-write') o.write = false;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** One measured operation: `run` does it once; `check` proves (once, before timing) that it works. */
interface Op {
  name: string;
  run: () => unknown;
  check: () => boolean;
}

export interface OpResult {
  name: string;
  /** Median over rounds of the mean ns per operation. */
  ns: number;
  minNs: number;
  maxNs: number;
}

export interface RunResult {
  label: string;
  date: string;
  node: string;
  cpu: string;
  load: string;
  results: OpResult[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

let sink = 0;

function measure(op: Op, o: Options): OpResult {
  // Calibrate: how many iterations take about `ms`.
  let n = 16;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (op.run() !== undefined) sink++;
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (dt >= o.ms / 4 || n > 1 << 24) {
      n = Math.max(1, Math.round((n * o.ms) / Math.max(dt, 1e-3)));
      break;
    }
    n *= 4;
  }
  const per: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (op.run() !== undefined) sink++;
    per.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return { name: op.name, ns: median(per), minNs: Math.min(...per), maxNs: Math.max(...per) };
}

function clientPacket(): NtpPacket {
  const p = emptyPacket();
  p.mode = MODE.CLIENT;
  p.poll = 6;
  p.transmitTimestamp = 0xeeac32c6_e22d26a5n;
  return p;
}

function decoded(bytes: Uint8Array): NtpPacket {
  const d = decodePacket(bytes);
  if (!d.ok) throw new Error(d.error.message);
  return d.packet;
}

/** The operations, built with this version's API. */
function operations(): Op[] {
  const random = nodeRandomBytes;
  const ops: Op[] = [];
  const keyTypes: Array<[SymmetricKey['type'], number]> = [
    ['MD5', 16],
    ['SHA1', 20],
    ['SHA256', 32],
    ['AES128CMAC', 16],
    ['AES256CMAC', 32],
  ];
  for (const [type, len] of keyTypes) {
    const key: SymmetricKey = { id: 5, type, key: random(len) };
    const keys = new KeyRing([key], nodeCrypto);
    const p = clientPacket();
    const s = sign(p, keys, 5);
    if (s === null) continue; // this build cannot sign with the type: recorded as missing
    const signed = decoded(encodePacket(s));
    ops.push({
      name: `MAC ${type}: sign a 48-byte request`,
      run: () => encodePacket(sign(p, keys, 5) ?? p),
      check: () => encodePacket(sign(p, keys, 5) ?? p).length > 48,
    });
    ops.push({
      name: `MAC ${type}: verify a signed request`,
      run: () => checkAuth(signed, keys, 5),
      check: () => checkAuth(signed, keys, 5) === 'ok',
    });
  }

  const jar = new CookieJar(nodeCrypto, random);
  const keys: NtsKeys = { aead: 15, c2s: random(32), s2c: random(32) };
  const cookie = jar.seal(keys);
  ops.push({
    name: 'NTS cookie: seal',
    run: () => jar.seal(keys),
    check: () => jar.seal(keys).length === 104,
  });
  ops.push({ name: 'NTS cookie: open', run: () => jar.open(cookie), check: () => jar.open(cookie).ok });

  const session = new NtsClientSession(nodeCrypto, keys, [cookie], 1);
  const req = session.request(clientPacket(), random);
  if (req === null) throw new Error('no cookie');
  const reqBytes = req.bytes;
  const checked = verifyNtsRequest(reqBytes, jar);
  if (!checked.ok) throw new Error(checked.message);
  const ctx: NtsServerContext = checked.context;
  const header = emptyPacket();
  header.mode = MODE.SERVER;
  header.stratum = 2;
  header.originTimestamp = ctx.packet.transmitTimestamp;
  header.receiveTimestamp = 0xeeac32c7_00000000n;
  header.transmitTimestamp = 0xeeac32c7_00001000n;
  const respBytes = buildNtsResponse(header, ctx, jar, random);
  ops.push({
    name: 'NTS server: verify a request (cookie open + authenticator)',
    run: () => verifyNtsRequest(reqBytes, jar),
    check: () => verifyNtsRequest(reqBytes, jar).ok,
  });
  ops.push({
    name: 'NTS server: build a response (1 new cookie)',
    run: () => buildNtsResponse(header, ctx, jar, random),
    check: () => buildNtsResponse(header, ctx, jar, random).length === respBytes.length,
  });
  const client = new NtsClientSession(nodeCrypto, keys, [], 1);
  ops.push({
    name: 'NTS client: build a request',
    run: () => {
      client.cookies.push(cookie);
      return client.request(clientPacket(), random);
    },
    check: () => {
      client.cookies.push(cookie);
      return client.request(clientPacket(), random) !== null;
    },
  });
  ops.push({
    name: 'NTS client: verify a response',
    run: () => {
      const r = client.response(respBytes, req);
      client.cookies.length = 0;
      return r;
    },
    check: () => {
      const r = client.response(respBytes, req);
      client.cookies.length = 0;
      return r.ok;
    },
  });
  return ops;
}

function fmtNs(ns: number): string {
  if (ns >= 1000) return `${(ns / 1000).toFixed(ns >= 10_000 ? 1 : 2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

function single(run: RunResult): string {
  const lines = [
    '| operation | time per operation | range over rounds | per second |',
    '|---|---:|---:|---:|',
  ];
  for (const r of run.results)
    lines.push(
      `| ${r.name} | ${fmtNs(r.ns)} | ${fmtNs(r.minNs)}–${fmtNs(r.maxNs)} | ${Math.round(1e9 / r.ns).toLocaleString('en-US')} |`,
    );
  return lines.join('\n');
}

/** Before/after over several pairs of runs: medians, and the speed-up's median and range. */
function paired(before: RunResult[], after: RunResult[], bl: string, al: string): string {
  const lines = [
    `| operation | ${bl} | ${al} | speed-up, median (range over ${after.length} pairs) | per second (${al}) |`,
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of after[0]?.results ?? []) {
    const a = after.map((x) => x.results.find((y) => y.name === r.name)?.ns ?? Number.NaN);
    const b = before.map((x) => x.results.find((y) => y.name === r.name)?.ns);
    const am = median(a);
    if (b.some((x) => x === undefined)) {
      lines.push(
        `| ${r.name} | not possible | ${fmtNs(am)} | – | ${Math.round(1e9 / am).toLocaleString('en-US')} |`,
      );
      continue;
    }
    const bs = b as number[];
    const ratios = bs.map((x, i) => x / (a[i] ?? Number.NaN));
    const f = (x: number) => `${x.toFixed(2)}×`;
    lines.push(
      `| ${r.name} | ${fmtNs(median(bs))} | ${fmtNs(am)} | ${f(median(ratios))} (${f(Math.min(...ratios))}–${f(Math.max(...ratios))}) | ${Math.round(1e9 / am).toLocaleString('en-US')} |`,
    );
  }
  return lines.join('\n');
}

function measureAll(ops: Op[], o: Options, label: string): RunResult {
  const results: OpResult[] = [];
  for (const op of ops) {
    const r = measure(op, o);
    results.push(r);
    process.stderr.write(`${label}: ${r.name}: ${fmtNs(r.ns)} (${fmtNs(r.minNs)}–${fmtNs(r.maxNs)})\n`);
  }
  const cpu = cpus();
  return {
    label,
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    node: process.version,
    cpu: `${cpu.length} × ${(cpu[0]?.model ?? 'unknown CPU').trim()}`,
    load: loadavg()
      .map((x) => x.toFixed(1))
      .join(' '),
    results,
  };
}

/** One run of the baseline build's own bench:crypto in a child process. */
async function runBaseline(o: Options, dir: string): Promise<RunResult> {
  const out = join(tmpdir(), `ntpkit-bench-crypto-${process.pid}.json`);
  const script = join(dir, 'dist/bench/crypto.js');
  const args = [script, '--no-write', '--json', out, '--rounds', String(o.rounds), '--ms', String(o.ms)];
  const r = spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, NTPKIT_BENCH_LABEL: o.baselineLabel },
  });
  if (r.status !== 0) throw new Error(`baseline run failed: ${r.stderr}`);
  const res = JSON.parse(await readFile(out, 'utf8')) as RunResult;
  await rm(out, { force: true });
  return res;
}

export function replaceSection(doc: string, section: string): string {
  const start = doc.search(new RegExp(`^${SECTION}\\s*$`, 'm'));
  if (start < 0) {
    const base = doc.trimEnd();
    return `${base === '' ? '# Benchmarks' : base}\n\n${section}`;
  }
  const rest = doc.slice(start + 1);
  const next = rest.search(/^## /m);
  const end = next < 0 ? doc.length : start + 1 + next;
  const tail = doc.slice(end);
  return `${doc.slice(0, start)}${section}${tail.length > 0 ? `\n${tail}` : ''}`;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const label = process.env.NTPKIT_BENCH_LABEL ?? 'this build';
  const ops = operations();
  for (const op of ops) if (!op.check()) throw new Error(`${op.name}: the operation does not work`);
  let text: string;
  let head: string;
  let mine: RunResult;
  if (o.baseline === null) {
    mine = measureAll(ops, o, label);
    text = single(mine);
    head = `Measured ${mine.date} UTC by \`npm run bench:crypto\` on ${mine.cpu}, Node ${mine.node}; load average ${mine.load}.`;
  } else {
    const before: RunResult[] = [];
    const after: RunResult[] = [];
    for (let i = 0; i < o.pairs; i++) {
      // Alternate the order, so that neither build always runs on a warmer (or busier) machine.
      if (i % 2 === 0) before.push(await runBaseline(o, o.baseline));
      after.push(measureAll(ops, o, label));
      if (i % 2 === 1) before.push(await runBaseline(o, o.baseline));
    }
    mine = after[after.length - 1] as RunResult;
    text = paired(before, after, o.baselineLabel, label);
    const loads = [...before, ...after].map((r) => r.load.split(' ')[0]).join(', ');
    head = `Measured ${after[0]?.date}–${mine.date} UTC by \`npm run bench:crypto -- --baseline DIR --pairs ${o.pairs}\` on ${mine.cpu}, Node ${mine.node}: ${o.pairs} pairs of runs, alternating "${o.baselineLabel}" and "${label}", each the median of ${o.rounds} rounds of ~${o.ms} ms per operation; 1-minute load averages during the runs: ${loads}.`;
  }
  if (o.json !== null) await writeFile(o.json, `${JSON.stringify(mine, null, 2)}\n`);
  process.stdout.write(`${text}\n`);
  if (o.write) {
    const file = resolve(ROOT, 'docs/BENCHMARKS.md');
    const old = await readFile(file, 'utf8').catch(() => '');
    await writeFile(file, replaceSection(old, `${SECTION}\n\n${head}\n\n${text}\n\n${EXPLAIN}\n`));
    process.stderr.write(`written to ${file}\n`);
  }
  return sink < 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (c) => {
      process.exitCode = c;
    },
    (e: unknown) => {
      process.stderr.write(`bench:crypto: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
