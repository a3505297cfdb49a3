/**
 * The simulated world: nodes (each an `NtpEngine` over a simulated oscillator), links (two `Path`s),
 * and the event loop that carries the engines' actions out in true time.
 *
 * The engines are driven only through the `NtpEngine` interface, exactly as the daemon does:
 * - a `send` action leaves after the node's output delay; if it carries a `txId`, the counter read at
 *   that instant is reported with `handleTransmitted` (the precise transmit stamp of interleaved modes);
 * - the single `timer` action is rescheduled at the true time the node's counter reaches `at`;
 * - an arriving packet goes through the server decision (`NtpServer.serve`, src/serve, with the
 *   node's `[access]`, `[rate-limit]` and `[serve]` settings) with the receiving node's counter, read
 *   after the node's receive latency; what it forwards is passed to `handlePacket`.
 *
 * Sans-IO: no wall clock, no timers, no `Math.random`; randomness comes from seeded streams.
 */

import type { LocalClock, RawTime } from '../clock/types.js';
import { NtpServer, type ServeEngine, serverOptionsOf } from '../serve/server.js';
import type { SystemSnapshot } from '../system/snapshot.js';
import type { Action, Endpoint, NtpEngine } from '../system/types.js';
import { durationToSeconds, type NtpTime, secondsToDuration } from '../time/ntp-time.js';
import { sample } from './distributions.js';
import { Oscillator, RAW_ORIGIN } from './oscillator.js';
import { Path } from './path.js';
import { Rng } from './rng.js';
import { Scheduler } from './scheduler.js';
import { ErrorStats } from './stats.js';
import type { ClientResult, NodeSpec, Scenario, SeriesPoint, SimResult } from './types.js';

/** True time 0 of every run: 2026-01-01T00:00:00Z as era-extended NTP time. */
export const SIM_EPOCH: NtpTime = 3976214400n << 32n;

/** What the engine factory gets to build a node's engine. */
export interface EngineContext {
  node: NodeSpec;
  /** Counter value and NTP time that define the initial clock model (counter believed exact). */
  raw: RawTime;
  time: NtpTime;
  /** Seeded uniform [0, 1) for the engine's `deps.random`. */
  random: () => number;
  /** Resolves a node name (or address) to the node's simulated address. */
  resolve: (host: string) => string;
}

export interface EngineHandle {
  engine: NtpEngine;
  clock: LocalClock;
  /** Clock kind for reports, e.g. 'rfc5905'. */
  kind: string;
  /**
   * What answers requests through the node's server decision; default: the engine, when it
   * implements `ServeEngine` (NtpSystem and FakeEngine do). Without one, every packet goes to
   * `handlePacket`.
   */
  serve?: ServeEngine;
  /** Optional: the engine's configured sources are added here (after `start`). */
  sources?: (raw: RawTime) => Action[];
}

export type EngineFactory = (ctx: EngineContext) => EngineHandle;

export interface RunOptions {
  /** Called about every `progressEvery` simulated seconds with the current true time. */
  onProgress?: (t: number, duration: number) => void;
  progressEvery?: number;
  /** Record the time series every `seriesInterval` s (0 = off). */
  seriesInterval?: number;
  /** Override the scenario seed. */
  seed?: number;
}

function trueNtp(t: number): NtpTime {
  return SIM_EPOCH + secondsToDuration(t);
}

interface SendLog {
  last: number;
  sum: number;
  count: number;
}

class SimNode {
  readonly spec: NodeSpec;
  readonly osc: Oscillator;
  handle!: EngineHandle;
  /** The node's server decision (null: the engine takes every packet). */
  server: NtpServer | null = null;
  private timer: ReturnType<Scheduler['at']> | null = null;
  private timerAt: RawTime = 0n;
  private readonly netRng: Rng;
  readonly links = new Map<string, Path>();
  requestsSent = 0;
  requestsInStats = 0;
  steps = 0;
  private readonly sendLog = new Map<string, SendLog>();
  stats: ErrorStats | null = null;
  freqStats: ErrorStats | null = null;
  lastErr: number | null = null;
  steppedSinceSample = false;
  lastBad = 0;
  everBad = false;
  lastSampleBad = false;

  constructor(
    spec: NodeSpec,
    seed: number,
    private readonly world: Simulation,
  ) {
    this.spec = spec;
    this.osc = new Oscillator(spec.oscillator, seed, `node/${spec.name}/osc`);
    this.netRng = Rng.derive(seed, `node/${spec.name}/stamping`);
  }

  isDown(t: number): boolean {
    for (const [a, b] of this.spec.down) if (t >= a && t < b) return true;
    return false;
  }

  exec(actions: Action[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          this.send(a.to, a.bytes, a.txId, a.from);
          break;
        case 'timer':
          this.setTimer(a.at);
          break;
        case 'event':
          if (a.event.kind === 'clock-step') this.steps++;
          break;
      }
    }
  }

  private setTimer(at: RawTime): void {
    const s = this.world.scheduler;
    s.cancel(this.timer);
    this.timerAt = at;
    const when = this.osc.trueTimeOf(at);
    this.timer = s.at(when, () => {
      this.timer = null;
      if (this.isDown(s.now)) {
        // A flaky node is off: its timer fires when it comes back.
        const back = this.spec.down.find(([x, y]) => s.now >= x && s.now < y)?.[1] ?? s.now;
        this.timer = s.at(back, () => {
          this.timer = null;
          this.fireTimer();
        });
        return;
      }
      this.fireTimer();
    });
  }

  private fireTimer(): void {
    const s = this.world.scheduler;
    let raw = this.osc.read(s.now);
    if (raw < this.timerAt) raw = this.timerAt;
    this.exec(this.handle.engine.handleTimer(raw));
  }

  private send(to: Endpoint, bytes: Uint8Array, txId: number | undefined, from: Endpoint | undefined): void {
    const s = this.world.scheduler;
    const now = s.now;
    if (this.isDown(now)) return;
    const mode = (bytes[0] ?? 0) & 7;
    if (mode === 1 || mode === 3) {
      this.requestsSent++;
      const key = `${to.address}:${to.port}`;
      if (now >= this.world.warmup) {
        this.requestsInStats++;
        const log = this.sendLog.get(key);
        if (log === undefined) this.sendLog.set(key, { last: now, sum: 0, count: 0 });
        else {
          log.sum += now - log.last;
          log.count++;
          log.last = now;
        }
      }
    }
    const leave = now + Math.max(0, sample(this.spec.outputDelay, this.netRng));
    if (txId !== undefined) {
      s.at(leave, () => this.exec(this.handle.engine.handleTransmitted(txId, this.osc.read(leave))));
    }
    const srcPort = from?.port ?? 123;
    const fromEp: Endpoint = { address: this.spec.address, port: srcPort };
    const dest = this.world.byAddress.get(to.address);
    const targets: SimNode[] = dest !== undefined ? [dest] : this.world.neighbours(this);
    if (dest !== undefined && !this.links.has(dest.spec.name)) {
      this.world.unroutable++;
      return;
    }
    for (const node of targets) {
      const path = this.links.get(node.spec.name);
      if (path === undefined) continue;
      const copy = bytes.slice();
      for (const d of path.transit(leave)) {
        s.at(leave + d, () => node.arrive(copy, fromEp, to));
      }
    }
  }

  arrive(bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    const s = this.world.scheduler;
    if (this.isDown(s.now)) return;
    const lat = Math.max(0, sample(this.spec.rxLatency, this.netRng));
    if (lat === 0) this.receive(bytes, from, to);
    else s.after(lat, () => this.receive(bytes, from, to));
  }

  private receive(bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    const s = this.world.scheduler;
    const raw = this.osc.read(s.now);
    const d = this.server?.serve(bytes, from, to, raw) ?? null;
    if (d === null || (d.kind === 'forward' && d.to === 'association')) {
      this.exec(this.handle.engine.handlePacket(raw, bytes, from, to));
      return;
    }
    if (d.kind === 'kod') this.send(from, d.bytes, undefined, undefined);
    else if (d.kind === 'respond') this.send(from, d.bytes, d.txId, d.from);
    // 'ignore', and mode 6 (no control handler in the simulator).
  }

  start(): void {
    const s = this.world.scheduler;
    const raw = this.osc.read(s.now);
    this.exec(this.handle.engine.start(raw));
    if (this.handle.sources !== undefined) this.exec(this.handle.sources(raw));
  }

  meanPoll(): number | null {
    let sum = 0;
    let count = 0;
    for (const l of this.sendLog.values()) {
      sum += l.sum;
      count += l.count;
    }
    return count > 0 ? sum / count : null;
  }

  /** Clock error against true time at the current true time (noiseless counter), s. */
  clockError(t: number): number {
    return durationToSeconds(this.handle.clock.read(this.osc.rawExact(t)) - trueNtp(t));
  }

  snapshot(t: number): SystemSnapshot {
    return this.handle.engine.snapshot(this.osc.rawExact(t));
  }
}

function asServeEngine(e: NtpEngine): ServeEngine | null {
  const c = e as Partial<ServeEngine>;
  return typeof c.answerRequest === 'function' && typeof c.packetTarget === 'function'
    ? (e as NtpEngine & ServeEngine)
    : null;
}

export class Simulation {
  readonly scenario: Scenario;
  readonly scheduler = new Scheduler();
  readonly nodes: SimNode[] = [];
  readonly byAddress = new Map<string, SimNode>();
  private readonly byName = new Map<string, SimNode>();
  private readonly paths: Path[] = [];
  readonly warmup: number;
  readonly seed: number;
  unroutable = 0;
  private series: SeriesPoint[] = [];

  constructor(scenario: Scenario, factory: EngineFactory, seed = scenario.seed) {
    this.scenario = scenario;
    this.warmup = scenario.warmup;
    this.seed = seed;
    for (const spec of scenario.nodes) {
      const n = new SimNode(spec, seed, this);
      this.nodes.push(n);
      this.byAddress.set(spec.address, n);
      this.byName.set(spec.name, n);
    }
    for (const l of scenario.links) {
      const a = this.byName.get(l.a);
      const b = this.byName.get(l.b);
      if (a === undefined || b === undefined) throw new Error(`link ${l.a} - ${l.b}: unknown node`);
      const f = new Path(l.forward, Rng.derive(seed, `link/${l.a}->${l.b}`));
      const r = new Path(l.reverse, Rng.derive(seed, `link/${l.b}->${l.a}`));
      a.links.set(b.spec.name, f);
      b.links.set(a.spec.name, r);
      this.paths.push(f, r);
    }
    const resolve = (host: string): string => this.byName.get(host)?.spec.address ?? host;
    for (const n of this.nodes) {
      const rng = Rng.derive(seed, `node/${n.spec.name}/engine`);
      n.handle = factory({
        node: n.spec,
        raw: RAW_ORIGIN,
        time: SIM_EPOCH,
        random: () => rng.next(),
        resolve,
      });
      const serveEngine = n.handle.serve ?? asServeEngine(n.handle.engine);
      if (serveEngine !== null) {
        const grng = Rng.derive(seed, `node/${n.spec.name}/guard`);
        n.server = new NtpServer(
          serveEngine,
          serverOptionsOf(n.spec.ntp, () => grng.next()),
        );
      }
      n.handle.clock.onChange((c) => {
        if (c.kind === 'step') n.steppedSinceSample = true;
      });
    }
  }

  neighbours(node: SimNode): SimNode[] {
    const out: SimNode[] = [];
    for (const name of node.links.keys()) {
      const n = this.byName.get(name);
      if (n !== undefined) out.push(n);
    }
    return out;
  }

  /** Runs the whole scenario and returns the statistics. */
  run(opts: RunOptions = {}): SimResult {
    const sc = this.scenario;
    const s = this.scheduler;
    const statNodes = this.nodes.filter((n) => n.spec.stats);
    for (const n of statNodes) {
      n.stats = new ErrorStats();
      n.freqStats = new ErrorStats();
    }
    for (const n of this.nodes) s.at(n.spec.start, () => n.start());
    const dt = sc.sampleInterval;
    const seriesEvery = opts.seriesInterval ?? 0;
    const seriesStride = seriesEvery > 0 ? Math.max(1, Math.round(seriesEvery / dt)) : 0;
    const nSamples = Math.floor(sc.duration / dt + 1e-9);
    const progressEvery = opts.progressEvery ?? Math.max(dt, sc.duration / 100);
    let nextProgress = progressEvery;
    for (let k = 0; k <= nSamples; k++) {
      const t = k * dt;
      s.runUntil(t);
      this.sample(statNodes, t, dt, seriesStride > 0 && k % seriesStride === 0);
      if (opts.onProgress !== undefined && t >= nextProgress) {
        opts.onProgress(t, sc.duration);
        nextProgress += progressEvery;
      }
    }
    s.runUntil(sc.duration);
    const clients = statNodes.map((n) => this.result(n, sc.duration));
    let sent = 0;
    let lost = 0;
    let duplicated = 0;
    let reordered = 0;
    for (const p of this.paths) {
      sent += p.counters.sent;
      lost += p.counters.lost;
      duplicated += p.counters.duplicated;
      reordered += p.counters.reordered;
    }
    return {
      scenario: sc.name,
      seed: this.seed,
      duration: sc.duration,
      warmup: sc.warmup,
      clients,
      events: s.executed,
      network: { sent, lost, duplicated, reordered, unroutable: this.unroutable },
    };
  }

  private sample(nodes: SimNode[], t: number, dt: number, record: boolean): void {
    const bound = this.scenario.syncBound;
    for (const n of nodes) {
      if (t < n.spec.start) continue;
      const err = n.clockError(t);
      let fe = Number.NaN;
      if (n.lastErr !== null && !n.steppedSinceSample) fe = (err - n.lastErr) / dt;
      n.lastErr = err;
      n.steppedSinceSample = false;
      if (Math.abs(err) >= bound) {
        n.lastBad = t;
        n.everBad = true;
        n.lastSampleBad = true;
      } else n.lastSampleBad = false;
      if (t >= this.warmup) {
        n.stats?.add(err);
        if (!Number.isNaN(fe)) n.freqStats?.add(fe * 1e6);
      }
      if (record) this.series.push({ t, node: n.spec.name, error: err, freqError: fe * 1e6 });
    }
  }

  /** The recorded time series (when `seriesInterval` was set). */
  getSeries(): SeriesPoint[] {
    return this.series;
  }

  private result(n: SimNode, t: number): ClientResult {
    const st = n.stats ?? new ErrorStats();
    const fs = n.freqStats ?? new ErrorStats();
    const snap = n.snapshot(t);
    const timeToSync = n.lastSampleBad
      ? null
      : n.everBad
        ? n.lastBad + this.scenario.sampleInterval
        : n.spec.start;
    return {
      node: n.spec.name,
      clock: n.handle.kind,
      rmsError: st.rms(),
      maxError: st.maxAbs,
      meanError: st.mean(),
      rmsFreqError: fs.rms(),
      maxFreqError: fs.maxAbs,
      timeToSync,
      packetsSent: n.requestsSent,
      packetsSentInStats: n.requestsInStats,
      meanPoll: n.meanPoll(),
      steps: n.steps,
      samples: st.n,
      final: {
        synchronised: snap.synchronised,
        stratum: snap.stratum,
        rootDelay: snap.rootDelay,
        rootDispersion: snap.rootDispersion,
        errorBound: snap.errorBound,
        clockState: snap.clockState,
        sysPeer: snap.sysPeer,
        poll: snap.poll,
        frequencyPpm: snap.frequencyPpm,
        offset: snap.offset,
        sources: snap.sources.map((x) => ({
          address: x.address,
          verdict: x.verdict,
          interleaved: x.interleaved,
          reach: x.reach,
          stratum: x.stratum,
        })),
      },
    };
  }
}
