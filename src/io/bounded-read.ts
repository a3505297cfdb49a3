/**
 * Bounded file reads: every file ntpkit reads (config, keys, NTS keys and certificates, state and
 * drift files, the leap-second list) goes through `readFileBounded`, which never holds more than the
 * limit in memory and fails with an error naming the file, whether it is too large or endless
 * (`/dev/zero`).
 */
import type { Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { describeIoError } from './errno.js';

/** Limits used across the daemon, bytes. */
export const READ_LIMITS = {
  /** The TOML configuration file. */
  config: 1 << 20,
  /** An ntpd/chrony-style symmetric key file. */
  keys: 1 << 20,
  /** PEM certificates and private keys. */
  pem: 1 << 20,
  /** The state (drift) file and the NTS master key file. */
  state: 64 << 10,
  /** The leap-seconds.list (the real one is about 5 KiB). */
  leapList: 256 << 10,
  /** A simulator scenario. */
  scenario: 1 << 20,
  /** A recorded trace or NMEA capture read by the CLI (replay, refclock nmea). */
  trace: 256 << 20,
} as const;

/** A failed bounded read. `code` is the errno code (ENOENT, EACCES, EISDIR, ...) or FILE_TOO_LARGE. */
export class BoundedReadError extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
    /** The reason without the file name. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'BoundedReadError';
  }
}

const CHUNK = 64 << 10;

function kindOf(st: Stats): string {
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function limitText(n: number): string {
  if (n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

function ioError(file: string, e: unknown): BoundedReadError {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : 'EIO';
  return new BoundedReadError(file, code, describeIoError(e));
}

/**
 * Reads at most `maxBytes` of `file`; throws `BoundedReadError` if it has more (read stops at
 * `maxBytes + 1`, so a device or pipe that never ends costs no more memory than that) or cannot be read.
 */
export async function readFileBounded(file: string, maxBytes: number): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw ioError(file, e);
  }
  try {
    let st: Stats;
    try {
      st = await fh.stat();
    } catch (e) {
      throw ioError(file, e);
    }
    if (st.isDirectory()) throw new BoundedReadError(file, 'EISDIR', 'is a directory');
    const tooLarge = (what: string) =>
      new BoundedReadError(file, 'FILE_TOO_LARGE', `${what} larger than the ${limitText(maxBytes)} limit`);
    if (st.isFile() && st.size > maxBytes) throw tooLarge(`${st.size} bytes,`);
    // Chunks up to maxBytes + 1 in all: one byte more than allowed proves the file too large.
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const chunk = Buffer.alloc(Math.min(CHUNK, maxBytes + 1 - total));
      let got: number;
      try {
        got = (await fh.read(chunk, 0, chunk.length, null)).bytesRead;
      } catch (e) {
        throw ioError(file, e);
      }
      if (got === 0) break;
      chunks.push(chunk.subarray(0, got));
      total += got;
    }
    if (total > maxBytes) throw tooLarge(st.isFile() ? 'grew while read,' : `${kindOf(st)},`);
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close().catch(() => {});
  }
}

/** `readFileBounded` decoded as UTF-8. */
export async function readTextBounded(file: string, maxBytes: number): Promise<string> {
  return (await readFileBounded(file, maxBytes)).toString('utf8');
}

/** `readTextBounded`, but null when the file does not exist. */
export async function readTextIfExists(file: string, maxBytes: number): Promise<string | null> {
  try {
    return await readTextBounded(file, maxBytes);
  } catch (e) {
    if (e instanceof BoundedReadError && e.code === 'ENOENT') return null;
    throw e;
  }
}
