/**
 * Time series kept in memory for the dashboard: one sample of the daemon snapshot per sampling
 * interval, in fixed-size rings (bounded memory, whatever the uptime).
 */
import type { DaemonSnapshot } from '../system/snapshot.js';

export interface SystemPoint {
  /** Unix seconds (snapshot time). */
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

export interface HistoryDump {
  /** Sequence number of the newest sample; pass it back as `since` to get only newer samples. */
  seq: number;
  system: SystemPoint[];
  /** By source id. */
  sources: Record<string, { label: string; points: SourcePoint[] }>;
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

export class History {
  private seq = 0;
  private readonly system: Ring<Seq<SystemPoint>>;
  private readonly sources = new Map<string, { label: string; ring: Ring<Seq<SourcePoint>> }>();
  private lastRequests: { t: number; n: number } | null = null;

  constructor(readonly capacity = 3600) {
    this.system = new Ring(capacity);
  }

  add(snap: DaemonSnapshot): void {
    this.seq++;
    const sys = snap.system;
    let rate = 0;
    if (this.lastRequests !== null && sys.time > this.lastRequests.t) {
      rate = Math.max(0, snap.server.requests - this.lastRequests.n) / (sys.time - this.lastRequests.t);
    }
    this.lastRequests = { t: sys.time, n: snap.server.requests };
    this.system.push({
      seq: this.seq,
      v: {
        t: sys.time,
        offset: sys.offset,
        frequencyPpm: sys.frequencyPpm,
        errorBound: Number.isFinite(sys.errorBound) ? sys.errorBound : null,
        jitter: sys.jitter,
        requestRate: rate,
        stratum: sys.stratum,
      },
    });
    for (const s of sys.sources) {
      let e = this.sources.get(s.id);
      const label = s.name !== null && s.name !== s.address ? s.name : `${s.address}:${s.port}`;
      if (e === undefined) {
        e = { label, ring: new Ring(this.capacity) };
        this.sources.set(s.id, e);
      }
      e.label = label;
      // Only sources that have samples: an unreachable source has no meaningful offset.
      if (s.filter.length === 0 && s.when === null) continue;
      e.ring.push({
        seq: this.seq,
        v: { t: sys.time, offset: s.offset, delay: s.delay, jitter: s.jitter, reach: s.reach },
      });
    }
    // Forget series of sources that are gone.
    const present = new Set(sys.sources.map((s) => s.id));
    for (const id of this.sources.keys()) if (!present.has(id)) this.sources.delete(id);
  }

  dump(since = 0): HistoryDump {
    const sources: HistoryDump['sources'] = {};
    for (const [id, e] of this.sources) {
      sources[id] = {
        label: e.label,
        points: e.ring
          .toArray()
          .filter((p) => p.seq > since)
          .map((p) => p.v),
      };
    }
    return {
      seq: this.seq,
      system: this.system
        .toArray()
        .filter((p) => p.seq > since)
        .map((p) => p.v),
      sources,
    };
  }
}
