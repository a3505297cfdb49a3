/**
 * `npm run bench:crypto` (`node dist/bench/crypto.js`): the CPU cost of each cryptographic operation
 * an NTP packet goes through, measured in-process (no sockets): a symmetric-key MAC signed and
 * verified for every key type, the NTS server's request check and response build, the NTS client's
 * request build and response check, a cookie seal and open, and drawing random bytes.
 *
 * Before/after: `--baseline DIR` names a built checkout (`npm ci && npx tsc -p .`) of a commit from
 * before the crypto provider (the pure-TypeScript MD5/SHA/AES/CMAC/SIV, e.g. 3c16e93). Its modules are
 * loaded into this same process and every operation runs in both builds in alternating rounds, so
 * that the two see the same machine load at nearly the same moment; the speed-up is the median over
 * rounds of the per-round ratio. Both builds get the same random-byte source except in the row that
 * measures it.
 *
 * Method: after a calibration to about `--ms` milliseconds per batch (default 100) and a warm-up
 * batch, `--rounds` rounds (default 15); a figure is the median over rounds of the mean time per
 * operation in a batch. The machine is shared: compare rows of one run.
 *
 * `--fallback` instead compares this build's two AES paths in one process: node:crypto's `Cipher`
 * objects (the fallback, `createNodeCrypto(undefined, null)`) as the baseline against the default
 * provider (AES-CMAC/AES-SIV on OpenSSL's EVP through koffi, src/io/crypto-evp.ts).
 *
 * Options: --rounds N, --ms M, --baseline DIR | --fallback, --baseline-label TEXT, --label TEXT, --no-write.
 * Writes the `## Crypto cost per operation` section of docs/BENCHMARKS.md, leaving others intact.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkAuth, KeyRing, sign } from '../src/assoc/util.js';
import { createNodeCrypto, nodeCrypto, nodeRandomBytes } from '../src/io/crypto.js';
import { CookieJar, type NtsKeys } from '../src/nts/cookie.js';
import {
  buildNtsResponse,
  NtsClientSession,
  type NtsRequest,
  type NtsServerContext,
  verifyNtsRequest,
} from '../src/nts/ntp.js';
import { NtsInPlace } from '../src/nts/server-reply.js';
import type { SymmetricKey } from '../src/system/types.js';
import type { CryptoProvider } from '../src/wire/crypto.js';
import { decodePacket, emptyPacket, encodePacket, MODE, type NtpPacket } from '../src/wire/packet.js';
import { replaceDocSection } from './doc-section.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const SECTION = '## Crypto cost per operation';

interface Options {
  rounds: number;
  ms: number;
  baseline: string | null;
  fallback: boolean;
  baselineLabel: string;
  label: string;
  write: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rounds: 15,
    ms: 100,
    baseline: null,
    fallback: false,
    baselineLabel: 'baseline',
    label: 'this build',
    write: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--rounds') o.rounds = Math.min(101, Math.round(num()));
    else if (a === '--ms') o.ms = Math.min(5000, num());
    else if (a === '--baseline') o.baseline = argv[++i] ?? null;
    else if (a === '--fallback') o.fallback = true;
    else if (a === '--baseline-label') o.baselineLabel = argv[++i] ?? o.baselineLabel;
    else if (a === '--label') o.label = argv[++i] ?? o.label;
    else if (a === '--no-write') o.write = false;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

type RandomBytes = (n: number) => Uint8Array;

/** What the operations need from a build: this one, or a baseline loaded from its dist/. */
interface Api {
  /** A signer and checker for one key; null when the build cannot sign with its type. */
  macFor(key: SymmetricKey): { sign(p: NtpPacket): NtpPacket; check(p: NtpPacket): string } | null;
  jar(random: RandomBytes): Jar;
  session(keys: NtsKeys, cookies: Uint8Array[], target: number): Session;
  verifyNtsRequest(bytes: Uint8Array, jar: Jar): { ok: true; context: NtsServerContext } | { ok: false };
  buildNtsResponse(header: NtpPacket, ctx: NtsServerContext, jar: Jar, random: RandomBytes): Uint8Array;
  /** The in-place server path (src/nts/server-reply.ts): the reply's length into `out`, 0 if not. */
  replyInPlace?(bytes: Uint8Array, jar: Jar, out: Uint8Array, random: RandomBytes): number;
  randomBytes: RandomBytes;
}

interface Jar {
  seal(k: NtsKeys): Uint8Array;
  open(c: Uint8Array): { ok: boolean };
}

interface Session {
  readonly cookies: Uint8Array[];
  request(base: NtpPacket, random: RandomBytes): NtsRequest | null;
  response(bytes: Uint8Array, req: NtsRequest): { ok: boolean };
}

function thisBuild(crypto: CryptoProvider = nodeCrypto): Api {
  return {
    macFor(key) {
      const ring = new KeyRing([key], crypto);
      if (ring.macKey(key.id) === null) return null;
      return {
        sign: (p) => sign(p, ring, key.id) ?? p,
        check: (p) => checkAuth(p, ring, key.id),
      };
    },
    jar: (random) => new CookieJar(crypto, random),
    session: (keys, cookies, target) => new NtsClientSession(crypto, keys, cookies, target),
    verifyNtsRequest: (bytes, jar) => verifyNtsRequest(bytes, jar as CookieJar),
    buildNtsResponse: (h, ctx, jar, random) => buildNtsResponse(h, ctx, jar as CookieJar, random),
    replyInPlace(bytes, jar, out, random) {
      inPlace.prepare(jar as CookieJar, [{ data: bytes, length: bytes.length }], 1);
      const n = inPlace.taken(0) ? inPlace.reply(0, bytes, out, (b, at, k) => b.set(random(k), at)) : 0;
      inPlace.finish();
      return n;
    },
    randomBytes: nodeRandomBytes,
  };
}

const inPlace = new NtsInPlace();

/** The API of the pure-TypeScript builds before the provider (up to 3c16e93). */
interface OldUtil {
  sign(p: NtpPacket, keys: SymmetricKey[], id: number): NtpPacket;
  checkAuth(p: NtpPacket, keys: SymmetricKey[], id: number): string;
}
interface OldCookie {
  CookieJar: new (random: RandomBytes) => Jar;
}
interface OldNtp {
  NtsClientSession: new (keys: NtsKeys, cookies: Uint8Array[], target: number) => Session;
  verifyNtsRequest: Api['verifyNtsRequest'];
  buildNtsResponse: Api['buildNtsResponse'];
}

async function baselineBuild(dir: string): Promise<Api> {
  const load = async <T>(path: string): Promise<T> =>
    (await import(pathToFileURL(join(resolve(dir), 'dist', path)).href)) as T;
  const util = await load<OldUtil>('src/assoc/util.js');
  const cookie = await load<OldCookie>('src/nts/cookie.js');
  const ntp = await load<OldNtp>('src/nts/ntp.js');
  return {
    macFor(key) {
      const keys = [key];
      // Old builds had no AES-CMAC (AES128CMAC went out unsigned, AES256CMAC did not exist).
      if (key.type === 'AES128CMAC' || key.type === 'AES256CMAC') return null;
      return { sign: (p) => util.sign(p, keys, key.id), check: (p) => util.checkAuth(p, keys, key.id) };
    },
    jar: (random) => new cookie.CookieJar(random),
    session: (keys, cookies, target) => new ntp.NtsClientSession(keys, cookies, target),
    verifyNtsRequest: ntp.verifyNtsRequest,
    buildNtsResponse: ntp.buildNtsResponse,
    // what the daemon used before: one call into OpenSSL per draw
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
  };
}

/** One measured operation: `run` does it once; `check` proves (once, before timing) that it works. */
interface Op {
  name: string;
  run: () => unknown;
  check: () => boolean;
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

/** The operations on a build. `random` is the random-byte source the NTS operations use. */
function operations(api: Api, random: RandomBytes): Op[] {
  const ops: Op[] = [];
  const keyTypes: Array<[SymmetricKey['type'], number]> = [
    ['MD5', 16],
    ['SHA1', 20],
    ['SHA256', 32],
    ['AES128CMAC', 16],
    ['AES256CMAC', 32],
  ];
  for (const [type, len] of keyTypes) {
    const key: SymmetricKey = { id: 5, type, key: new Uint8Array(len).map((_, i) => i * 7 + 1) };
    const m = api.macFor(key);
    if (m === null) continue;
    const p = clientPacket();
    const signed = decoded(encodePacket(m.sign(p)));
    ops.push({
      name: `MAC ${type}: sign a 48-byte request`,
      run: () => encodePacket(m.sign(p)),
      check: () => encodePacket(m.sign(p)).length > 48,
    });
    ops.push({
      name: `MAC ${type}: verify a signed request`,
      run: () => m.check(signed),
      check: () => m.check(signed) === 'ok',
    });
  }

  const jar = api.jar(random);
  const keys: NtsKeys = { aead: 15, c2s: new Uint8Array(32).fill(0x3c), s2c: new Uint8Array(32).fill(0xc3) };
  const cookie = jar.seal(keys);
  ops.push({
    name: 'NTS cookie: seal',
    run: () => jar.seal(keys),
    check: () => jar.seal(keys).length === 104,
  });
  ops.push({ name: 'NTS cookie: open', run: () => jar.open(cookie), check: () => jar.open(cookie).ok });

  const req = api.session(keys, [cookie], 1).request(clientPacket(), random);
  if (req === null) throw new Error('no cookie');
  const checked = api.verifyNtsRequest(req.bytes, jar);
  if (!checked.ok) throw new Error('the NTS request does not verify');
  const ctx = checked.context;
  const header = emptyPacket();
  header.mode = MODE.SERVER;
  header.stratum = 2;
  header.originTimestamp = ctx.packet.transmitTimestamp;
  header.receiveTimestamp = 0xeeac32c7_00000000n;
  header.transmitTimestamp = 0xeeac32c7_00001000n;
  const respBytes = api.buildNtsResponse(header, ctx, jar, random);
  ops.push({
    name: 'NTS server: verify a request (cookie open + authenticator)',
    run: () => api.verifyNtsRequest(req.bytes, jar),
    check: () => api.verifyNtsRequest(req.bytes, jar).ok,
  });
  ops.push({
    name: 'NTS server: build a response (1 new cookie)',
    run: () => api.buildNtsResponse(header, ctx, jar, random),
    check: () => api.buildNtsResponse(header, ctx, jar, random).length === respBytes.length,
  });
  const replyInPlace = api.replyInPlace;
  if (replyInPlace !== undefined) {
    // The 48-byte header is the caller's (the worker writes it from the published clock).
    const out = new Uint8Array(2048);
    out.set(respBytes.subarray(0, 48));
    ops.push({
      name: 'NTS server: verify + build in place, one request a batch (1 new cookie; src/nts/server-reply.ts)',
      run: () => replyInPlace(req.bytes, jar, out, random),
      check: () => replyInPlace(req.bytes, jar, out, random) === respBytes.length,
    });
  }
  const client = api.session(keys, [], 1);
  const clientRequest = () => {
    client.cookies.push(cookie);
    return client.request(clientPacket(), random);
  };
  const clientResponse = () => {
    const r = client.response(respBytes, req);
    client.cookies.length = 0;
    return r;
  };
  ops.push({
    name: 'NTS client: build a request',
    run: clientRequest,
    check: () => clientRequest() !== null,
  });
  ops.push({ name: 'NTS client: verify a response', run: clientResponse, check: () => clientResponse().ok });
  ops.push({
    name: 'random bytes: 16 (a nonce)',
    run: () => api.randomBytes(16),
    check: () => api.randomBytes(16).length === 16,
  });
  return ops;
}

let sink = 0;

/** Iterations per batch so that one batch takes about `ms`. */
function calibrate(op: Op, ms: number): number {
  let n = 16;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (op.run() !== undefined) sink++;
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (dt >= ms / 4 || n > 1 << 24) return Math.max(1, Math.round((n * ms) / Math.max(dt, 1e-3)));
    n *= 4;
  }
}

function batch(op: Op, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (op.run() !== undefined) sink++;
  return Number(process.hrtime.bigint() - t0) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

interface Row {
  name: string;
  before: number[] | null;
  after: number[];
}

/** Rounds of `after` (and `before`, interleaved with it, when given) for one operation. */
function measurePair(after: Op, before: Op | undefined, o: Options): Row {
  const na = calibrate(after, o.ms);
  const nb = before === undefined ? 0 : calibrate(before, o.ms);
  batch(after, na);
  if (before !== undefined) batch(before, nb);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    // Alternate which build goes first in a round.
    if (before !== undefined && r % 2 === 0) b.push(batch(before, nb));
    a.push(batch(after, na));
    if (before !== undefined && r % 2 === 1) b.push(batch(before, nb));
  }
  return { name: after.name, before: before === undefined ? null : b, after: a };
}

function fmtNs(ns: number): string {
  if (ns >= 1000) return `${(ns / 1000).toFixed(ns >= 10_000 ? 1 : 2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

const perSecond = (ns: number) => Math.round(1e9 / ns).toLocaleString('en-US');

function table(rows: Row[], o: Options): string {
  if (o.baseline === null && !o.fallback) {
    const lines = [
      '| operation | time per operation | range over rounds | per second |',
      '|---|---:|---:|---:|',
    ];
    for (const r of rows)
      lines.push(
        `| ${r.name} | ${fmtNs(median(r.after))} | ${fmtNs(Math.min(...r.after))}–${fmtNs(Math.max(...r.after))} | ${perSecond(median(r.after))} |`,
      );
    return lines.join('\n');
  }
  const lines = [
    `| operation | ${o.baselineLabel} | ${o.label} | speed-up: median (quartiles) of ${o.rounds} paired rounds | per second (${o.label}) |`,
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const am = median(r.after);
    if (r.before === null) {
      lines.push(`| ${r.name} | not possible | ${fmtNs(am)} | – | ${perSecond(am)} |`);
      continue;
    }
    const b = r.before;
    const ratios = r.after.map((x, i) => (b[i] ?? Number.NaN) / x).sort((x, y) => x - y);
    const q = (f: number) => ratios[Math.min(ratios.length - 1, Math.floor(f * ratios.length))] ?? Number.NaN;
    const f = (x: number) => `${x.toFixed(2)}×`;
    lines.push(
      `| ${r.name} | ${fmtNs(median(b))} | ${fmtNs(am)} | ${f(median(ratios))} (${f(q(0.25))}–${f(q(0.75))}) | ${perSecond(am)} |`,
    );
  }
  return lines.join('\n');
}

const EXPLAIN = `What each row does, in-process (no sockets), as the engine does it: a MAC row signs a 48-byte
client request (\`sign\` + encode) or verifies a decoded signed one (\`checkAuth\`); "NTS server:
verify" opens the cookie with a master key and checks the authenticator with the client key from it;
"build a response" seals one new cookie and the reply's authenticator; the client rows build a
request from a session (one cookie, no placeholders) and verify the server's reply. The NTS rows of
both builds draw random bytes from the same source (this build's); the last row compares the sources
themselves (before: one call into OpenSSL per draw; after: a refilled 4 KiB buffer). The speed-up is
baseline time / this build's time, per round of interleaved batches. Server throughput with these
costs inside: "Server throughput" (bench:server).`;

const EXPLAIN_FALLBACK = `What each row does, in-process (no sockets), as the engine does it: a MAC row signs a 48-byte
client request (\`sign\` + encode) or verifies a decoded signed one (\`checkAuth\`); "NTS server:
verify" opens the cookie with a master key and checks the authenticator with the client key from it;
"build a response" seals one new cookie and the reply's authenticator; the client rows build a
request from a session (one cookie, no placeholders) and verify the server's reply. Both columns are
this build: the baseline with AES-CMAC and AES-SIV on node:crypto's \`Cipher\` objects (the fallback
where koffi or OpenSSL's EVP cannot be reached, or with \`NTPKIT_CRYPTO=node\`), the other on OpenSSL's
EVP called through koffi with integer arguments (src/io/crypto-evp.ts); digests (MD5, SHA) and the
random bytes are the same in both, so those rows should be about 1×. The speed-up is baseline time /
EVP time, per round of interleaved batches. Server throughput with these costs inside: "Server
throughput" (bench:server, \`--nts\`).`;

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const mine = thisBuild();
  const after = operations(mine, mine.randomBytes);
  if (o.fallback && o.baseline !== null) throw new Error('--fallback and --baseline exclude each other');
  if (o.fallback) {
    if (o.baselineLabel === 'baseline') o.baselineLabel = 'node:crypto Cipher objects';
    if (o.label === 'this build') o.label = 'EVP through FFI';
  }
  const baseline = o.fallback
    ? thisBuild(createNodeCrypto(undefined, null))
    : o.baseline === null
      ? null
      : await baselineBuild(o.baseline);
  const before = baseline === null ? [] : operations(baseline, mine.randomBytes);
  // The random-source row compares the sources themselves.
  const rnd = before.find((x) => x.name.startsWith('random bytes'));
  if (baseline !== null && rnd !== undefined) rnd.run = () => baseline.randomBytes(16);
  for (const op of [...after, ...before]) if (!op.check()) throw new Error(`${op.name}: does not work`);
  const load0 = loadavg()[0] ?? 0;
  const date0 = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const rows: Row[] = [];
  for (const op of after) {
    const r = measurePair(
      op,
      before.find((x) => x.name === op.name),
      o,
    );
    rows.push(r);
    process.stderr.write(
      `${r.name}: ${fmtNs(median(r.after))}${r.before === null ? '' : ` (baseline ${fmtNs(median(r.before))})`}\n`,
    );
  }
  const cpu = cpus();
  const load1 = loadavg()[0] ?? 0;
  const text = table(rows, o);
  process.stdout.write(`${text}\n`);
  if (o.write) {
    const cmd = o.fallback
      ? '`npm run bench:crypto -- --fallback`'
      : o.baseline === null
        ? '`npm run bench:crypto`'
        : `\`npm run bench:crypto -- --baseline DIR --baseline-label '${o.baselineLabel}' --label '${o.label}'\` (DIR: a built checkout of the baseline)`;
    const head = `Measured ${date0} UTC by ${cmd} on ${cpu.length} × ${(cpu[0]?.model ?? 'unknown CPU').trim()}, Node ${process.version}, ${o.rounds} rounds of ~${o.ms} ms batches per operation; 1-minute load average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end.`;
    const file = resolve(ROOT, 'docs/BENCHMARKS.md');
    const old = await readFile(file, 'utf8').catch(() => '');
    await writeFile(
      file,
      replaceDocSection(
        old,
        SECTION,
        `${SECTION}\n\n${head}\n\n${text}\n\n${o.fallback ? EXPLAIN_FALLBACK : EXPLAIN}\n`,
      ),
    );
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
