/**
 * A minimal deterministic discrete-event harness for engine scenario tests (until src/sim lands).
 *
 * Each node runs one NtpSystem over a FakeDiscipline. The raw counter of every node is the true time
 * in nanoseconds since the start of the run; clock errors live in the FakeClock model. Links carry
 * packets with a fixed delay per direction plus optional uniform jitter, loss, duplication and
 * reordering (an extra random delay). A packet leaves the sender `txLag` seconds after the engine
 * produced it (the difference between the software and the precise transmit timestamp), and the
 * host reports that moment through handleTransmitted. Everything is driven by one seeded PRNG.
 */

import { nodeCrypto } from '../../src/io/crypto.js';
import { defaultSystemConfig, NtpSystem } from '../../src/system/system.js';
import type { Action, Endpoint, SourceConfig, SystemConfig, SystemEvent } from '../../src/system/types.js';
import { FakeDiscipline, type FakeDisciplineOptions } from './fake-discipline.js';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkSpec {
  /** One-way delay a → b and b → a (s). */
  delay: number;
  delayBack?: number;
  /** Uniform extra delay in [0, jitter) (s). */
  jitter?: number;
  loss?: number;
  duplicate?: number;
  /** Probability of an extra delay of `reorderDelay` s (reordering). */
  reorder?: number;
  reorderDelay?: number;
  /** Extra delay (s) as a function of the time of sending (s), a → b and b → a (congestion). */
  extraDelay?: (t: number) => number;
  extraDelayBack?: (t: number) => number;
}

export interface NodeSpec {
  name: string;
  address: string;
  config?: Partial<SystemConfig>;
  sources?: SourceConfig[];
  discipline?: FakeDisciplineOptions;
  /** Software-to-wire transmit latency (s). Default 50 µs. */
  txLag?: number;
  /** Whether this node reports precise transmit timestamps. Default true. */
  reportsTx?: boolean;
}

export interface InFlight {
  from: string;
  to: string;
  bytes: Uint8Array;
  sentAt: number;
}

export type PacketFilter = (p: InFlight, h: Harness) => 'deliver' | 'drop';

export class HNode {
  system!: NtpSystem;
  discipline!: FakeDiscipline;
  events: SystemEvent[] = [];
  sent = 0;
  timerAt: bigint | null = null;
  timerSeq = 0;
  ids: string[] = [];
  /** Scheduled by the harness; set false to silence a node (crash). */
  up = true;

  constructor(
    readonly spec: NodeSpec,
    private readonly h: Harness,
  ) {
    this.boot();
  }

  /** (Re)creates the engine: a restart loses all protocol state but keeps the clock. */
  boot(keepClock = false): void {
    const config: SystemConfig = { ...defaultSystemConfig(), ...this.spec.config };
    const old = keepClock ? this.discipline : undefined;
    this.discipline = old ?? new FakeDiscipline(this.spec.discipline);
    if (old !== undefined) old.clock.synced = false;
    this.system = new NtpSystem(config, {
      discipline: this.discipline,
      random: this.h.random,
      crypto: nodeCrypto,
    });
    this.ids = [];
    const raw = this.h.now;
    for (const s of this.spec.sources ?? []) {
      const r = this.system.addSource(raw, s);
      this.ids.push(r.id);
    }
  }

  get address(): string {
    return this.spec.address;
  }

  /** Clock error now (s): positive = ahead of true time. */
  error(): number {
    return this.discipline.clock.error(this.h.now);
  }

  apply(actions: Action[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          this.sent++;
          this.h.transmit(this, a.to, a.bytes, a.txId);
          break;
        case 'timer':
          this.timerAt = a.at;
          this.timerSeq++;
          this.h.scheduleTimer(this, a.at, this.timerSeq);
          break;
        case 'event':
          this.events.push(a.event);
          break;
      }
    }
  }

  restart(): void {
    this.system.dispose();
    this.boot(true);
    this.timerAt = null;
    this.apply(this.system.start(this.h.now));
  }
}

interface QueueItem {
  at: bigint;
  seq: number;
  run: () => void;
}

export class Harness {
  readonly random: () => number;
  now = 0n;
  readonly nodes = new Map<string, HNode>();
  private readonly byAddress = new Map<string, HNode>();
  private readonly links = new Map<string, LinkSpec>();
  private queue: QueueItem[] = [];
  private seq = 0;
  filter: PacketFilter | null = null;
  /** Every packet put on the wire (for tests that want to look at traffic). */
  readonly wire: InFlight[] = [];
  broadcastAddress = '10.0.0.255';
  keepWire = false;

  constructor(seed = 1) {
    this.random = prng(seed);
  }

  addNode(spec: NodeSpec): HNode {
    const n = new HNode(spec, this);
    this.nodes.set(spec.name, n);
    this.byAddress.set(spec.address, n);
    return n;
  }

  node(name: string): HNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  link(a: string, b: string, spec: LinkSpec): void {
    this.links.set(`${a}>${b}`, spec);
    const back: LinkSpec = { ...spec, delay: spec.delayBack ?? spec.delay, delayBack: spec.delay };
    if (spec.extraDelayBack !== undefined) back.extraDelay = spec.extraDelayBack;
    else delete back.extraDelay;
    if (spec.extraDelay !== undefined) back.extraDelayBack = spec.extraDelay;
    this.links.set(`${b}>${a}`, back);
  }

  private at(t: bigint, run: () => void): void {
    const item = { at: t, seq: this.seq++, run };
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.queue[mid];
      if (m !== undefined && (m.at < t || (m.at === t && m.seq < item.seq))) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, item);
  }

  scheduleTimer(n: HNode, at: bigint, seq: number): void {
    this.at(at < this.now ? this.now : at, () => {
      if (n.timerSeq !== seq || !n.up) return;
      n.timerAt = null;
      n.apply(n.system.handleTimer(this.now));
    });
  }

  transmit(from: HNode, to: Endpoint, bytes: Uint8Array, txId?: number): void {
    const lag = BigInt(Math.round((from.spec.txLag ?? 50e-6) * 1e9));
    const leaves = this.now + lag;
    if (txId !== undefined && from.spec.reportsTx !== false) {
      this.at(leaves, () => from.apply(from.system.handleTransmitted(txId, this.now)));
    }
    const targets =
      to.address === this.broadcastAddress
        ? [...this.nodes.values()].filter((n) => n !== from)
        : [this.byAddress.get(to.address)].filter((n): n is HNode => n !== undefined);
    for (const target of targets) {
      const spec = this.links.get(`${from.spec.name}>${target.spec.name}`);
      if (spec === undefined) continue;
      const p: InFlight = { from: from.spec.name, to: target.spec.name, bytes, sentAt: Number(leaves) / 1e9 };
      if (this.keepWire) this.wire.push(p);
      if (this.filter !== null && this.filter(p, this) === 'drop') continue;
      if (this.random() < (spec.loss ?? 0)) continue;
      const copies = this.random() < (spec.duplicate ?? 0) ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        let d =
          spec.delay + (spec.jitter ?? 0) * this.random() + (spec.extraDelay?.(Number(leaves) / 1e9) ?? 0);
        if (this.random() < (spec.reorder ?? 0)) d += spec.reorderDelay ?? 1;
        const arrive = leaves + BigInt(Math.round(d * 1e9));
        const fromEp = { address: from.address, port: 123 };
        const toEp = { address: target.address, port: 123 };
        this.at(arrive, () => {
          if (target.up) target.apply(target.system.handlePacket(this.now, bytes, fromEp, toEp));
        });
      }
    }
  }

  /** Starts every node. */
  start(): void {
    for (const n of this.nodes.values()) n.apply(n.system.start(this.now));
  }

  /** Runs until true time `seconds` (absolute, since the start). */
  runUntil(seconds: number, onStep?: (h: Harness) => void): void {
    const end = BigInt(Math.round(seconds * 1e9));
    for (;;) {
      const item = this.queue[0];
      if (item === undefined || item.at > end) break;
      this.queue.shift();
      this.now = item.at;
      item.run();
      onStep?.(this);
    }
    this.now = end;
  }

  /** Runs `seconds` more, sampling `probe` every `every` seconds. */
  runFor(seconds: number, probe?: (h: Harness) => void, every = 16): void {
    const end = Number(this.now) / 1e9 + seconds;
    if (probe === undefined) {
      this.runUntil(end);
      return;
    }
    let t = Number(this.now) / 1e9;
    while (t < end) {
      t = Math.min(end, t + every);
      this.runUntil(t);
      probe(this);
    }
  }

  seconds(): number {
    return Number(this.now) / 1e9;
  }
}
