/** Reads the raw counter and the host's wall clock as one pair, close together in time. */

/**
 * The counter (`raw`) and the wall clock (`wall`, Unix ns) read back to back, retried until both
 * readings fall within `maxGapNs` of counter time (or `tries` attempts, keeping the closest): a
 * preempted process or the first, lazy call of an FFI reader could otherwise put milliseconds between
 * them, and a software clock started from such a pair serves the host's time that much off.
 */
export function readWallPair(
  raw: () => bigint,
  wall: () => bigint,
  maxGapNs = 20_000n,
  tries = 16,
): { raw: bigint; realtime: bigint } {
  wall();
  let best: { raw: bigint; realtime: bigint; gap: bigint } | null = null;
  for (let i = 0; i < tries; i++) {
    const a = raw();
    const w = wall();
    const gap = raw() - a;
    if (best === null || gap < best.gap) best = { raw: a + gap / 2n, realtime: w, gap };
    if (gap <= maxGapNs) break;
  }
  return best === null ? { raw: raw(), realtime: wall() } : { raw: best.raw, realtime: best.realtime };
}
