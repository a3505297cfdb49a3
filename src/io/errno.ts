/** Names and messages for C errno values (from FFI calls), so that logs read "ENOENT (no such file or directory)". */
import { getSystemErrorMap } from 'node:util';

let map: Map<number, [string, string]> | undefined;

/** The symbolic name of errno `n` (e.g. 'ENOENT'), or `errno N` when unknown. */
export function errnoName(n: number): string {
  map ??= getSystemErrorMap();
  return map.get(-Math.abs(n))?.[0] ?? `errno ${n}`;
}

/** "ENOENT (no such file or directory)" for errno `n`. */
export function errnoText(n: number): string {
  map ??= getSystemErrorMap();
  const e = map.get(-Math.abs(n));
  return e === undefined ? `errno ${n}` : `${e[0]} (${e[1]})`;
}

/**
 * A readable line for a Node fs/net error: "no such file or directory (ENOENT)" instead of
 * "ENOENT: no such file or directory, open '/x'" (the path is named by the caller).
 */
export function describeIoError(e: unknown): string {
  const x = e as NodeJS.ErrnoException;
  if (typeof x?.errno === 'number') {
    map ??= getSystemErrorMap();
    const m = map.get(x.errno);
    if (m !== undefined) return `${m[1]} (${m[0]})`;
  }
  return e instanceof Error ? e.message : String(e);
}
