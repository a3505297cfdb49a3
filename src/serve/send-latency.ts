/**
 * Transmit-time compensation for basic-mode server replies.
 *
 * A basic-mode reply must carry its transmit timestamp (T3) inside itself, so T3 is a clock reading
 * taken before the datagram leaves. On a host where the kernel stamps sent datagrams, the time from
 * that reading to the kernel's transmit stamp can be measured: it is what the send path of the
 * runtime and the kernel costs, tens of microseconds after the process has been idle, a few when
 * it is busy. Uncorrected, every T3 is early by that much, and a basic-mode client sees the server
 * half of it behind and the round trip that much longer.
 *
 * The estimator measures the sends (all of them below 1000 per second, one per `minIntervalNs`
 * above: a sparser sample is biased, since the slow sends of a freshly started process would then
 * stay in the window long after they stopped happening) and proposes a low quantile of the recent
 * latencies as the amount to add to the reading that becomes T3. A low quantile rather than the
 * mean: clients that keep the lowest-delay sample of several (RFC 5905's clock filter, chrony's)
 * prefer the replies that left quickest, and those are the ones it corrects best; replies that left
 * later than the quantile are still early, by less than before.
 *
 * Sans-IO: the caller reads the clocks and supplies the kernel's stamps.
 */

export interface SendLatencyOptions {
  /** Latencies kept (the most recent). */
  window: number;
  /** The quantile of the kept latencies proposed as the compensation, in [0, 1]. */
  quantile: number;
  /** After `warmup` samples, at most one send per this interval is measured (ns). */
  minIntervalNs: bigint;
  /** Sends measured back to back before the interval applies. */
  warmup: number;
  /** Upper bound of the compensation (ns); latencies above 10 ms are never believed. */
  maxNs: number;
}

export const DEFAULT_SEND_LATENCY: SendLatencyOptions = {
  window: 32,
  quantile: 0.25,
  minIntervalNs: 1_000_000n,
  warmup: 8,
  maxNs: 500_000,
};

/** Samples needed before any compensation is proposed. */
const MIN_SAMPLES = 4;
const MAX_BELIEVABLE_NS = 10_000_000;

export interface SendLatencyStats {
  /** Sends measured so far. */
  samples: number;
  /** The compensation currently added to basic-mode transmit timestamps (ns), 0 until known. */
  compensationNs: number;
  /** The median of the kept latencies (ns), null before any. */
  medianNs: number | null;
}

export class SendLatency {
  private readonly kept: number[] = [];
  /** Raw time of the last measured send (ns, as a number: the worker threads count in numbers). */
  private lastSampleAt: number | null = null;
  private samples = 0;
  private compensation = 0;
  private median: number | null = null;

  constructor(private readonly opts: SendLatencyOptions = DEFAULT_SEND_LATENCY) {}

  /** Whether the send whose T3 was read at raw time `at` (ns) should be measured. */
  wantSample(at: bigint | number): boolean {
    if (this.kept.length < this.opts.warmup || this.lastSampleAt === null) return true;
    const t = Number(at);
    return t - this.lastSampleAt >= Number(this.opts.minIntervalNs) || t < this.lastSampleAt;
  }

  /** Marks the send read at `at` (ns) as measured (its result comes later through `add`). */
  begin(at: bigint | number): void {
    this.lastSampleAt = Number(at);
  }

  /**
   * One measured latency: the kernel's transmit stamp minus the reading that became T3 (ns), both
   * on the raw counter, taken without any compensation applied. Negative or absurd values are ignored.
   */
  add(latencyNs: number): void {
    if (!Number.isFinite(latencyNs) || latencyNs < 0 || latencyNs > MAX_BELIEVABLE_NS) return;
    this.samples++;
    this.kept.push(latencyNs);
    if (this.kept.length > this.opts.window) this.kept.shift();
    if (this.kept.length < MIN_SAMPLES) return;
    // Under load the quantile is taken every fourth sample: sorting the window is the costly part.
    if (this.kept.length === this.opts.window && this.samples % 4 !== 0) return;
    const sorted = [...this.kept].sort((a, b) => a - b);
    const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] ?? 0;
    this.median = pick(0.5);
    this.compensation = Math.min(this.opts.maxNs, Math.round(pick(this.opts.quantile)));
  }

  /** Nanoseconds to add to the clock reading that becomes a basic-mode T3. */
  compensationNs(): number {
    return this.compensation;
  }

  stats(): SendLatencyStats {
    return { samples: this.samples, compensationNs: this.compensation, medianNs: this.median };
  }
}
