/**
 * The simulator's packet-level lab for engine tests: `NtpSystem` nodes over a discipline of the
 * caller's choice, wired by links with fixed delays, jitter, loss, duplication and reordering, with
 * packet filters, a capture of the wire, crashes and restarts. True time is the raw counter of every
 * node (nanoseconds since the start); clock errors live in the disciplines. Events run on the
 * simulator's `Scheduler`, randomness comes from one seeded `Rng`.
 */
import type { Discipline } from '../clock/types.js';
import { defaultSystemConfig } from '../system/defaults.js';
import { NtpSystem } from '../system/system.js';
import type { Action, Endpoint, SourceConfig, SystemConfig, SystemEvent } from '../system/types.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { Rng } from './rng.js';
import { Scheduler } from './scheduler.js';

export interface LabLink {
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

export interface LabNodeSpec<O> {
  name: string;
  address: string;
  config?: Partial<SystemConfig>;
  sources?: SourceConfig[];
  /** Options of the node's discipline (see `LabOptions.discipline`). */
  discipline?: O;
  /** Software-to-wire transmit latency (s). Default 50 µs. */
  txLag?: number;
  /** Whether this node reports precise transmit timestamps. Default true. */
  reportsTx?: boolean;
}

/** How the lab builds and reads the nodes' disciplines. */
export interface LabOptions<O, D extends Discipline> {
  crypto: CryptoProvider;
  /** A node's discipline; on a restart `old` is the one to keep (the clock survives the restart). */
  discipline: (opts: O | undefined, old: D | undefined) => D;
  /** The clock error (s, positive = ahead of true time) of a discipline at true time `raw`. */
  error: (d: D, raw: bigint) => number;
}

export interface InFlight {
  from: string;
  to: string;
  bytes: Uint8Array;
  sentAt: number;
}

export type PacketFilter<O, D extends Discipline> = (p: InFlight, lab: Lab<O, D>) => 'deliver' | 'drop';

function ns(seconds: number): bigint {
  return BigInt(Math.round(seconds * 1e9));
}

export class LabNode<O, D extends Discipline> {
  system!: NtpSystem;
  discipline!: D;
  events: SystemEvent[] = [];
  sent = 0;
  timerAt: bigint | null = null;
  timerSeq = 0;
  ids: string[] = [];
  /** Set false to silence a node (crash). */
  up = true;
  readonly spec: LabNodeSpec<O>;
  private readonly lab: Lab<O, D>;

  constructor(spec: LabNodeSpec<O>, lab: Lab<O, D>) {
    this.spec = spec;
    this.lab = lab;
    this.boot();
  }

  /** (Re)creates the engine: a restart loses all protocol state but keeps the clock. */
  boot(keepClock = false): void {
    const config: SystemConfig = { ...defaultSystemConfig(), ...this.spec.config };
    this.discipline = this.lab.options.discipline(
      this.spec.discipline,
      keepClock ? this.discipline : undefined,
    );
    this.system = new NtpSystem(config, {
      discipline: this.discipline,
      random: this.lab.random,
      crypto: this.lab.options.crypto,
    });
    this.ids = [];
    for (const s of this.spec.sources ?? []) this.ids.push(this.system.addSource(this.lab.now, s).id);
  }

  get address(): string {
    return this.spec.address;
  }

  /** Clock error now (s): positive = ahead of true time. */
  error(): number {
    return this.lab.options.error(this.discipline, this.lab.now);
  }

  apply(actions: Action[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          this.sent++;
          this.lab.transmit(this, a.to, a.bytes, a.txId);
          break;
        case 'timer':
          this.timerAt = a.at;
          this.timerSeq++;
          this.lab.scheduleTimer(this, a.at, this.timerSeq);
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
    this.apply(this.system.start(this.lab.now));
  }
}

export class Lab<O, D extends Discipline> {
  readonly random: () => number;
  readonly options: LabOptions<O, D>;
  private readonly scheduler = new Scheduler();
  readonly nodes = new Map<string, LabNode<O, D>>();
  private readonly byAddress = new Map<string, LabNode<O, D>>();
  private readonly links = new Map<string, LabLink>();
  filter: PacketFilter<O, D> | null = null;
  /** Every packet put on the wire, when `keepWire` is set (for tests that look at traffic). */
  readonly wire: InFlight[] = [];
  broadcastAddress = '10.0.0.255';
  keepWire = false;

  constructor(seed: number, options: LabOptions<O, D>) {
    const rng = new Rng(seed);
    this.random = () => rng.next();
    this.options = options;
  }

  /** True time (ns since the start), the raw counter of every node. */
  get now(): bigint {
    return ns(this.scheduler.now);
  }

  addNode(spec: LabNodeSpec<O>): LabNode<O, D> {
    const n = new LabNode(spec, this);
    this.nodes.set(spec.name, n);
    this.byAddress.set(spec.address, n);
    return n;
  }

  node(name: string): LabNode<O, D> {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  link(a: string, b: string, spec: LabLink): void {
    this.links.set(`${a}>${b}`, spec);
    const back: LabLink = { ...spec, delay: spec.delayBack ?? spec.delay, delayBack: spec.delay };
    if (spec.extraDelayBack !== undefined) back.extraDelay = spec.extraDelayBack;
    else delete back.extraDelay;
    if (spec.extraDelay !== undefined) back.extraDelayBack = spec.extraDelay;
    this.links.set(`${b}>${a}`, back);
  }

  private at(t: bigint, run: () => void): void {
    this.scheduler.at(Number(t) / 1e9, run);
  }

  scheduleTimer(n: LabNode<O, D>, at: bigint, seq: number): void {
    this.at(at < this.now ? this.now : at, () => {
      if (n.timerSeq !== seq || !n.up) return;
      n.timerAt = null;
      const now = this.now;
      n.apply(n.system.handleTimer(now < at ? at : now));
    });
  }

  transmit(from: LabNode<O, D>, to: Endpoint, bytes: Uint8Array, txId?: number): void {
    const leaves = this.now + ns(from.spec.txLag ?? 50e-6);
    if (txId !== undefined && from.spec.reportsTx !== false) {
      this.at(leaves, () => from.apply(from.system.handleTransmitted(txId, this.now)));
    }
    const targets =
      to.address === this.broadcastAddress
        ? [...this.nodes.values()].filter((n) => n !== from)
        : [this.byAddress.get(to.address)].filter((n): n is LabNode<O, D> => n !== undefined);
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
        const fromEp = { address: from.address, port: 123 };
        const toEp = { address: target.address, port: 123 };
        this.at(leaves + ns(d), () => {
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
  runUntil(seconds: number): void {
    this.scheduler.runUntil(seconds);
  }

  /** Runs `seconds` more, sampling `probe` every `every` seconds. */
  runFor(seconds: number, probe?: (lab: Lab<O, D>) => void, every = 16): void {
    const end = this.seconds() + seconds;
    if (probe === undefined) {
      this.runUntil(end);
      return;
    }
    let t = this.seconds();
    while (t < end) {
      t = Math.min(end, t + every);
      this.runUntil(t);
      probe(this);
    }
  }

  seconds(): number {
    return this.scheduler.now;
  }
}
