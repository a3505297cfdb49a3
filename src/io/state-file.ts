/**
 * Atomic state files: the frequency (drift) file and small JSON state.
 *
 * A write goes to a temporary file in the same directory, is fsync'ed, renamed over the target, and
 * the directory is fsync'ed: after a crash the file holds either the old or the new content, never a
 * torn one.
 *
 * The drift file holds the frequency correction in ppm as the first number of the first line, which
 * reads both ntpd's format ("-12.345") and chrony's ("-12.345 0.021": frequency and skew).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `data` to `path` atomically (temp file + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
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
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseDrift(text, path);
}

/** Writes the drift file atomically ("ppm" or "ppm skew", 6 decimals). */
export async function writeDriftFile(path: string, state: DriftState): Promise<void> {
  if (!Number.isFinite(state.ppm)) throw new RangeError(`not a frequency: ${state.ppm}`);
  const skew = state.skewPpm === undefined ? '' : ` ${state.skewPpm.toFixed(6)}`;
  await writeFileAtomic(path, `${state.ppm.toFixed(6)}${skew}\n`);
}

/** Reads JSON state; null when the file does not exist. */
export async function readJsonState(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Writes JSON state atomically. */
export async function writeJsonState(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
