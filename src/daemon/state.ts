/**
 * The drift/state file: what survives a restart (the frequency correction, like ntpd's drift file).
 * JSON, written atomically (temporary file + fsync + rename), so a crash never leaves half a file.
 */
import { READ_LIMITS, readTextIfExists } from '../io/bounded-read.js';
import { keepCorrupt, removeStaleTemps, writeFileAtomic } from '../io/state-file.js';
import type { Logger } from './log.js';

export interface DaemonState {
  version: 1;
  discipline: 'rfc5905' | 'feedforward';
  /** Frequency correction of the software clock, ppm. */
  frequencyPpm: number;
  /** Unix seconds when written. */
  savedAt: number;
  /** Whether the clock was synchronised when written. */
  synchronised: boolean;
}

/** The state in a state file's text, or why it is none. */
export function parseStateFile(
  text: string,
): { ok: true; state: DaemonState } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { ok: false, reason: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  const f = o.frequencyPpm;
  if (typeof f !== 'number' || !Number.isFinite(f) || Math.abs(f) > 500)
    return { ok: false, reason: 'frequencyPpm missing or beyond ±500 ppm' };
  return {
    ok: true,
    state: {
      version: 1,
      discipline: o.discipline === 'feedforward' ? 'feedforward' : 'rfc5905',
      frequencyPpm: f,
      savedAt: typeof o.savedAt === 'number' ? o.savedAt : 0,
      synchronised: o.synchronised === true,
    },
  };
}

/** Reads the state file; null when missing or unusable. */
export async function readStateFile(path: string): Promise<DaemonState | null> {
  try {
    const text = await readTextIfExists(path, READ_LIMITS.state);
    if (text === null) return null;
    const p = parseStateFile(text);
    return p.ok ? p.state : null;
  } catch {
    return null;
  }
}

/**
 * The daemon's start-up read: removes temporary files that killed writes left behind, reads the
 * state, and when the file is there but unusable (truncated, corrupt, too large) warns, moves it
 * aside to `PATH.corrupt-TIME` (a regular file only) and returns null; it is overwritten later.
 */
export async function loadStateFile(path: string, log: Logger): Promise<DaemonState | null> {
  const stale = await removeStaleTemps(path);
  if (stale.length > 0)
    log.info('removed temporary files of interrupted state writes', { file: path, stale });
  let reason: string;
  try {
    const text = await readTextIfExists(path, READ_LIMITS.state);
    if (text === null) {
      log.info('no state file yet', { file: path });
      return null;
    }
    const p = parseStateFile(text);
    if (p.ok) {
      log.info('state file read', { file: path, frequencyPpm: p.state.frequencyPpm });
      return p.state;
    }
    reason = p.reason;
  } catch (e) {
    reason = e instanceof Error ? e.message : String(e);
  }
  const copy = await keepCorrupt(path);
  log.warn('state file unusable; starting without it, it will be overwritten', {
    file: path,
    reason,
    keptAs: copy ?? undefined,
  });
  return null;
}

/** Writes the state file atomically (src/io/state-file.ts: temp file, fsync, rename, directory fsync). */
export async function writeStateFile(path: string, state: DaemonState): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`);
}
