/**
 * Time series kept in memory for the dashboard: one sample of the daemon snapshot per sampling
 * interval, in fixed-size rings (bounded memory, whatever the uptime).
 *
 * Two tiers per series: the last `capacity` samples as taken (default 3600: one hour at 1 s), and
 * one point per `coarseSeconds` (default 60) for the last `coarseCapacity` of them (default 1440:
 * 24 hours). A coarse point keeps the extremes of its interval, so a step's spike stays visible:
 * the offset of largest magnitude, the largest delay, jitter and error bound, the mean frequency
 * and request rate.
 *
 * Points are stamped with the host's monotonic clock and served on the daemon clock's current
 * timeline (t = monotonic + the latest difference between the two). When that difference jumps
 * (the clock was stepped) the whole history moves onto the new timeline and `epoch` changes, so
 * that a client drops what it holds and loads it again.
 */
import type { DaemonSnapshot } from '../system/snapshot.js';

export interface SystemPoint {
  /** Unix seconds on the daemon clock's current timeline. */
  t: number;
  offset: number;
  frequencyPpm: number;
  /** null when unbounded (never synchronised). */
  errorBound: number | null;
  jitter: number;
  /** Requests per second served since the previous sample. */
  requestRate: number;
  stratum: number;
}

export interface SourcePoint {
  t: number;
  offset: number;
  delay: number;
  jitter: number;
  reach: number;
}

export interface HistoryLimits {
  /** Samples kept as taken, per series. */
  fine: number;
  /** Coarse points kept, per series. */
  coarse: number;
  /** Seconds per coarse point. */
  coarseSeconds: number;
}

export interface HistoryDump {
  /** Sequence number of the newest sample; pass it back as `since` to get only newer points. */
  seq: number;
  /** Changes when the timeline moved (a clock step): points held from an earlier epoch are stale. */
  epoch: number;
  limits: HistoryLimits;
  system: SystemPoint[];
  /** By source id. */
  sources: Record<string, { label: string; points: SourcePoint[] }>;
  /** Coarse points (newer than `since`), by tier; older than the oldest sample, they extend the charts back. */
  coarse: { system: SystemPoint[]; sources: Record<string, SourcePoint[]> };
}

class Ring<T> {
  private buf: (T | undefined)[];
  private start = 0;
  private len = 0;
  constructor(readonly capacity: number) {
    this.buf = new Array<T | undefined>(capacity);
  }
  push(x: T): void {
    const i = (this.start + this.len) % this.capacity;
    this.buf[i] = x;
    if (this.len < this.capacity) this.len++;
    else this.start = (this.start + 1) % this.capacity;
  }
  get size(): number {
    return this.len;
  }
  toArray(): T[] {
    const out: T[] = [];
    for (let k = 0; k < this.len; k++) {
      const x = this.buf[(this.start + k) % this.capacity];
      if (x !== undefined) out.push(x);
    }
    return out;
  }
}

interface Seq<T> {
  seq: number;
  v: T;
}

/** A jump of the clock-minus-monotonic difference beyond this (s) between two samples is a step. */
const STEP = 0.05;

/** Signed value of largest magnitude. */
function peak(a: number, b: number): number {
  return Math.abs(b) > Math.abs(a) ? b : a;
}

/** Folds samples into one coarse point per bucket. */
class Coarse<T extends { t: number }> {
  private acc: { bucket: number; v: T; n: number } | null = null;
  readonly ring: Ring<Seq<T>>;
  constructor(
    capacity: number,
    private readonly seconds: number,
    private readonly merge: (acc: T, x: T, n: number) => T,
  ) {
    this.ring = new Ring(capacity);
  }
  /** Adds a sample taken at monotonic time x.t; a finished bucket is pushed with sequence number `seq`. */
  add(x: T, seq: number): void {
    const bucket = Math.floor(x.t / this.seconds);
    if (this.acc !== null && this.acc.bucket !== bucket) {
      this.ring.push({ seq, v: this.acc.v });
      this.acc = null;
    }
    if (this.acc === null) this.acc = { bucket, v: { ...x }, n: 1 };
    else {
      this.acc.n++;
      this.acc.v = this.merge(this.acc.v, x, this.acc.n);
    }
  }
}

const mergeSystem = (a: SystemPoint, x: SystemPoint, n: number): SystemPoint => ({
  t: x.t,
  offset: peak(a.offset, x.offset),
  frequencyPpm: a.frequencyPpm + (x.frequencyPpm - a.frequencyPpm) / n,
  errorBound: a.errorBound === null || x.errorBound === null ? null : Math.max(a.errorBound, x.errorBound),
  jitter: Math.max(a.jitter, x.jitter),
  requestRate: a.requestRate + (x.requestRate - a.requestRate) / n,
  stratum: Math.max(a.stratum, x.stratum),
});

const mergeSource = (a: SourcePoint, x: SourcePoint): SourcePoint => ({
  t: x.t,
  offset: peak(a.offset, x.offset),
  delay: Math.max(a.delay, x.delay),
  jitter: Math.max(a.jitter, x.jitter),
  reach: x.reach,
});

interface SourceSeries {
  label: string;
  ring: Ring<Seq<SourcePoint>>;
  coarse: Coarse<SourcePoint>;
}

export class History {
  private seq = 0;
  private epochNo = 0;
  /** Daemon clock minus monotonic clock at the latest sample (null before the first). */
  private base: number | null = null;
  private readonly system: Ring<Seq<SystemPoint>>;
  private readonly systemCoarse: Coarse<SystemPoint>;
  private readonly sources = new Map<string, SourceSeries>();
  private lastRequests: { t: number; n: number } | null = null;
  readonly limits: HistoryLimits;

  constructor(capacity = 3600, coarseCapacity = 1440, coarseSeconds = 60) {
    this.limits = { fine: capacity, coarse: coarseCapacity, coarseSeconds };
    this.system = new Ring(capacity);
    this.systemCoarse = new Coarse(coarseCapacity, coarseSeconds, mergeSystem);
  }

  /** The epoch (see HistoryDump.epoch). */
  get epoch(): number {
    return this.epochNo;
  }

  /** Monotonic seconds `m` as unix seconds on the current timeline (null before the first sample). */
  toClock(m: number): number | null {
    return this.base === null ? null : m + this.base;
  }

  /** The label of a source the history knows (name, or address:port). */
  label(id: string): string | undefined {
    return this.sources.get(id)?.label;
  }

  /** Adds a sample of `snap` taken at monotonic time `m` (seconds; default: the snapshot's time). */
  add(snap: DaemonSnapshot, m: number = snap.system.time): void {
    this.seq++;
    const sys = snap.system;
    const base = sys.time - m;
    if (this.base !== null && Math.abs(base - this.base) > STEP) this.epochNo++;
    this.base = base;
    let rate = 0;
    if (this.lastRequests !== null && m > this.lastRequests.t) {
      rate = Math.max(0, snap.server.requests - this.lastRequests.n) / (m - this.lastRequests.t);
    }
    this.lastRequests = { t: m, n: snap.server.requests };
    const p: SystemPoint = {
      t: m,
      offset: sys.offset,
      frequencyPpm: sys.frequencyPpm,
      errorBound: Number.isFinite(sys.errorBound) ? sys.errorBound : null,
      jitter: sys.jitter,
      requestRate: rate,
      stratum: sys.stratum,
    };
    this.system.push({ seq: this.seq, v: p });
    this.systemCoarse.add(p, this.seq);
    for (const s of sys.sources) {
      let e = this.sources.get(s.id);
      const label = s.name !== null && s.name !== s.address ? s.name : `${s.address}:${s.port}`;
      if (e === undefined) {
        const { coarse, coarseSeconds } = this.limits;
        e = {
          label,
          ring: new Ring(this.limits.fine),
          coarse: new Coarse(coarse, coarseSeconds, mergeSource),
        };
        this.sources.set(s.id, e);
      }
      e.label = label;
      // Only sources that have samples: an unreachable source has no meaningful offset.
      if (s.filter.length === 0 && s.when === null) continue;
      const q: SourcePoint = { t: m, offset: s.offset, delay: s.delay, jitter: s.jitter, reach: s.reach };
      e.ring.push({ seq: this.seq, v: q });
      e.coarse.add(q, this.seq);
    }
    // Forget series of sources that are gone.
    const present = new Set(sys.sources.map((s) => s.id));
    for (const id of this.sources.keys()) if (!present.has(id)) this.sources.delete(id);
  }

  /** Points newer than sequence number `since`, on the current timeline. */
  dump(since = 0): HistoryDump {
    const base = this.base ?? 0;
    const pick = <T extends { t: number }>(r: Ring<Seq<T>>): T[] =>
      r
        .toArray()
        .filter((p) => p.seq > since)
        .map((p) => ({ ...p.v, t: p.v.t + base }));
    const sources: HistoryDump['sources'] = {};
    const coarseSources: HistoryDump['coarse']['sources'] = {};
    for (const [id, e] of this.sources) {
      sources[id] = { label: e.label, points: pick(e.ring) };
      coarseSources[id] = pick(e.coarse.ring);
    }
    return {
      seq: this.seq,
      epoch: this.epochNo,
      limits: this.limits,
      system: pick(this.system),
      sources,
      coarse: { system: pick(this.systemCoarse.ring), sources: coarseSources },
    };
  }
}
