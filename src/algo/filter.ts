/**
 * The clock filter algorithm (RFC 5905 section 10, Appendix A.5.2 clock_filter()).
 *
 * Eight stages of (offset, delay, dispersion, epoch) are kept, newest first. Each stage's dispersion
 * grows at PHI s/s as it ages. On every new sample the stages are sorted by delay (samples older than
 * the Allan intercept last, as in ntpd); the lowest-delay stage gives the peer offset and delay, the
 * dispersion is the weighted sum
 *   ε = Σ ε_i / 2^(i+1)
 * over the sorted stages and the jitter is the RMS of the offset differences to the first one
 *   ψ = sqrt( 1/(n-1) Σ (θ_0 - θ_i)^2 )
 * (as in ntpd, samples whose distance δ/2 + ε exceeds MAXDIST do not count once two are in).
 * A sample is passed on to the system process only if it is newer than the last one used, and a
 * popcorn spike (|θ - θ_last| > SGATE·ψ) is suppressed unless enough time has passed.
 *
 * Times are in seconds on a monotonic axis chosen by the caller (the engine uses raw counter seconds).
 */
import { ALLAN_INTERCEPT, MAXDISP, MAXDIST, NSTAGE, PHI, SGATE } from './constants.js';

export interface FilterSample {
  offset: number;
  delay: number;
  dispersion: number;
  /** Time the sample was taken (monotonic seconds). */
  epoch: number;
  /** Opaque tag carried to the output (the engine stores the raw counter value here). */
  raw?: bigint;
}

export interface FilterOutput {
  offset: number;
  delay: number;
  dispersion: number;
  jitter: number;
  /** Epoch of the sample selected (monotonic seconds). */
  epoch: number;
  raw?: bigint;
}

export type FilterVerdict =
  /** A new best sample: use it (peer variables updated). */
  | { kind: 'update'; output: FilterOutput }
  /** The best sample is not newer than the last one used: nothing new for the system process. */
  | { kind: 'stale' }
  /** The best sample is a popcorn spike; it stays in the register but is not used now. */
  | { kind: 'spike'; output: FilterOutput };

function emptyStage(epoch: number): FilterSample {
  return { offset: 0, delay: MAXDISP, dispersion: MAXDISP, epoch };
}

export class ClockFilter {
  /** Newest first. Stages that never held a sample have dispersion MAXDISP and `valid` false. */
  private stages: Array<FilterSample & { valid: boolean }> = [];
  /** Epoch of the last sample handed on (RFC: peer t). */
  private lastEpoch = Number.NEGATIVE_INFINITY;
  private last: FilterOutput | null = null;
  /** The last output passed on to the system process. */
  private passed: FilterOutput | null = null;
  private lastUpdate = Number.NEGATIVE_INFINITY;
  private readonly precision: number;

  private readonly maxDist: number;
  /** Real samples added since the last clear, and whether a dummy was shifted in meanwhile. */
  private fresh = 0;
  private dummied = false;
  private startupDisp: number | null = null;

  /**
   * @param precision our clock precision in seconds (lower bound on jitter).
   * @param maxDist distance above which a sample does not count in the jitter (MAXDIST).
   */
  constructor(precision = 2 ** -20, maxDist = MAXDIST) {
    this.precision = precision;
    this.maxDist = maxDist;
    this.clear(0);
  }

  /** RFC 5905 clear(): forget every stage (after a step or when reinitialised). */
  clear(now: number): void {
    this.stages = [];
    for (let i = 0; i < NSTAGE; i++) this.stages.push({ ...emptyStage(now), valid: false });
    this.lastEpoch = Number.NEGATIVE_INFINITY;
    this.last = null;
    this.passed = null;
    this.lastUpdate = Number.NEGATIVE_INFINITY;
    this.fresh = 0;
    this.dummied = false;
    this.startupDisp = null;
  }

  /**
   * While the filter is filling after a clear (not yet eight real samples, no missed poll), the
   * dispersion of the last evaluation with the empty stages counted like its worst real one instead
   * of MAXDISP (the RFC's value makes a source unselectable until its fourth sample); the system uses
   * it to select a source from its first sample. Once the stages are all real both are the same.
   * Null otherwise.
   */
  startupDispersion(): number | null {
    return this.fresh < NSTAGE && !this.dummied ? this.startupDisp : null;
  }

  /** Number of stages holding a real sample. */
  count(): number {
    return this.stages.filter((s) => s.valid).length;
  }

  /** The registers, newest first, with dispersion aged to `now`. */
  registers(now: number): Array<FilterSample> {
    return this.stages
      .filter((s) => s.valid)
      .map((s) => ({
        offset: s.offset,
        delay: s.delay,
        dispersion: Math.min(MAXDISP, s.dispersion + PHI * Math.max(0, now - s.epoch)),
        epoch: s.epoch,
      }));
  }

  /** The peer variables from the last evaluation, if any sample exists. */
  output(): FilterOutput | null {
    return this.last;
  }

  /**
   * Adds a sample taken at `sample.epoch` and evaluates the filter at that time.
   * @param pollInterval the current host poll interval in seconds (for the popcorn-spike rule).
   */
  add(sample: FilterSample, pollInterval: number): FilterVerdict {
    this.fresh++;
    this.stages.unshift({ ...sample, valid: true });
    this.stages.length = NSTAGE;
    return this.evaluate(sample.epoch, pollInterval);
  }

  /**
   * RFC 5905 poll(): after three unanswered polls a dummy stage (dispersion MAXDISP, never chosen)
   * is shifted in, so old samples age out and the peer dispersion grows.
   */
  addDummy(epoch: number, pollInterval: number): FilterVerdict {
    this.dummied = true;
    this.stages.unshift({ ...emptyStage(epoch), valid: false });
    this.stages.length = NSTAGE;
    return this.evaluate(epoch, pollInterval);
  }

  /** Re-evaluates the filter (RFC: the clock filter also runs with a dummy sample on timeouts). */
  evaluate(now: number, pollInterval: number): FilterVerdict {
    const aged = this.stages.map((s) => ({
      ...s,
      dispersion: s.valid ? Math.min(MAXDISP, s.dispersion + PHI * Math.max(0, now - s.epoch)) : MAXDISP,
    }));
    // Sort by delay (invalid stages last), stable for equal delays: newer stays first. As ntpd does,
    // samples older than the Allan intercept sort after the younger ones: at long polls the clock
    // wanders more in a few polls than a lower delay gains.
    const old = (s: FilterSample) => now - s.epoch > ALLAN_INTERCEPT;
    const sorted = aged
      .map((s, i) => ({ s, i }))
      .sort((a, b) => {
        if (a.s.valid !== b.s.valid) return a.s.valid ? -1 : 1;
        if (old(a.s) !== old(b.s)) return old(a.s) ? 1 : -1;
        return a.s.delay - b.s.delay || a.i - b.i;
      })
      .map((x) => x.s);
    let dispersion = 0;
    let startup = 0;
    let worst = 0;
    for (let i = 0; i < sorted.length; i++) {
      const st = sorted[i];
      if (st === undefined) continue;
      dispersion += (st.valid ? st.dispersion : MAXDISP) / 2 ** (i + 1);
      if (st.valid) worst = Math.max(worst, st.dispersion);
      startup += (st.valid ? st.dispersion : worst) / 2 ** (i + 1);
    }
    this.startupDisp = startup;
    // ntpd: once two samples are in, samples whose distance (δ/2 + ε) reaches MAXDIST are left out
    // of the jitter (a badly congested sample must not make the whole peer unselectable).
    const valid: typeof sorted = [];
    for (const st of sorted) {
      if (!st.valid) continue;
      if (valid.length >= 2 && st.delay / 2 + st.dispersion >= this.maxDist) continue;
      valid.push(st);
    }
    const best = valid[0];
    if (best === undefined) return { kind: 'stale' };
    let jitter = 0;
    if (valid.length > 1) {
      let sum = 0;
      for (let i = 1; i < valid.length; i++) {
        const v = valid[i];
        if (v !== undefined) sum += (best.offset - v.offset) ** 2;
      }
      jitter = Math.sqrt(sum / (valid.length - 1));
    }
    jitter = Math.max(jitter, this.precision);
    const output: FilterOutput = {
      offset: best.offset,
      delay: best.delay,
      dispersion,
      jitter,
      epoch: best.epoch,
    };
    if (best.raw !== undefined) output.raw = best.raw;
    // The peer variables follow the filter at every evaluation (ntpd clock_filter()); the prime
    // directive and the spike rule only decide whether the system process hears about it.
    this.last = output;
    if (best.epoch <= this.lastEpoch) return { kind: 'stale' };
    // Popcorn spike suppressor (RFC 5905 A.5.2: |θ - θ_prev| > SGATE·ψ and less than 2 polls since
    // the last update), against the sample last passed on: the outlier's own stage, already in the
    // registers, must not widen the jitter it is tested with.
    const prev = this.passed;
    if (
      prev !== null &&
      Math.abs(best.offset - prev.offset) > SGATE * prev.jitter &&
      best.epoch - this.lastEpoch < 2 * pollInterval
    ) {
      return { kind: 'spike', output };
    }
    this.lastEpoch = best.epoch;
    this.lastUpdate = now;
    this.passed = output;
    return { kind: 'update', output };
  }

  /** Adds `by` seconds to every stored offset (the local clock was stepped by −`by`). */
  shiftOffsets(by: number): void {
    for (const s of this.stages) if (s.valid) s.offset += by;
    if (this.last !== null) this.last = { ...this.last, offset: this.last.offset + by };
    if (this.passed !== null) this.passed = { ...this.passed, offset: this.passed.offset + by };
  }

  /** Shifts every stored epoch (not needed for raw-counter epochs, which never step). */
  shiftEpochs(by: number): void {
    for (const s of this.stages) s.epoch += by;
    this.lastEpoch += by;
    this.lastUpdate += by;
  }
}
