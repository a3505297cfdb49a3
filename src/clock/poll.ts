/** Adaptive poll interval for the clocks, after chrony's rule: the poll rises while the clock predicts its source well and falls on trouble. */

/**
 * A score accumulates adjustments; each whole unit moves the poll exponent by one within
 * [minpoll, maxpoll]. After a sample whose prediction error exceeds what the path allows (half its
 * delay plus its dispersion) the poll falls by log2(error / distance); otherwise it drifts towards the
 * poll at which the estimate holds `target` samples' worth of information: up by
 * (samples/target − 1)/target (at most 1), down twice as fast. A clock that reports how many polls
 * went unanswered (`answered`) also gets a ceiling on a lossy path: maxpoll bounds the interval
 * between samples, not between requests.
 */
/** Weight of the previous samples in the answered fraction, per sample (about the last five count). */
const ANSWER_DECAY = 0.8;

/** `hold`: the history (in maxpoll intervals) a noise-limited path needs before the poll reaches maxpoll. */
const HOLD_SPAN = 10;

/**
 * `hold`: the poll interval stays at most 1/SPAN_RATIO of the path history's span. The next exchange
 * is predicted from the frequency the history gives; predicting further ahead than half its base
 * extrapolates that frequency's error over more than the span it was measured on (wan at the
 * defaults, seeds 1 and 4: the poll had reached 512 s after 530 and 670 s).
 */
const SPAN_RATIO = 2;

export class PollAdapter {
  private score = 0;
  private exp: number;
  /** Samples received and polls made (each weighted by ANSWER_DECAY per sample since), and the ceiling they set. */
  private got = 0;
  private asked = 0;
  private lossCeiling: number;
  /** Held one below maxpoll (`hold`), and the highest exponent the history's span allows. */
  private held = false;
  private spanCeiling = Number.POSITIVE_INFINITY;

  constructor(
    readonly minpoll: number,
    readonly maxpoll: number,
    readonly target = 8,
  ) {
    this.exp = minpoll;
    this.lossCeiling = maxpoll;
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

  /**
   * A sample came after `missed` polls without a response. With a fraction r of the polls answered
   * the samples come 1/r polls apart on average: the poll stays at or below maxpoll + round(log2 r)
   * (30 % loss each way answers about half of them: at most 2^(maxpoll − 1)).
   */
  answered(missed: number): void {
    this.got = this.got * ANSWER_DECAY + 1;
    this.asked = this.asked * ANSWER_DECAY + 1 + Math.max(0, missed);
    this.lossCeiling = this.maxpoll + Math.round(Math.log2(this.got / this.asked));
    this.adjust(0);
  }

  /**
   * Before a sample: the path's history is `age` s long, and the estimate predicts the offset one
   * maxpoll ahead to `samplesAtMax` median exchanges' worth. While that is `target` or more (the
   * path's noise, not the counter's wander, limits the estimate even at maxpoll: every exchange still
   * improves it, and the rule of `sample` alone would take the poll to maxpoll) and the history spans
   * fewer than HOLD_SPAN maxpoll intervals, the poll stays one below maxpoll (wan at the defaults:
   * about 2.8 h at 512 s instead of 1,024 s from 1,500–3,000 s on). The threshold is the target, not
   * more: at 3.5 samples' worth (before) the test failed at times in the first hours on wan, and the
   * poll went to 1,024 s for a while (seeds 2 and 4: at 2,064–2,592 s and 3,504–4,016 s); seeds
   * 1–40, median RMS 172 µs at 43 requests, with the target and the span ceiling 152 µs at 45. The poll
   * also stays at or below the history's span / SPAN_RATIO.
   */
  hold(age: number, samplesAtMax: number): void {
    this.held = age < HOLD_SPAN * 2 ** this.maxpoll && samplesAtMax >= this.target;
    this.spanCeiling = age > 0 ? Math.floor(Math.log2(age / SPAN_RATIO)) : this.minpoll;
    this.adjust(0);
  }

  /** The highest exponent allowed now: maxpoll, lower on a lossy path, while held or on a short history. */
  private get ceiling(): number {
    const top = this.held ? this.maxpoll - 1 : this.maxpoll;
    return Math.max(this.minpoll, Math.min(top, this.lossCeiling, this.spanCeiling));
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
    } else if (this.exp > this.ceiling) {
      this.exp = this.ceiling;
      this.score = 1;
    }
  }

  /** Back to the minimum poll (after a step, a new source). */
  reset(): void {
    this.exp = this.minpoll;
    this.score = 0;
    this.got = 0;
    this.asked = 0;
    this.lossCeiling = this.maxpoll;
    this.held = false;
    this.spanCeiling = Number.POSITIVE_INFINITY;
  }
}
