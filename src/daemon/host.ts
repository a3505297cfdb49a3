/**
 * The host's primitives as the daemon hands them to the core: the raw counter, the wall clock, a
 * uniform random number from the CSPRNG, and name resolution.
 */
import { lookup } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RawTime } from '../clock/types.js';
import { clockReader } from '../io/ffi.js';
import { nodeRandomBytes } from '../io/nts-ke.js';

/** The raw counter while the host clock is not driven: process.hrtime (CLOCK_MONOTONIC). */
export function hrtime(): RawTime {
  return process.hrtime.bigint();
}

let realtimeNs: (() => bigint) | null | undefined;

/** Host wall time (Unix ns): clock_gettime(CLOCK_REALTIME) where FFI is available, else ~1 µs. */
export function wallUnixNs(): bigint {
  if (realtimeNs === undefined) realtimeNs = clockReader(0);
  if (realtimeNs !== null) return realtimeNs();
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.round(ms * 1e3)) * 1000n;
}

/** Uniform [0, 1) from the CSPRNG: the rate limiter's leak must not be predictable. */
export function cryptoRandom(): number {
  const b = nodeRandomBytes(4);
  const u = (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  return u / 4294967296;
}

/** node:dns lookup, every address in the resolver's order; an address literal is itself. */
export async function defaultResolve(host: string): Promise<string[]> {
  if (isIPv4(host) || isIPv6(host)) return [host];
  const r = await lookup(host, { all: true, verbatim: true });
  return r.map((a) => a.address);
}
