/**
 * `npm run bench:server -- --nts`: NTS replies per second (RFC 8915), ntpkit (the real daemon with
 * `[serve] workers = 1`, and on the node:dgram path) beside chronyd's NTS server in the same run,
 * with the search, trials, pinning and CPU accounting of bench/server.ts.
 *
 * The generator: for each server, one NTS-KE (src/io/nts-ke.ts, TLS 1.3 against the server's own
 * NTS-KE port, a throw-away self-signed certificate) gives the C2S/S2C keys and 8 cookies; from
 * them 256 NTS-protected mode 3 requests are built once (src/nts/ntp.ts: each its own Unique
 * Identifier and authenticator nonce, the cookies taken in turn, no placeholders) and written to a
 * file that bench/loadgen.c sends in turn, unchanged, from 64 source addresses. Cookies are meant
 * for one use (client privacy), but a server keeps no state about them: both servers answer a
 * repeated cookie, which the script checks before measuring (the same request twice, both replies
 * verified with the S2C key). Replies with stratum 0 (NTS NAKs) are counted and shown.
 *
 * Options as bench/server.ts (--seconds, --trials, --budget, --no-write), --servers from
 * ntpkit-batched, ntpkit, chronyd. Writes the `### NTS` part of `## Server throughput` in
 * docs/BENCHMARKS.md, leaving the rest of that section (bench/server.ts without --nts) intact.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeCrypto, nodeRandomBytes } from '../src/io/crypto.js';
import { ntsKeClient } from '../src/io/nts-ke.js';
import { buildNtsRequest, verifyNtsResponse } from '../src/nts/ntp.js';
import { emptyPacket, MODE } from '../src/wire/packet.js';
import { makeCert } from '../test/nts/responder.js';
import { replaceDocSection } from './doc-section.js';
import {
  buildCGenerator,
  cGenerator,
  fmtRate,
  type Generator,
  keptNtsPart,
  lastCore,
  measure,
  NTPKIT_PORT,
  type Options,
  type ServerHandle,
  type ServerResult,
  sleep,
  startChronyd as startPlainChronyd,
  stopChild,
  waitServing,
  which,
} from './server.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const NTPKIT_KE_PORT = 11524;
const CHRONY_KE_PORT = 11525;
const REQUESTS = 256;

interface NtsHandle extends ServerHandle {
  kePort: number;
}

function spawnPinned(argv: string[], cores: string | null) {
  const full = cores === null ? argv : ['taskset', '-c', cores, ...argv];
  return spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function startNtpkit(
  dir: string,
  pin: boolean,
  pem: { key: string; cert: string },
  workers: number,
): Promise<NtsHandle> {
  const conf = join(dir, `ntpkit-nts-${workers}.toml`);
  await writeFile(
    conf,
    `# bench/server-nts.ts: ntpkit serving its free-running clock as stratum 1 with NTS, no rate limiting
[serve]
listen = ["127.0.0.1"]
port = ${NTPKIT_PORT}
workers = ${workers}

[local]
stratum = 1

[nts]
server-cert = "${pem.cert}"
server-key = "${pem.key}"
ke-listen = ["127.0.0.1"]
ke-port = ${NTPKIT_KE_PORT}
key-file = "${join(dir, `ntpkit-nts-keys-${workers}.json`)}"

[observe]
control-socket = "${join(dir, 'ntpkit.sock')}"

[log]
level = "warn"
`,
  );
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const child = spawnPinned(
    [process.execPath, main, 'daemon', '--config', conf, '--no-drop-privileges'],
    pin ? String(lastCore()) : null,
  );
  await waitServing(NTPKIT_PORT, child, 15);
  const kind = workers > 0 ? `batched recvmmsg/sendmmsg, ${workers} worker` : 'node:dgram';
  return {
    name: workers > 0 ? 'ntpkit-batched' : 'ntpkit',
    version: `ntpkit 0.1.0 (node ${process.version}), ${kind}`,
    child,
    port: NTPKIT_PORT,
    kePort: NTPKIT_KE_PORT,
    notes: `ntpkit daemon, [nts] server, workers = ${workers}`,
    stop: () => stopChild(child),
  };
}

async function startChronyd(
  dir: string,
  pin: boolean,
  pem: { key: string; cert: string },
): Promise<NtsHandle | null> {
  const cdir = join(dir, 'chrony');
  const h = await startPlainChronyd(
    dir,
    pin,
    `ntsserverkey ${pem.key}\nntsservercert ${pem.cert}\nntsport ${CHRONY_KE_PORT}\nntsdumpdir ${cdir}\n`,
  );
  if (h === null) return null;
  return {
    ...h,
    version: `${h.version}, NTS server`,
    kePort: CHRONY_KE_PORT,
    notes: 'chronyd -x, local stratum 1, ntsserverkey/ntsservercert, no ratelimit',
  };
}

/** Sends `bytes` to the server and returns the first reply (null after `ms`). */
async function exchange(port: number, bytes: Uint8Array, ms: number): Promise<Uint8Array | null> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<Uint8Array | null>((res) => {
      const t = setTimeout(() => res(null), ms);
      s.once('message', (m) => {
        clearTimeout(t);
        res(new Uint8Array(m));
      });
      s.on('error', () => undefined);
      s.send(bytes, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

/**
 * One NTS-KE with the server, then REQUESTS ready requests in `file` (2-byte length + bytes each);
 * checks that a request sent twice (a repeated cookie) gets two verified replies.
 */
async function prepareRequests(
  h: NtsHandle,
  cert: string,
  file: string,
): Promise<{ requestBytes: number; replyBytes: number; cookieBytes: number }> {
  const r = await ntsKeClient({
    host: '127.0.0.1',
    port: h.kePort,
    ca: await readFile(cert),
    servername: 'localhost',
    timeoutMs: 10_000,
  });
  if (!r.ok) throw new Error(`${h.name}: NTS-KE failed: ${r.code} ${r.message}`);
  if (r.ntpPort !== h.port) throw new Error(`${h.name}: NTS-KE named port ${r.ntpPort}, not ${h.port}`);
  const reqs: { bytes: Uint8Array; uniqueId: Uint8Array }[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const xmt = (0x0100_0000n + BigInt(i)) << 32n;
    const base = { ...emptyPacket(), mode: MODE.CLIENT, transmitTimestamp: xmt };
    const cookie = r.cookies[i % r.cookies.length] as Uint8Array;
    const q = buildNtsRequest(base, {
      aead: r.keys.aead,
      c2s: r.keys.c2s,
      cookie,
      placeholders: 0,
      random: nodeRandomBytes,
      crypto: nodeCrypto,
    });
    reqs.push({ bytes: q.bytes, uniqueId: q.uniqueId });
  }
  // The same request (and cookie) twice: both replies must verify.
  let replyBytes = 0;
  for (let k = 0; k < 2; k++) {
    const q = reqs[0];
    if (q === undefined) throw new Error('no request');
    const reply = await exchange(h.port, q.bytes, 2000);
    if (reply === null) throw new Error(`${h.name}: no reply to an NTS request (try ${k + 1})`);
    const v = verifyNtsResponse(reply, {
      aead: r.keys.aead,
      s2c: r.keys.s2c,
      uniqueId: q.uniqueId,
      crypto: nodeCrypto,
    });
    if (!v.ok) throw new Error(`${h.name}: NTS reply ${k + 1} does not verify: ${v.code} ${v.message}`);
    replyBytes = reply.length;
  }
  const parts: Buffer[] = [];
  for (const q of reqs)
    parts.push(Buffer.from([q.bytes.length >> 8, q.bytes.length & 0xff]), Buffer.from(q.bytes));
  await writeFile(file, Buffer.concat(parts));
  return { requestBytes: reqs[0]?.bytes.length ?? 0, replyBytes, cookieBytes: r.cookies[0]?.length ?? 0 };
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`;
  }
}

interface NtsRow {
  result: ServerResult;
  sizes: { requestBytes: number; replyBytes: number; cookieBytes: number };
  naks: number;
  received: number;
}

function renderPart(rows: NtsRow[], o: Options, pinned: boolean, upStart: string, upEnd: string): string {
  const us = (v: number | null | undefined) => (v !== null && v !== undefined ? `${v.toFixed(1)} µs` : '?');
  const flags = [
    '--nts',
    ...(o.serversGiven ? [`--servers ${o.servers.join(',')}`] : []),
    ...(o.seconds !== 2 ? [`--seconds ${o.seconds}`] : []),
    ...(o.trials !== 3 ? [`--trials ${o.trials}`] : []),
    ...(o.budget !== 120 ? [`--budget ${o.budget}`] : []),
  ].join(' ');
  const lines = [
    '### NTS replies per second',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:server -- ${flags}\` ` +
      `(\`node dist/bench/server.js ${flags}\`, bench/server-nts.ts) on ${cpus().length} × ` +
      `${cpus()[0]?.model.trim() ?? 'CPU'}, Linux loopback.`,
    '',
    '| server | highest rate with < 1% loss | CPU per reply there | peak answered/s | CPU per reply at peak | request / reply bytes | NAKs |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { result: r, sizes, naks, received } of rows) {
    const t = r.bestTrial;
    lines.push(
      `| ${r.version} | ${r.bestRate > 0 ? `${fmtRate(r.bestRate)}/s` : 'none ≥ 500/s'} | ${us(t?.cpuPerReplyUs)} | ` +
        `${fmtRate(r.peakAnswered)}/s | ${us(r.peakCpuPerReplyUs)} | ${sizes.requestBytes} / ${sizes.replyBytes} | ` +
        `${naks} of ${received} |`,
    );
  }
  lines.push(
    '',
    'Setup:',
    '- requests: one NTS-KE per server (TLS 1.3, AEAD_AES_SIV_CMAC_256, a self-signed certificate), then ' +
      `${REQUESTS} NTS-protected mode 3 requests built once (src/nts/ntp.ts: each its own Unique Identifier and ` +
      'nonce, the 8 cookies in turn, no placeholders: one new cookie per reply) and sent unchanged by bench/loadgen.c ' +
      "(REQFILE) from 64 source addresses; cookies are single-use only for the client's privacy: neither server " +
      'keeps state about them, both answered a repeated request with a verified reply (checked before the trials);',
    `- ${pinned ? `server pinned to core ${lastCore()}, generator to core 0 (taskset)` : 'no pinning (taskset missing or one core)'}; ` +
      `each offered rate ${o.seconds} s, best of ${o.trials}, the same search and saturation trials as the table above, ` +
      `time budget ${o.budget} s per server; CPU per reply = utime + stime of the server process (all its threads) / replies;`,
    '- NAKs: replies with stratum 0 over all trials (an NTS NAK or a KoD; none expected);',
    '- ntpkit: `[nts] server-cert`/`server-key`, otherwise as above; chronyd: `ntsserverkey`/`ntsservercert`, otherwise as above;',
    '- no response times: the authenticator covers the transmit timestamp, so the generator cannot number the requests;',
    `- load at the start: \`${upStart}\`; at the end: \`${upEnd}\`.`,
    '',
    'Rates tried (best trial per offered rate: loss / answered per second):',
    '',
  );
  for (const { result: r } of rows)
    lines.push(
      `- ${r.name}: ${r.ladder.map((s) => `${fmtRate(s.rate)} → ${(s.bestLoss * 100).toFixed(1)}% / ${fmtRate(s.answered)}`).join(', ')}`,
    );
  lines.push('');
  return lines.join('\n');
}

/** Replaces the `### NTS` part of `## Server throughput` in `doc` by `part` (appended to the section). */
export function replaceNtsPart(doc: string, part: string): string {
  const secStart = doc.search(/^## Server throughput\s*$/m);
  if (secStart < 0) return replaceDocSection(doc, '## Server throughput', `## Server throughput\n\n${part}`);
  const after = doc.slice(secStart + 1);
  const next = after.search(/^## /m);
  const secEnd = next < 0 ? doc.length : secStart + 1 + next;
  let sec = doc.slice(secStart, secEnd);
  const old = keptNtsPart(sec).trim();
  if (old !== '') sec = sec.replace(old, '');
  const tail = doc.slice(secEnd);
  return `${doc.slice(0, secStart)}${sec.trimEnd()}\n\n${part.trimEnd()}\n${tail.length > 0 ? `\n${tail}` : ''}`;
}

export async function runNts(o: Options): Promise<number> {
  const servers = o.serversGiven ? o.servers : ['ntpkit-batched', 'ntpkit', 'chronyd'];
  const upStart = uptime();
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-bench-nts-'));
  const pinned = which('taskset') && cpus().length >= 2;
  const rows: NtsRow[] = [];
  let h: NtsHandle | null = null;
  try {
    const bin = await buildCGenerator(dir);
    if (bin === null) throw new Error('--nts needs gcc for bench/loadgen.c');
    if (!which('openssl')) throw new Error('--nts needs openssl (a test certificate)');
    const c = await makeCert(dir);
    const pem = { key: c.keyPath, cert: c.certPath };
    for (const name of servers) {
      if (name === 'ntpkit-batched') h = await startNtpkit(dir, pinned, pem, 1);
      else if (name === 'ntpkit') h = await startNtpkit(dir, pinned, pem, 0);
      else if (name === 'chronyd') h = await startChronyd(dir, pinned, pem);
      else throw new Error(`unknown server ${name} for --nts (ntpkit-batched, ntpkit, chronyd)`);
      if (h === null) {
        process.stderr.write(`${name}: not available, skipped\n`);
        continue;
      }
      await sleep(500);
      const file = join(dir, `requests-${name}.bin`);
      const sizes = await prepareRequests(h, pem.cert, file);
      const base = cGenerator(bin, pinned, file);
      let naks = 0;
      let received = 0;
      const gen: Generator = async (rate, seconds, port) => {
        const t = await base(rate, seconds, port);
        naks += t.kod ?? 0;
        received += t.received;
        return t;
      };
      const result = await measure(h, gen, o, 5_000);
      rows.push({ result, sizes, naks, received });
      await h.stop();
      h = null;
    }
  } finally {
    await h?.stop();
  }
  const part = renderPart(rows, o, pinned, upStart, uptime());
  process.stdout.write(`${part}\n`);
  if (o.write) {
    const file = join(ROOT, 'docs', 'BENCHMARKS.md');
    const old = existsSync(file) ? await readFile(file, 'utf8') : '';
    await writeFile(file, replaceNtsPart(old, part));
    process.stderr.write(`written to ${file}\n`);
  }
  await rm(dir, { recursive: true, force: true });
  return 0;
}
