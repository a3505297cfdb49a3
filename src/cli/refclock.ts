/**
 * `ntpkit refclock`: look at reference clock inputs without running the daemon.
 *
 *   ntpkit refclock shm [UNIT] [--count N] [--interval S] [--json]
 *       Shows the ntpd SHM segment of UNIT (default 0) as gpsd/phc2sys wrote it: mode, count, valid,
 *       the reference and receive times and their difference. It only peeks: `valid` is not cleared,
 *       so a running chronyd/ntpd/ntpkit still gets every sample.
 *   ntpkit refclock nmea [FILE]
 *       Parses NMEA sentences (RMC/ZDA) from FILE or stdin and prints the time or the error of each.
 *   ntpkit refclock pps DEVICE
 *       Reads the latest pulse of a PPS device (/dev/ppsN).
 */
import { READ_LIMITS, readFileBounded } from '../io/bounded-read.js';
import { openPps } from '../io/pps.js';
import { attachShm } from '../io/shm.js';
import { parseNmea } from '../refclock/nmea.js';
import { decodeShmTime, shmKey } from '../refclock/shm-struct.js';
import { formatUnixNs } from '../time/ntp-time.js';

const USAGE = `usage: ntpkit refclock shm [UNIT] [--count N] [--interval S] [--json]
       ntpkit refclock nmea [FILE]
       ntpkit refclock pps DEVICE`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function shm(args: string[]): Promise<number> {
  let unit = 0;
  let count = 1;
  let interval = 1;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--count') count = Number(args[++i]);
    else if (a === '--interval') interval = Number(args[++i]);
    else if (a === '--json') json = true;
    else if (/^\d+$/.test(a)) unit = Number(a);
    else {
      process.stderr.write(`unknown argument ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  if (!(count >= 1) || !(interval > 0)) {
    process.stderr.write(`--count needs ≥ 1 and --interval > 0\n${USAGE}\n`);
    return 2;
  }
  const a = attachShm(unit, { create: false });
  if (!a.ok) {
    const hint = a.error.code === 'shmget' ? ' (no writer has created it yet?)' : '';
    process.stderr.write(
      `SHM unit ${unit} (key 0x${shmKey(unit).toString(16)}): ${a.error.message}${hint}\n`,
    );
    return 1;
  }
  try {
    for (let n = 0; n < count; n++) {
      if (n > 0) await sleep(interval * 1000);
      const t = decodeShmTime(a.segment.view);
      const useNs =
        Math.floor(t.clockNsec / 1000) === t.clockUsec && Math.floor(t.receiveNsec / 1000) === t.receiveUsec;
      const clockNs = t.clockSec * 1_000_000_000n + BigInt(useNs ? t.clockNsec : t.clockUsec * 1000);
      const recvNs = t.receiveSec * 1_000_000_000n + BigInt(useNs ? t.receiveNsec : t.receiveUsec * 1000);
      const offset = Number(clockNs - recvNs) / 1e9;
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ unit, mode: t.mode, count: t.count, valid: t.valid, leap: t.leap, precision: t.precision, clock: Number(clockNs) / 1e9, receive: Number(recvNs) / 1e9, offset })}\n`,
        );
      } else {
        process.stdout.write(
          `unit ${unit} mode ${t.mode} count ${t.count} valid ${t.valid} leap ${t.leap} precision ${t.precision}\n` +
            `  reference ${formatUnixNs(clockNs)}\n  receive   ${formatUnixNs(recvNs)}\n` +
            `  reference − receive ${(offset * 1e3).toFixed(6)} ms\n`,
        );
      }
    }
  } finally {
    a.segment.detach();
  }
  return 0;
}

async function nmea(args: string[]): Promise<number> {
  const file = args[0];
  const text =
    file === undefined || file === '-'
      ? await readStdin()
      : (await readFileBounded(file, READ_LIMITS.trace)).toString('latin1');
  let bad = 0;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const r = parseNmea(line);
    if (r.ok)
      process.stdout.write(
        `${r.time.talker}${r.time.sentence} ${formatUnixNs(r.time.unixNs, 3)} ${r.time.valid ? 'valid' : 'NOT valid'}\n`,
      );
    else {
      if (r.error.code !== 'unsupported') bad++;
      process.stdout.write(`${r.error.code}: ${r.error.message}\n`);
    }
  }
  return bad > 0 ? 1 : 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('latin1');
}

function pps(args: string[]): number {
  const dev = args[0];
  if (dev === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const o = openPps(dev);
  if (!o.ok) {
    process.stderr.write(`${dev}: ${o.error.message}\n`);
    return 1;
  }
  const f = o.device.fetch();
  o.device.close();
  if (!f.ok) {
    process.stderr.write(`${dev}: ${f.error.message}\n`);
    return 1;
  }
  process.stdout.write(
    `assert #${f.fetch.assertSequence} ${formatUnixNs(f.fetch.assertNs)}\nclear  #${f.fetch.clearSequence} ${formatUnixNs(f.fetch.clearNs)}\n`,
  );
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'shm':
      return shm(rest);
    case 'nmea':
      return nmea(rest);
    case 'pps':
      return pps(rest);
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown refclock command ${sub}\n${USAGE}\n`);
      return 2;
  }
}
