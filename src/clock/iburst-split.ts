/**
 * The iburst split (`Discipline.iburstHeld`): at long polls on a queueing path some of the iburst's
 * requests go to the first regular poll instead. See docs/clocks.md ("Start-up at long polls").
 *
 * An iburst spans seconds: on a path whose queueing spreads its round trips by a millisecond (WAN) its
 * rate errs by tens of ppm, tens of ms at the first regular poll 1,024 s later, so that exchange alone
 * sets the rate (over the poll) and the phase. Its phase error e1 against the iburst's e0 leaves the
 * rate off by (e1 − e0)/poll, and the error at the next poll is about 2·e1 − e0: one WAN exchange
 * (σ ≈ 0.7 ms) exceeds 1 ms there in about half of the runs. The least queued of a burst of four errs
 * far less. On a LAN path the whole iburst's rate is kept (a server's clients follow its time before
 * its second poll: stratum-chain).
 */

/** From this poll (s) on. */
export const SPLIT_POLL_SECONDS = 512;
/** The spread of the first samples' round trips (max − min, s) above which the path queues. */
export const SPLIT_SPREAD = 500e-6;
/** Requests held back (of the six): three before, four at the first regular poll. */
export const SPLIT_HELD = 3;

/** Requests of the iburst to hold back, given the poll (s) and the round trips of its first samples (s). */
export function iburstHeld(pollSeconds: number, delays: readonly number[]): number {
  if (pollSeconds < SPLIT_POLL_SECONDS || delays.length === 0) return 0;
  return Math.max(...delays) - Math.min(...delays) > SPLIT_SPREAD ? SPLIT_HELD : 0;
}
