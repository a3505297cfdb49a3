/**
 * Loads the leap-second list for the daemon: `[clock] leap-file`, or the system's list when none is
 * configured and it exists. The read is bounded; problems come back as messages naming the file.
 */
import { open } from 'node:fs/promises';
import { DEFAULT_LEAP_FILE } from '../config/types.js';
import { LEAP_LIST_MAX_BYTES, type LeapList, LeapListError, parseLeapList } from '../time/leap-list.js';
import type { CryptoProvider } from '../wire/crypto.js';

export type LeapFileResult =
  /** The list, or null: none configured and no system list. */
  { ok: true; list: LeapList | null; file: string | null } | { ok: false; file: string; error: string };

/** Reads at most `max` bytes of `path`; longer files are an error. */
async function readBounded(path: string, max: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > max) throw new LeapListError(path, 0, `larger than ${max} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * `configured`: the `leap-file` setting (null: the system's list if present, "none": no list).
 * `systemFile` is for tests.
 */
export async function loadLeapFile(
  configured: string | null | undefined,
  crypto: CryptoProvider,
  systemFile = DEFAULT_LEAP_FILE,
): Promise<LeapFileResult> {
  if (configured === 'none') return { ok: true, list: null, file: null };
  const file = configured ?? systemFile;
  let text: string;
  try {
    text = await readBounded(file, LEAP_LIST_MAX_BYTES);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && (configured === null || configured === undefined))
      return { ok: true, list: null, file: null };
    const why =
      e instanceof LeapListError
        ? e.message
        : code === 'ENOENT'
          ? `${file}: no such file`
          : `${file}: ${String(e)}`;
    return { ok: false, file, error: `leap-file ${why}` };
  }
  try {
    return { ok: true, list: parseLeapList(text, crypto, file), file };
  } catch (e) {
    return { ok: false, file, error: `leap-file ${e instanceof Error ? e.message : String(e)}` };
  }
}
