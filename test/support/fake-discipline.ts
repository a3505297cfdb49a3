/**
 * A small fake Discipline for engine tests: a clock with a settable offset and rate error relative to
 * the simulated true time, which applies updates simply (step above a threshold, otherwise correct a
 * fixed fraction of the offset at once). Not a real clock discipline: just enough to close the loop.
 */
import type {
  ClockChange,
  ClockListener,
  ClockSample,
  Discipline,
  DisciplineResult,
  DisciplineSnapshot,
  LocalClock,
  RawExchange,
  RawTime,
} from '../../src/clock/types.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { Lab, type LabNode } from '../../src/sim/lab.js';
import { type NtpTime, nsToDuration, secondsToDuration, unixNsToNtpTime } from '../../src/time/ntp-time.js';

/** The simulated true time at raw counter 0: 2026-01-01T00:00:00Z. */
export const SIM_EPOCH: NtpTime = unixNsToNtpTime(1_767_225_600_000_000_000n);

export class FakeClock implements LocalClock {
  private readonly listeners = new Set<ClockListener>();
  synced = false;
  /** Clock error = reading − true time = offset + skew · t. */
  constructor(
    public offset = 0,
    public skewPpm = 0,
    /** True time at raw counter 0 (default SIM_EPOCH). */
    readonly epoch: NtpTime = SIM_EPOCH,
  ) {}

  /** Error of the clock at `raw` (s): positive = ahead of true time. */
  error(raw: RawTime): number {
    return this.offset + (this.skewPpm * 1e-6 * Number(raw)) / 1e9;
  }

  read(raw: RawTime): NtpTime {
    return this.epoch + nsToDuration(raw) + secondsToDuration(this.error(raw));
  }

  errorBound(): number {
    return this.synced ? 0.001 : Number.POSITIVE_INFINITY;
  }

  frequencyPpm(): number {
    return 0;
  }

  onChange(listener: ClockListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  step(raw: RawTime, by: number): void {
    this.offset += by;
    const c: ClockChange = { kind: 'step', raw, offset: by };
    for (const l of this.listeners) l(c);
  }
}

export interface FakeDisciplineOptions {
  offset?: number;
  skewPpm?: number;
  /** Offsets above this (s) are stepped. Default 0.128 (RFC 5905 STEPT). */
  stepThreshold?: number;
  /** Fraction of a small offset corrected per update. Default 0.5. */
  gain?: number;
  /** Poll exponent asked for. Default 4. */
  poll?: number;
  /** Offsets above this (s) are refused (panic). Default 1000. */
  panic?: number;
  /** True time at raw counter 0 (default SIM_EPOCH, 2026-01-01). */
  epoch?: NtpTime;
}

export class FakeDiscipline implements Discipline {
  readonly kind = 'rfc5905' as const;
  readonly clock: FakeClock;
  readonly updates: ClockSample[] = [];
  readonly exchanges: Array<{ x: RawExchange; fromSystemPeer: boolean }> = [];
  readonly results: DisciplineResult[] = [];
  private readonly stepThreshold: number;
  private readonly gain: number;
  private readonly panic: number;
  poll: number;
  lastOffset = 0;

  constructor(opts: FakeDisciplineOptions = {}) {
    this.clock = new FakeClock(opts.offset ?? 0, opts.skewPpm ?? 0, opts.epoch ?? SIM_EPOCH);
    this.stepThreshold = opts.stepThreshold ?? 0.128;
    this.gain = opts.gain ?? 0.5;
    this.poll = opts.poll ?? 4;
    this.panic = opts.panic ?? 1000;
  }

  exchange(x: RawExchange, fromSystemPeer: boolean): void {
    this.exchanges.push({ x, fromSystemPeer });
  }

  update(sample: ClockSample): DisciplineResult {
    this.updates.push(sample);
    this.lastOffset = sample.offset;
    let r: DisciplineResult;
    if (Math.abs(sample.offset) > this.panic) r = { kind: 'panic', offset: sample.offset };
    else if (Math.abs(sample.offset) > this.stepThreshold) {
      // The sample offset is remote − local: our clock is behind by `offset`, so add it.
      this.clock.step(sample.raw, sample.offset);
      r = { kind: 'step', offset: sample.offset };
    } else {
      this.clock.offset += this.gain * sample.offset;
      r = { kind: 'slew', offset: sample.offset };
    }
    this.clock.synced = true;
    this.results.push(r);
    return r;
  }

  pollExponent(): number {
    return this.poll;
  }

  snapshot(): DisciplineSnapshot {
    return {
      kind: 'rfc5905',
      state: this.clock.synced ? 'SYNC' : 'NSET',
      offset: this.lastOffset,
      frequencyPpm: 0,
      jitter: 0,
      wander: 0,
      poll: this.poll,
    };
  }
}

/** The simulator's lab (src/sim/lab.ts) with every node on a FakeDiscipline. */
export type FakeLab = Lab<FakeDisciplineOptions, FakeDiscipline>;
export type FakeNode = LabNode<FakeDisciplineOptions, FakeDiscipline>;

/** A lab seeded with `seed` whose nodes run FakeDisciplines (a restart keeps the clock, unsynchronised). */
export function fakeLab(seed = 1): FakeLab {
  return new Lab<FakeDisciplineOptions, FakeDiscipline>(seed, {
    crypto: nodeCrypto,
    discipline: (opts, old) => {
      if (old === undefined) return new FakeDiscipline(opts);
      old.clock.synced = false;
      return old;
    },
    error: (d, raw) => d.clock.error(raw),
  });
}
