/**
 * The drift/state file: what survives a restart (the frequency correction, like ntpd's drift file).
 * JSON, written atomically (temporary file + fsync + rename), so a crash never leaves half a file.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../io/state-file.js';

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

/** Reads the state file; null when missing or unreadable (logged by the caller). */
export async function readStateFile(path: string): Promise<DaemonState | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return null;
    const o = v as Record<string, unknown>;
    const f = o.frequencyPpm;
    if (typeof f !== 'number' || !Number.isFinite(f) || Math.abs(f) > 500) return null;
    return {
      version: 1,
      discipline: o.discipline === 'feedforward' ? 'feedforward' : 'rfc5905',
      frequencyPpm: f,
      savedAt: typeof o.savedAt === 'number' ? o.savedAt : 0,
      synchronised: o.synchronised === true,
    };
  } catch {
    return null;
  }
}

/** Writes the state file atomically (src/io/state-file.ts: temp file, fsync, rename, directory fsync). */
export async function writeStateFile(path: string, state: DaemonState): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`);
}
