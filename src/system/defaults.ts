/**
 * Default configuration of the engine and of its sources (RFC 5905 and chrony values): the one
 * source of truth that src/config/parse.ts reads for the keys a file leaves out.
 */
import type { BroadcastConfig, SourceConfig, SourceMode, SystemConfig } from './types.js';

/** Stratum served by `[local]` when it names none (chrony `local` without `stratum`). */
export const DEFAULT_LOCAL_STRATUM = 10;

/** Defaults as RFC 5905 and chrony use them. */
export function defaultSystemConfig(): SystemConfig {
  return {
    minSane: 1,
    minClock: 3,
    maxClock: 10,
    maxDistance: 1.5,
    maxStratum: 16,
    localStratum: null,
    precision: -20,
    huffPuff: 0,
    allowPassive: false,
    broadcastClient: false,
    requireAuthForMobilise: true,
    interleavedTableSize: 1024,
    keys: [],
    broadcast: [],
  };
}

export function defaultSourceConfig(address: string, port = 123, mode: SourceMode = 'server'): SourceConfig {
  return {
    address,
    port,
    mode,
    minpoll: 6,
    maxpoll: 10,
    iburst: false,
    burst: false,
    prefer: false,
    noselect: false,
    xleave: false,
    version: 4,
  };
}

/** A broadcast server association to `address` (every 2^6 s, basic mode, no key). */
export function defaultBroadcastConfig(address: string, port = 123): BroadcastConfig {
  return { address, port, poll: 6, xleave: false };
}

/** `base`, or `base#n` with the smallest n ≥ 2 not taken. */
export function uniqueId(base: string, taken: (id: string) => boolean): string {
  if (!taken(base)) return base;
  let n = 2;
  while (taken(`${base}#${n}`)) n++;
  return `${base}#${n}`;
}

/** Default random bytes drawn from a uniform `random` (fine for the simulator, not for a real NTS deployment). */
export function bytesFromRandom(random: () => number): (n: number) => Uint8Array {
  return (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256) & 0xff;
    return b;
  };
}
