/**
 * Atomic state files: the frequency (drift) file and small JSON state.
 *
 * A write goes to a temporary file in the same directory, is fsync'ed, renamed over the target, and
 * the directory is fsync'ed: after a crash the file holds either the old or the new content, never a
 * torn one. A write killed midway leaves its temporary file (`.NAME.PID.RANDOM.tmp`), which
 * `removeStaleTemps` removes at the next start; a corrupt file is moved aside (`keepCorrupt`) before it
 * is overwritten. A target that exists and is not a regular file (a device, say) is never replaced.
 *
 * The drift file holds the frequency correction in ppm as the first number of the first line, which
 * reads both ntpd's format ("-12.345") and chrony's ("-12.345 0.021": frequency and skew).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { READ_LIMITS, readTextIfExists } from './bounded-read.js';

/** The temporary files of atomic writes to `path`: `.NAME.PID.HEX.tmp` in its directory. */
function tempPattern(path: string): RegExp {
  const name = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${name}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false; // at start nothing of ours is being written yet
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files that atomic writes to `path` left behind when killed midway (those of a
 * process that is gone, or older than `maxAgeMs`); returns the names removed. Never throws.
 */
export async function removeStaleTemps(path: string, maxAgeMs = 60_000): Promise<string[]> {
  const dir = dirname(path);
  const re = tempPattern(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (m === null) continue;
    const f = join(dir, n);
    try {
      const st = await lstat(f);
      if (!st.isFile()) continue;
      if (processAlive(Number(m[1])) && Date.now() - st.mtimeMs < maxAgeMs) continue;
      await unlink(f);
      removed.push(n);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/**
 * Moves a corrupt file aside to `PATH.corrupt-YYYYMMDDTHHMMSSZ` (only a regular file), so that what
 * it held is kept when the daemon overwrites it; returns the new name, or null when nothing was moved.
 */
export async function keepCorrupt(path: string, now = new Date()): Promise<string | null> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) return null;
    const stamp = now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const copy = `${path}.corrupt-${stamp}`;
    await rename(path, copy);
    return copy;
  } catch {
    return null;
  }
}

/** Writes `data` to `path` atomically (temp file + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const existing = await lstat(path).catch(() => null);
  if (existing !== null && !existing.isFile() && !existing.isSymbolicLink())
    throw new Error(`${path}: not a regular file; not replacing it`);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // Make the rename itself durable (not supported everywhere: best effort).
  try {
    const d = await open(dir, constants.O_RDONLY);
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* directory fsync unsupported */
  }
}

export interface DriftState {
  /** Frequency correction, ppm. */
  ppm: number;
  /** Optional second number (chrony's skew, ppm). */
  skewPpm?: number;
}

/** Parses drift file text. Throws with `name` in the message when it is not a drift file. */
export function parseDrift(text: string, name = 'drift file'): DriftState {
  const line = text.split('\n', 1)[0]?.trim() ?? '';
  const parts = line.split(/\s+/).filter((s) => s !== '');
  const ppm = Number(parts[0]);
  if (parts.length === 0 || !Number.isFinite(ppm)) {
    throw new Error(`${name}: line 1: expected a frequency in ppm, found '${line.slice(0, 40)}'`);
  }
  if (Math.abs(ppm) > 500) throw new Error(`${name}: line 1: frequency ${ppm} ppm is beyond ±500 ppm`);
  const skew = parts[1] === undefined ? undefined : Number(parts[1]);
  return skew !== undefined && Number.isFinite(skew) ? { ppm, skewPpm: skew } : { ppm };
}

/** Reads the drift file; null when it does not exist. */
export async function readDriftFile(path: string): Promise<DriftState | null> {
  const text = await readTextIfExists(path, READ_LIMITS.state);
  return text === null ? null : parseDrift(text, path);
}

/** Writes the drift file atomically ("ppm" or "ppm skew", 6 decimals). */
export async function writeDriftFile(path: string, state: DriftState): Promise<void> {
  if (!Number.isFinite(state.ppm)) throw new RangeError(`not a frequency: ${state.ppm}`);
  const skew = state.skewPpm === undefined ? '' : ` ${state.skewPpm.toFixed(6)}`;
  await writeFileAtomic(path, `${state.ppm.toFixed(6)}${skew}\n`);
}

/** Reads JSON state; null when the file does not exist. */
export async function readJsonState(path: string): Promise<unknown> {
  const text = await readTextIfExists(path, READ_LIMITS.state);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Writes JSON state atomically. */
export async function writeJsonState(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
