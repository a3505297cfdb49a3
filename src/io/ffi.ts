/**
 * The one place that loads koffi and the C library. Every Linux-only I/O module (PPS, SHM, kernel
 * socket timestamps) declares the functions it needs through `libc()`, which is null where FFI is
 * not available (not Linux, koffi missing, no glibc): the callers then fall back or report it.
 */
import { createRequire } from 'node:module';

/** The part of koffi's API that ntpkit uses. */
export interface Koffi {
  load(path: string): { func(def: string): unknown };
  struct(name: string, def: Record<string, unknown>): unknown;
  alloc(type: string, count: number): unknown;
  view(ptr: unknown, len: number): ArrayBuffer;
  address(ptr: unknown): bigint;
  errno(): number;
}

export interface Libc {
  koffi: Koffi;
  /** Declares a C function of libc.so.6 from its prototype. */
  func<F>(prototype: string): F;
}

let loaded: Libc | null | undefined;

export function libc(): Libc | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== 'linux') return loaded;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    loaded = { koffi, func: <F>(prototype: string) => lib.func(prototype) as F };
  } catch {
    loaded = null;
  }
  return loaded;
}

/** A reader of one POSIX clock in nanoseconds (CLOCK_REALTIME = 0), or null without FFI. */
export function clockReader(clock: number): (() => bigint) | null {
  const c = libc();
  if (c === null) return null;
  const gettime = c.func<(clk: number, ts: Uint8Array) => number>(
    'int clock_gettime(int clk, _Out_ uint8_t *ts)',
  );
  const buf = new Uint8Array(16);
  const view = new DataView(buf.buffer);
  return () => {
    if (gettime(clock, buf) !== 0) throw new Error(`clock_gettime(${clock}) failed`);
    return view.getBigInt64(0, true) * 1_000_000_000n + view.getBigInt64(8, true);
  };
}
