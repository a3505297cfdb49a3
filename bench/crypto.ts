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
 * Options: --rounds N, --ms M, --json FILE (write the results as JSON), --before FILE (a JSON file
 * of an earlier run, e.g. at a previous commit, shown beside this one), --no-write (print only).
 * Writes the `## Crypto cost per operation` section of docs/BENCHMARKS.md, leaving others intact.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
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

interface Options {
  rounds: number;
  ms: number;
  json: string | null;
  before: string | null;
  write: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 7, ms: 150, json: null, before: null, write: true };
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
    else if (a === '--before') o.before = argv[++i] ?? null;
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

function table(run: RunResult, before: RunResult | null): string {
  const lines: string[] = [];
  if (before === null) {
    lines.push('| operation | time per operation | range over rounds | per second |', '|---|---:|---:|---:|');
    for (const r of run.results)
      lines.push(
        `| ${r.name} | ${fmtNs(r.ns)} | ${fmtNs(r.minNs)}–${fmtNs(r.maxNs)} | ${Math.round(1e9 / r.ns).toLocaleString('en-US')} |`,
      );
    return lines.join('\n');
  }
  lines.push(
    `| operation | ${before.label} | ${run.label} | speed-up | per second (${run.label}) |`,
    '|---|---:|---:|---:|---:|',
  );
  for (const r of run.results) {
    const b = before.results.find((x) => x.name === r.name);
    lines.push(
      `| ${r.name} | ${b === undefined ? 'not possible' : fmtNs(b.ns)} | ${fmtNs(r.ns)} | ${b === undefined ? '–' : `${(b.ns / r.ns).toFixed(1)}×`} | ${Math.round(1e9 / r.ns).toLocaleString('en-US')} |`,
    );
  }
  return lines.join('\n');
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
  const results: OpResult[] = [];
  for (const op of ops) {
    const r = measure(op, o);
    results.push(r);
    process.stderr.write(`${r.name}: ${fmtNs(r.ns)} (${fmtNs(r.minNs)}–${fmtNs(r.maxNs)})\n`);
  }
  const cpu = cpus();
  const run: RunResult = {
    label,
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    node: process.version,
    cpu: `${cpu.length} × ${(cpu[0]?.model ?? 'unknown CPU').trim()}`,
    load: loadavg()
      .map((x) => x.toFixed(1))
      .join(' '),
    results,
  };
  if (o.json !== null) await writeFile(o.json, `${JSON.stringify(run, null, 2)}\n`);
  const before: RunResult | null =
    o.before === null ? null : (JSON.parse(await readFile(o.before, 'utf8')) as RunResult);
  const text = table(run, before);
  process.stdout.write(`${text}\n`);
  if (o.write) {
    const file = resolve(ROOT, 'docs/BENCHMARKS.md');
    const old = await readFile(file, 'utf8').catch(() => '');
    const head =
      before === null
        ? `Measured ${run.date} UTC by \`npm run bench:crypto\` on ${run.cpu}, Node ${run.node}; load average ${run.load}.`
        : `Measured by \`npm run bench:crypto\` on ${run.cpu}, Node ${run.node}: "${before.label}" ${before.date} UTC (load ${before.load}), "${run.label}" ${run.date} UTC (load ${run.load}).`;
    await writeFile(file, replaceSection(old, `${SECTION}\n\n${head}\n\n${text}\n`));
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
