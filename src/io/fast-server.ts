/**
 * The main thread's side of the batched server: binds one SO_REUSEPORT batch socket per worker and
 * listen address, starts the workers (src/io/fast-worker.ts), publishes the clock and system
 * variables to them (src/serve/published.ts), hands the datagrams they forward to the daemon, sends
 * the daemon's own datagrams on the same descriptors, and merges the workers' statistics.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { GuardConfig } from '../serve/guard.js';
import { PublishedWriter, type PublishInput } from '../serve/published.js';
import type { ClientSnapshot, ServerStats } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';
import type { Forwarded, WorkerInit, WorkerSocket, WorkerStats } from './fast-worker.js';
import { batchSupport, bindBatchFd, closeFd, DatagramSender } from './mmsg.js';

export interface FastServerOptions {
  listen: readonly string[];
  port: number;
  /** Worker threads; 0 or less: the number of cores. */
  workers: number;
  guard: GuardConfig;
  precision: number;
  serving: boolean;
  /** POSIX clock id of the raw counter the published clock line is on (default CLOCK_MONOTONIC). */
  rawClock?: number;
  /** A datagram the workers do not answer themselves (called on the main thread). */
  onForward(f: Forwarded): void;
  onWarn(message: string, fields?: Record<string, unknown>): void;
}

/** One listen address: its port, and the descriptor the main thread sends on. */
export interface FastEndpoint {
  address: string;
  family: 4 | 6;
  port: number;
  sender: DatagramSender;
}

export interface FastCounters {
  workers: number;
  batches: number;
  datagrams: number;
  replies: number;
  forwarded: number;
  sendErrors: number;
  rxKernel: number;
  rxFallback: number;
}

/** Whether the batched server can run here: null, or why not (then the daemon uses node:dgram). */
export function fastServerSupport(): string | null {
  return batchSupport();
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export class FastServer {
  readonly endpoints: FastEndpoint[] = [];
  private readonly writer = PublishedWriter.create();
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private readonly workers: Worker[] = [];
  private readonly fds: number[] = [];
  private readonly last = new Map<number, WorkerStats>();
  private readonly exited: Promise<void>[] = [];

  private constructor(private readonly o: FastServerOptions) {}

  /** Binds every socket and starts the workers; throws (with everything closed) on a bind error. */
  static async start(o: FastServerOptions): Promise<FastServer> {
    const s = new FastServer(o);
    try {
      await s.open();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  get workerCount(): number {
    return this.workers.length;
  }

  private async open(): Promise<void> {
    const o = this.o;
    const n = o.workers > 0 ? o.workers : defaultWorkers();
    const perWorker: WorkerSocket[][] = Array.from({ length: n }, () => []);
    for (const address of o.listen) {
      let port = o.port;
      for (let w = 0; w < n; w++) {
        const b = bindBatchFd({ address, port, timeoutMs: 100 });
        this.fds.push(b.fd);
        // Port 0: the first socket's port is everybody's.
        port = b.port;
        perWorker[w]?.push({ fd: b.fd, family: b.family, port: b.port, address });
        if (w === 0)
          this.endpoints.push({
            address,
            family: b.family,
            port: b.port,
            sender: new DatagramSender(b.fd, b.family),
          });
      }
    }
    const url = new URL('./fast-worker.js', import.meta.url);
    const ready: Promise<void>[] = [];
    for (let w = 0; w < n; w++) {
      const init: WorkerInit = {
        index: w,
        sockets: perWorker[w] ?? [],
        published: this.writer.buffer,
        control: this.control.buffer as SharedArrayBuffer,
        guard: { ...o.guard, random: undefined },
        precision: o.precision,
        serving: o.serving,
        rawClock: o.rawClock ?? 1,
        timeoutMs: 100,
      };
      delete init.guard.random;
      const worker = new Worker(url, { workerData: init });
      this.workers.push(worker);
      this.exited.push(new Promise((r) => worker.once('exit', () => r())));
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('error', reject);
          worker.on('message', (m: Forwarded | WorkerStats | { kind: 'ready' }) => {
            if (m.kind === 'ready') resolve();
            else if (m.kind === 'forward') o.onForward(m);
            else if (m.kind === 'stats') this.last.set(m.worker, m);
          });
        }),
      );
      worker.on('error', (e) => o.onWarn('server worker failed', { worker: w, error: e }));
    }
    await Promise.all(ready);
    // The workers do not keep the process alive by themselves (the daemon's own handles do).
    for (const w of this.workers) w.unref();
  }

  /** Publishes the clock and system variables to every worker (lock-free for them). */
  publish(p: PublishInput): void {
    this.writer.publish(p);
  }

  reconfigure(guard: GuardConfig, serving: boolean): void {
    const g = { ...guard };
    delete g.random;
    for (const w of this.workers) w.postMessage({ kind: 'reconfigure', guard: g, serving });
  }

  /** The workers' request statistics, summed (as of their last report, at most a second old). */
  stats(): ServerStats {
    const t: ServerStats = {
      requests: 0,
      responses: 0,
      interleavedResponses: 0,
      kodSent: 0,
      rateLimited: 0,
      denied: 0,
      dropped: 0,
      invalid: {},
      clientsTracked: 0,
    };
    for (const w of this.last.values()) {
      const s = w.stats;
      t.requests += s.requests;
      t.responses += s.responses;
      t.interleavedResponses += s.interleavedResponses;
      t.kodSent += s.kodSent;
      t.rateLimited += s.rateLimited;
      t.denied += s.denied;
      t.dropped += s.dropped;
      t.clientsTracked += s.clientsTracked;
      for (const [k, v] of Object.entries(s.invalid)) t.invalid[k] = (t.invalid[k] ?? 0) + v;
    }
    return t;
  }

  clients(): ClientSnapshot[] {
    const all: ClientSnapshot[] = [];
    for (const w of this.last.values()) all.push(...w.clients);
    return all;
  }

  counters(): FastCounters {
    const c: FastCounters = {
      workers: this.workers.length,
      batches: 0,
      datagrams: 0,
      replies: 0,
      forwarded: 0,
      sendErrors: 0,
      rxKernel: 0,
      rxFallback: 0,
    };
    for (const w of this.last.values()) {
      c.batches += w.batches;
      c.datagrams += w.datagrams;
      c.replies += w.replies;
      c.forwarded += w.forwarded;
      c.sendErrors += w.sendErrors;
      c.rxKernel += w.rxKernel;
      c.rxFallback += w.rxFallback;
    }
    return c;
  }

  /** The endpoint to send a datagram to `to` from (`from`: a local endpoint the engine chose). */
  endpointFor(to: Endpoint, from?: Endpoint): FastEndpoint | null {
    const family = to.address.includes(':') ? 6 : 4;
    if (from !== undefined) {
      const exact = this.endpoints.find((e) => e.address === from.address);
      if (exact !== undefined) return exact;
    }
    return this.endpoints.find((e) => e.family === family) ?? null;
  }

  async stop(): Promise<void> {
    Atomics.store(this.control, 0, 1);
    const t = setTimeout(() => {
      for (const w of this.workers) void w.terminate();
    }, 2000);
    await Promise.all(this.exited);
    clearTimeout(t);
    for (const fd of this.fds.splice(0)) closeFd(fd);
  }
}
