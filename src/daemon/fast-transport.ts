/**
 * The daemon's batched server transport: the NTP sockets as FastServer workers (src/io/fast-server.ts)
 * instead of node:dgram, the clock and system variables published to them, and a socket object for
 * the daemon's own sends and its answers to what the workers forward.
 *
 * `[serve] workers = N` (N > 0) chooses it; where batched sockets are missing
 * (not Linux, no FFI, another ABI) or the raw counter is not a clock the workers can read, the
 * daemon keeps the node:dgram path and says why in the log and `ntpkit status`.
 */
import type { LocalClock, RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import { defaultWorkers, type FastEndpoint, FastServer, fastServerSupport } from '../io/fast-server.js';
import type { Forwarded } from '../io/fast-worker.js';
import type { GuardConfig } from '../serve/guard.js';
import type { ClientSnapshot, ServerStats, TransportSnapshot } from '../system/snapshot.js';
import type { NtpSystem } from '../system/system.js';
import type { Endpoint } from '../system/types.js';
import type { Logger } from './log.js';

/** What the daemon needs of a socket: node:dgram's and the batched one's common part. */
export interface NtpSocket {
  send(bytes: Uint8Array, port: number, address: string, cb: (err: Error | null) => void): void;
  close(cb?: () => void): void;
}

/** A listen address of the batched server, as a socket for the main thread's sends. */
export class FastSocket implements NtpSocket {
  /** Source address for the sends made while a forwarded datagram is handled (its destination). */
  source: string | undefined;

  constructor(readonly endpoint: FastEndpoint) {}

  send(bytes: Uint8Array, port: number, address: string, cb: (err: Error | null) => void): void {
    let err: Error | null = null;
    try {
      this.endpoint.sender.send(bytes, { address, port }, this.source);
    } catch (e) {
      err = e instanceof Error ? e : new Error(String(e));
    }
    queueMicrotask(() => cb(err));
  }

  close(cb?: () => void): void {
    cb?.();
  }
}

export interface FastTransportDeps {
  raw: () => RawTime;
  engine: () => NtpSystem;
  clock: () => LocalClock;
  log: () => Logger;
  guard: GuardConfig;
  /** POSIX clock id of the raw counter (CLOCK_MONOTONIC = 1, CLOCK_MONOTONIC_RAW = 4). */
  rawClock: number;
  onForward(socket: FastSocket, f: Forwarded): void;
}

/** How often the clock line and system variables are republished (ms), besides clock changes. */
const PUBLISH_MS = 50;

export class FastTransport {
  readonly sockets: FastSocket[];
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;

  private constructor(
    private readonly server: FastServer,
    private readonly deps: FastTransportDeps,
  ) {
    this.sockets = server.endpoints.map((e) => new FastSocket(e));
  }

  /** Why the batched transport is not used for `config` (null: it is to be tried). */
  static unavailable(config: DaemonConfig, rawClock: number | null): string | null {
    if (config.server.workers === 0) return '[serve] workers = 0';
    if (!config.server.enabled) return 'serving is off';
    if (rawClock === null) return 'the raw counter is not a clock the workers can read';
    return fastServerSupport();
  }

  static async open(config: DaemonConfig, port: number, deps: FastTransportDeps): Promise<FastTransport> {
    const listen = config.server.listen.length > 0 ? config.server.listen : ['0.0.0.0', '::'];
    let t: FastTransport | null = null;
    const server = await FastServer.start({
      listen,
      port,
      workers: config.server.workers > 0 ? config.server.workers : defaultWorkers(),
      guard: deps.guard,
      precision: config.system.precision,
      serving: config.server.enabled,
      rawClock: deps.rawClock,
      onForward: (f) => {
        const s = t?.sockets.find((x) => x.endpoint === server.endpoints[f.socket]);
        if (s !== undefined) deps.onForward(s, f);
      },
      onWarn: (m, fields) => deps.log().warn(m, fields),
    });
    t = new FastTransport(server, deps);
    t.publish(false);
    t.timer = setInterval(() => t?.publish(false), PUBLISH_MS);
    t.timer.unref();
    t.unlisten = deps.clock().onChange((c) => t?.publish(c.kind === 'step'));
    return t;
  }

  /** Publishes the clock line and the system variables a reply carries. */
  publish(stepped: boolean): void {
    const engine = this.deps.engine();
    const clock = this.deps.clock();
    const raw = this.deps.raw();
    const span = 100_000_000n;
    const st = engine.serverState(raw);
    const later = engine.serverState(raw + 1_000_000_000n);
    this.server.publish({
      raw,
      time: clock.read(raw),
      timeLater: clock.read(raw + span),
      spanNs: Number(span),
      leap: st.leap,
      stratum: st.stratum,
      precision: st.precision,
      referenceId: st.referenceId,
      rootDelay: st.rootDelay,
      rootDispersion: st.rootDispersion,
      rootDispersionLater: later.rootDispersion,
      referenceTimestamp: st.referenceTimestamp,
      stepped,
    });
  }

  reconfigure(guard: GuardConfig, serving: boolean): void {
    this.server.reconfigure(guard, serving);
  }

  stats(): ServerStats {
    return this.server.stats();
  }

  clients(): ClientSnapshot[] {
    return this.server.clients();
  }

  snapshot(): Extract<TransportSnapshot, { kind: 'batched' }> {
    const c = this.server.counters();
    return {
      kind: 'batched',
      workers: c.workers,
      batches: c.batches,
      datagrams: c.datagrams,
      forwarded: c.forwarded,
      sendErrors: c.sendErrors,
    };
  }

  /** Receive stamps the workers took from the kernel / without one. */
  receiveCounts(): { kernel: number; fallback: number } {
    const c = this.server.counters();
    return { kernel: c.rxKernel, fallback: c.rxFallback };
  }

  endpointsOf(): Endpoint[] {
    return this.server.endpoints.map((e) => ({ address: e.address, port: e.port }));
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unlisten?.();
    await this.server.stop();
  }
}
