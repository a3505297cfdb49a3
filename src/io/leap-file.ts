/**
 * Loads the leap-second list for the daemon: `[clock] leap-file`, or the system's list when none is
 * configured and it exists. The read goes through the shared bounded reader (bounded-read.ts);
 * problems come back as messages naming the file.
 */
import { DEFAULT_LEAP_FILE } from '../config/types.js';
import { type LeapList, leapListExpired, parseLeapList } from '../time/leap-list.js';
import type { NtpTime } from '../time/ntp-time.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { BoundedReadError, READ_LIMITS, readTextBounded } from './bounded-read.js';

export type LeapFileResult =
  /**
   * The list, or null: none configured and no system list. `expired`: the list had expired at the
   * `now` given to `loadLeapFile` (it is kept, but the vote does not trust it: warn).
   */
  | { ok: true; list: LeapList | null; file: string | null; expired: boolean }
  | { ok: false; file: string; error: string };

/**
 * `configured`: the `leap-file` setting (null: the system's list if present, "none": no list).
 * `now`: the time to judge the expiry by (omitted: not judged). `systemFile` and `maxBytes` are for tests.
 */
export async function loadLeapFile(
  configured: string | null | undefined,
  crypto: CryptoProvider,
  opts: { now?: NtpTime; systemFile?: string; maxBytes?: number } = {},
): Promise<LeapFileResult> {
  if (configured === 'none') return { ok: true, list: null, file: null, expired: false };
  const system = configured === null || configured === undefined;
  const file = system ? (opts.systemFile ?? DEFAULT_LEAP_FILE) : configured;
  let text: string;
  try {
    text = await readTextBounded(file, opts.maxBytes ?? READ_LIMITS.leapList);
  } catch (e) {
    // No system list is no error: the vote then goes by the network alone.
    if (e instanceof BoundedReadError && e.code === 'ENOENT' && system)
      return { ok: true, list: null, file: null, expired: false };
    return { ok: false, file, error: `leap-file ${e instanceof Error ? e.message : String(e)}` };
  }
  try {
    const list = parseLeapList(text, crypto, file);
    return { ok: true, list, file, expired: opts.now !== undefined && leapListExpired(list, opts.now) };
  } catch (e) {
    return { ok: false, file, error: `leap-file ${e instanceof Error ? e.message : String(e)}` };
  }
}
