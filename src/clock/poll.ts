/** Adaptive poll interval for the clocks, after chrony's rule: the poll rises while the clock predicts its source well and falls on trouble. */

/**
 * A score accumulates adjustments; each whole unit moves the poll exponent by one within
 * [minpoll, maxpoll]. After a sample whose prediction error exceeds what the path allows (half its
 * delay plus its dispersion) the poll falls by log2(error / distance); otherwise it drifts towards the
 * poll at which the estimate holds `target` samples' worth of information: up by
 * (samples/target − 1)/target (at most 1), down twice as fast.
 */
export class PollAdapter {
  private score = 0;
  private exp: number;

  constructor(
    readonly minpoll: number,
    readonly maxpoll: number,
    readonly target = 8,
  ) {
    this.exp = minpoll;
  }

  /** The poll exponent asked for. */
  get exponent(): number {
    return this.exp;
  }

  /**
   * After a sample: `error` = |measured − predicted offset| (s), `distance` the largest error the
   * path explains (s), `samples` how many samples' worth the estimate holds.
   */
  sample(error: number, distance: number, samples: number): void {
    if (!Number.isFinite(error) || !Number.isFinite(samples)) return;
    if (distance > 0 && error > distance) {
      this.adjust(-Math.log2(error / distance));
      return;
    }
    let adj = (samples / this.target - 1) / this.target;
    if (samples < this.target) adj *= 2;
    // At most one step up per sample (chrony's 64-sample limit gives at most 7/8).
    this.adjust(Math.min(adj, 1));
  }

  /** Moves the score by `adj` (chrony's adjust_poll). */
  adjust(adj: number): void {
    this.score += adj;
    if (this.score >= 1) {
      const n = Math.floor(this.score);
      this.exp += n;
      this.score -= n;
    } else if (this.score < 0) {
      // Truncated towards zero, as chrony's integer conversion: a score in (−1, 0) moves the poll down
      // by one and leaves the score in (0, 1) (a floor moved it by two, and the next rise back up).
      const n = Math.trunc(this.score - 1);
      this.exp += n;
      this.score -= n;
    }
    if (this.exp < this.minpoll) {
      this.exp = this.minpoll;
      this.score = 0;
    } else if (this.exp > this.maxpoll) {
      this.exp = this.maxpoll;
      this.score = 1;
    }
  }

  /** Back to the minimum poll (after a step, a new source). */
  reset(): void {
    this.exp = this.minpoll;
    this.score = 0;
  }
}
