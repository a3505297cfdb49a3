/**
 * `node dist/bench/nts-reply.js`: the CPU one NTS reply costs in a server worker's JavaScript,
 * in-process (no sockets, no system calls): `WorkerAnswerer.decode` + `answer` (src/serve/
 * worker-answer.ts, as src/io/fast-worker.ts calls them for each NTS datagram of a recvmmsg batch)
 * over 256 NTS-protected requests built as bench/server-nts.ts builds them (each its own Unique
 * Identifier and nonce, 8 cookies of one NTS-KE session in turn, no placeholders), the reply
 * copied into a reply buffer as the worker does. Every reply of the first pass is verified with
 * the S2C key.
 *
 * The requests come in batches of `--batch` (default 64, a full recvmmsg), answered as the
 * worker does: those of the common shape in place (`prepareNts`, `answerNts`, `finishNts`:
 * src/nts/server-reply.ts, the batch's cookies opened and sealed together), others through
 * `decode` + `answer`; `--general` adds rows with every request on the general path. Rows: the default provider (AES-SIV on OpenSSL's EVP through
 * koffi) and the node:crypto fallback (`--fallback` adds it), in alternating rounds; each figure is the median over `--rounds` rounds
 * (default 15) of the mean time per reply in a batch of about `--ms` ms (default 200). Also the
 * heap bytes allocated per reply (process.memoryUsage's heapUsed growth over a batch with the GC
 * not running; a lower bound on the young generation's churn). `--baseline DIR`: a built checkout
 * (`npx tsc -p .`) whose rows alternate with this build's in the same process (a build without
 * the in-place path answers on the general one). Use `node --cpu-prof` on it to see where the
 * time goes. Writes nothing.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createNodeCrypto, nodeCrypto, nodeRandomBytes } from '../src/io/crypto.js';
import { CookieJar, type NtsKeys } from '../src/nts/cookie.js';
import { buildNtsRequest, verifyNtsResponse } from '../src/nts/ntp.js';
import { emptyView } from '../src/serve/published.js';
import { WorkerAnswerer } from '../src/serve/worker-answer.js';
import type { Endpoint } from '../src/system/types.js';
import type { CryptoProvider } from '../src/wire/crypto.js';
import { emptyPacket, MODE } from '../src/wire/packet.js';

interface Options {
  rounds: number;
  ms: number;
  fallback: boolean;
  general: boolean;
  baseline: string | null;
  only: 'evp' | 'node' | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 15, ms: 200, fallback: false, general: false, baseline: null, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--rounds') o.rounds = Math.min(101, Math.round(num()));
    else if (a === '--ms') o.ms = Math.min(5000, num());
    else if (a === '--fallback') o.fallback = true;
    else if (a === '--general') o.general = true;
    else if (a === '--batch') BATCH = Math.min(64, Math.max(1, Math.round(num())));
    else if (a === '--baseline') o.baseline = argv[++i] ?? null;
    else if (a === '--only') {
      const v = argv[++i];
      if (v !== 'evp' && v !== 'node') throw new Error('--only evp|node');
      o.only = v;
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const REQUESTS = 256;
/** Requests per received batch (the worker's recvmmsg takes up to 64). */
let BATCH = 64;
const from: Endpoint = { address: '127.0.0.1', port: 40000 };
const to: Endpoint = { address: '127.0.0.1', port: 11523 };

interface Row {
  name: string;
  /** Answers requests start.. start+count-1 (mod 256) as one batch; returns the bytes sent. */
  run(start: number, count: number): number;
}

/** The classes a build gives the bench: this one's, or a baseline's (`--baseline DIR`). */
interface Build {
  CookieJar: typeof CookieJar;
  WorkerAnswerer: typeof WorkerAnswerer;
  nodeCrypto: CryptoProvider;
  fallback: CryptoProvider;
}

async function load(dir: string | null): Promise<Build> {
  if (dir === null)
    return { CookieJar, WorkerAnswerer, nodeCrypto, fallback: createNodeCrypto(undefined, null) };
  const at = async <T>(path: string): Promise<T> =>
    (await import(pathToFileURL(join(resolve(dir), 'dist', 'src', path)).href)) as T;
  const cookie = await at<{ CookieJar: typeof CookieJar }>('nts/cookie.js');
  const worker = await at<{ WorkerAnswerer: typeof WorkerAnswerer }>('serve/worker-answer.js');
  const crypto = await at<{ nodeCrypto: CryptoProvider; createNodeCrypto: typeof createNodeCrypto }>(
    'io/crypto.js',
  );
  return {
    CookieJar: cookie.CookieJar,
    WorkerAnswerer: worker.WorkerAnswerer,
    nodeCrypto: crypto.nodeCrypto,
    fallback: crypto.createNodeCrypto(undefined, null),
  };
}

function setup(name: string, b: Build, crypto: CryptoProvider, inPlace: boolean): Row {
  const random = nodeRandomBytes;
  const jar = new b.CookieJar(crypto, random);
  const keys: NtsKeys = { aead: 15, c2s: random(32), s2c: random(32) };
  const cookies = Array.from({ length: 8 }, () => jar.seal(keys));
  const requests: Uint8Array[] = [];
  const uids: Uint8Array[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const base = emptyPacket();
    base.mode = MODE.CLIENT;
    base.poll = 6;
    base.transmitTimestamp = 0xeeac32c6_e22d26a5n + BigInt(i);
    const r = buildNtsRequest(base, {
      aead: 15,
      c2s: keys.c2s,
      cookie: cookies[i % 8] as Uint8Array,
      placeholders: 0,
      random,
      crypto: nodeCrypto,
    });
    requests.push(r.bytes);
    uids.push(r.uniqueId);
  }
  const view = emptyView();
  view.valid = true;
  view.leap = 0;
  view.stratum = 1;
  view.timeSec = 3_970_000_000;
  view.rawSec = 1000;
  const answerer = new b.WorkerAnswerer(view, [], crypto, 0, (k) => new Uint8Array(randomBytes(k)));
  answerer.setNtsKeys(jar.exportKeys());
  // A baseline from before the batched path: one request at a time in place (scanNts/answerNts
  // of the first in-place version), or everything on the general path.
  const old = answerer as unknown as {
    scanNts?(req: Uint8Array, length: number): boolean;
    answerNts(...a: unknown[]): number;
  };
  const batched = inPlace && typeof answerer.prepareNts === 'function';
  const single = inPlace && !batched && typeof old.scanNts === 'function';
  const outs = Array.from({ length: BATCH }, () => new Uint8Array(2048));
  const heads = outs.map((o) => new DataView(o.buffer, 0, 48));
  const lengths = new Int32Array(BATCH);
  const datagrams = Array.from({ length: BATCH }, () => ({ data: new Uint8Array(0), length: 0 }));
  let raw = 1_000_000_000_000n;
  let ns = 0;
  let general = 0;
  /** Answers requests start..start+count-1 (mod 256) as one received batch; the bytes sent. */
  const run = (start: number, count: number): number => {
    for (let k = 0; k < count; k++) {
      const d = datagrams[k] as { data: Uint8Array; length: number };
      d.data = requests[(start + k) % REQUESTS] as Uint8Array;
      d.length = d.data.length;
    }
    if (batched) answerer.prepareNts(datagrams, count);
    let sum = 0;
    for (let k = 0; k < count; k++) {
      const bytes = (datagrams[k] as { data: Uint8Array }).data;
      const out = outs[k] as Uint8Array;
      const head = heads[k] as DataView;
      ns = ns >= 1e9 - 2000 ? 0 : ns + 1000;
      let n = 0;
      if (batched && answerer.takesNts(k))
        n = answerer.answerNts(k, bytes, from, 1000, ns, 1000, ns + 500, out, head);
      else if (single && old.scanNts?.(bytes, bytes.length))
        n = old.answerNts(bytes, from, 1000, ns, 1000, ns + 500, out, head);
      if (n === 0) {
        general++;
        const pkt = answerer.decode(bytes);
        raw += 1000n;
        const a = pkt === null ? null : answerer.answer(pkt, bytes, from, to, raw, raw + 500n);
        if (a === null || a.kind !== 'reply' || a.bytes === undefined || a.nak !== undefined) n = -1;
        else {
          out.set(a.bytes);
          n = a.bytes.length;
        }
      }
      lengths[k] = n;
      sum += n;
    }
    if (batched) answerer.finishNts();
    return sum;
  };
  // Each request answered once and verified (the reply as the client sees it).
  for (let i = 0; i < REQUESTS; i += BATCH) {
    run(i, BATCH);
    for (let k = 0; k < BATCH; k++) {
      const n = lengths[k] as number;
      if (n < 0) throw new Error(`${name}: request ${i + k} not answered`);
      const v = verifyNtsResponse((outs[k] as Uint8Array).slice(0, n), {
        aead: 15,
        s2c: keys.s2c,
        uniqueId: uids[i + k] as Uint8Array,
        crypto: nodeCrypto,
      });
      if (!v.ok || v.cookies.length !== 1) throw new Error(`${name}: reply ${i + k} does not verify`);
    }
  }
  if ((batched || single) && general > 0)
    throw new Error(`${name}: ${general} of ${REQUESTS} not answered in place`);
  const how = batched
    ? `, batches of ${BATCH}`
    : single
      ? ', one at a time'
      : inPlace
        ? ' (no in-place path: general)'
        : '';
  return { name: `${name}${how}`, run };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const builds: Array<[string, Build]> = [['', await load(null)]];
  if (o.baseline !== null) builds.unshift([`${o.baseline}: `, await load(o.baseline)]);
  for (const [label, b] of builds)
    for (const inPlace of o.general ? [true, false] : [true]) {
      const how = inPlace ? 'in place' : 'general (decode + answer)';
      if (o.only !== 'node') rows.push(setup(`${label}default provider, ${how}`, b, b.nodeCrypto, inPlace));
      if (o.fallback || o.only === 'node')
        rows.push(setup(`${label}node:crypto fallback, ${how}`, b, b.fallback, inPlace));
    }
  console.log(`${cpus()[0]?.model ?? '?'}, node ${process.version}, load ${loadavg()[0]?.toFixed(2)}`);
  console.log(`provider: ${nodeCrypto.name}`);
  // Calibrate: replies per batch for about o.ms.
  const perBatch = rows.map((r) => {
    // warm-up (the JIT), then the calibration
    for (let i = 0; i < 4096; i += BATCH) r.run(i, BATCH);
    let n = 1024;
    for (;;) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i += BATCH) r.run(i, BATCH);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ms > o.ms / 4) return Math.max(1, Math.round((n * o.ms) / ms / BATCH)) * BATCH;
      n *= 4;
    }
  });
  const times: number[][] = rows.map(() => []);
  const heap: number[][] = rows.map(() => []);
  for (let round = 0; round < o.rounds; round++) {
    rows.forEach((r, k) => {
      const n = perBatch[k] as number;
      const h0 = process.memoryUsage().heapUsed;
      const t0 = process.hrtime.bigint();
      let sum = 0;
      for (let i = 0; i < n; i += BATCH) sum += r.run(i, BATCH);
      const dt = Number(process.hrtime.bigint() - t0);
      const h1 = process.memoryUsage().heapUsed;
      if (sum <= 0) throw new Error('no replies');
      times[k]?.push(dt / n / 1000);
      // A negative growth means a GC ran in the batch: not a sample.
      if (h1 > h0) heap[k]?.push((h1 - h0) / n);
    });
  }
  rows.forEach((r, k) => {
    const t = times[k] as number[];
    const h = heap[k] as number[];
    const s = [...t].sort((a, b) => a - b);
    console.log(
      `${r.name}: ${median(t).toFixed(2)} µs per NTS reply (quartiles ${s[Math.floor(s.length / 4)]?.toFixed(2)}–${s[Math.floor((3 * s.length) / 4)]?.toFixed(2)}, ${o.rounds} rounds of ${perBatch[k]}), heap ${h.length > 0 ? median(h).toFixed(0) : '?'} B per reply`,
    );
  });
}

await main();
