/**
 * The main thread's side of the batched server: binds one SO_REUSEPORT batch socket per worker and
 * listen address, starts the workers (src/io/fast-worker.ts), publishes the clock and system
 * variables to them (src/serve/published.ts), hands the datagrams they forward to the daemon, sends
 * the daemon's own datagrams on the same descriptors, and merges the workers' statistics.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SymmetricKey } from '../assoc/config.js';
import type { MasterKey } from '../nts/cookie.js';
import type { NtsServerStats } from '../serve/answer.js';
import type { GuardConfig } from '../serve/guard.js';
import { PublishedWriter, type PublishInput } from '../serve/published.js';
import { REJECT_REASONS } from '../serve/reasons.js';
import type { ClientSnapshot, ServerStats } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';
import { DatagramSender } from './mmsg.js';
import { attachSourceHash, batchSupport, bindBatchFd, closeFd, shutdownRead, WakeFd } from './mmsg-sys.js';
import {
  type Forwarded,
  SHARED_COUNTERS,
  SHARED_SIZE,
  type WorkerCounts,
  type WorkerInit,
  type WorkerMessage,
  type WorkerSocket,
  type WorkerStats,
} from './worker-protocol.js';

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
  /** Slots of each worker's interleaved table (default 1024; 0: interleaved requests are forwarded). */
  interleavedTableSize?: number;
  /** The symmetric keys, for requests with a MAC (answered by the workers). */
  keys?: readonly SymmetricKey[];
  /** The NTS cookie master keys (NTS requests answered by the workers; later changes: `ntsKeys`). */
  ntsKeys?: readonly MasterKey[] | null;
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

export interface FastCounters extends WorkerCounts {
  workers: number;
  /** Workers started again after they ended (a fault). */
  restarts: number;
}

/** Whether the batched server can run here: null, or why not (then the daemon uses node:dgram). */
export function fastServerSupport(): string | null {
  return batchSupport();
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Each worker's V8 heap limits (MiB): its tables are bounded by their sizes, so these only catch a
 * fault (a worker over them ends and is started again) and make the memory bound a limit.
 */
export const WORKER_HEAP_MB = 64;
export const WORKER_YOUNG_MB = 16;

/** Shared counters that are a current value, not a count: a restarted worker's start from zero. */
const GAUGES = new Set(
  (['clientsTracked', 'latencyCompensationNs', 'latencyMedianNs'] as const).map((k) =>
    SHARED_COUNTERS.indexOf(k),
  ),
);

export class FastServer {
  readonly endpoints: FastEndpoint[] = [];
  private readonly writer = PublishedWriter.create();
  /** [0] stop flag, [1] NTS key changes posted (a worker reads its messages when it moved). */
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private readonly workers: Worker[] = [];
  private readonly fds: number[] = [];
  /** Each worker's last statistics message and when it arrived (performance.now(), ms). */
  private readonly last = new Map<number, { at: number; stats: WorkerStats }>();
  private readonly shared: Float64Array[] = [];
  private readonly exited: Promise<void>[] = [];
  private readonly inits: WorkerInit[] = [];
  /** Per worker: what its earlier incarnations counted (added to its shared block's counters). */
  private readonly base: Float64Array[] = [];
  private stopping = false;
  private restarts = 0;
  /** One eventfd per worker, written after a message and at stop (a worker with several sockets sleeps in poll). */
  private readonly wakes: WakeFd[] = [];

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
      // SO_REUSEPORT would let a second daemon share the port silently: a plain bind first proves
      // it free (and picks the port when 0 was asked for).
      const probe = bindBatchFd({ address, port: o.port, reusePort: false });
      closeFd(probe.fd);
      let port = probe.port;
      for (let w = 0; w < n; w++) {
        // The receive timeout is a lone socket's idle wake-up (the worker then blocks in recvmmsg).
        const b = bindBatchFd({ address, port, timeoutMs: 1000 });
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
      const first = perWorker[0]?.[perWorker[0].length - 1];
      if (first !== undefined && !attachSourceHash(first.fd, first.family, n))
        o.onWarn(
          'server workers: the kernel refused the by-address socket choice; clients spread by 4-tuple',
          {
            address,
          },
        );
    }
    const ready: Promise<void>[] = [];
    for (let w = 0; w < n; w++) {
      const wake = WakeFd.create();
      this.wakes.push(wake);
      const counters = new SharedArrayBuffer(SHARED_SIZE * 8);
      this.shared.push(new Float64Array(counters));
      this.base.push(new Float64Array(SHARED_SIZE));
      const init: WorkerInit = {
        counters,
        index: w,
        sockets: perWorker[w] ?? [],
        published: this.writer.buffer,
        control: this.control.buffer as SharedArrayBuffer,
        guard: { ...o.guard, random: undefined },
        precision: o.precision,
        serving: o.serving,
        rawClock: o.rawClock ?? 1,
        timeoutMs: 1000,
        wakeFd: wake.fd,
        interleavedTableSize: o.interleavedTableSize ?? 1024,
        keys: (o.keys ?? []).map((k) => ({ ...k })),
        ntsKeys: o.ntsKeys === undefined || o.ntsKeys === null ? null : o.ntsKeys.map((k) => ({ ...k })),
      };
      delete init.guard.random;
      this.inits.push(init);
      ready.push(this.spawn(w));
    }
    await Promise.all(ready);
  }

  /**
   * Starts worker `w` on its sockets; resolves once it serves. A worker that ends before `stop`
   * (an exception, or its heap over WORKER_HEAP_MB) is logged and started again on the same
   * sockets after a second, with the current configuration and NTS keys; its counters carry on
   * from where they were. Its client, rate-limit and interleaved tables start empty.
   */
  private spawn(w: number): Promise<void> {
    const o = this.o;
    const init = this.inits[w];
    if (init === undefined) return Promise.resolve();
    const worker = new Worker(new URL('./fast-worker.js', import.meta.url), {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
    });
    this.workers[w] = worker;
    this.exited[w] = new Promise((r) =>
      worker.once('exit', (code) => {
        r();
        if (this.stopping) return;
        // Counters continue: what the dead worker counted becomes this worker's base.
        const sh = this.shared[w];
        const base = this.base[w];
        if (sh !== undefined && base !== undefined) {
          for (let i = 0; i < SHARED_SIZE; i++) if (!GAUGES.has(i)) base[i] = (base[i] ?? 0) + (sh[i] ?? 0);
          sh.fill(0);
        }
        this.restarts++;
        o.onWarn('server worker ended; starting it again in 1 s', { worker: w, code });
        const t = setTimeout(() => {
          if (!this.stopping)
            this.spawn(w).catch((e) => o.onWarn('server worker failed to start', { worker: w, error: e }));
        }, 1000);
        t.unref();
      }),
    );
    worker.on('error', (e) => o.onWarn('server worker failed', { worker: w, error: e }));
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: Forwarded | WorkerStats | { kind: 'ready' }) => {
        if (m.kind === 'ready') {
          // The workers do not keep the process alive by themselves (the daemon's own handles do).
          worker.unref();
          resolve();
        } else if (m.kind === 'forward') o.onForward(m);
        else if (m.kind === 'stats') this.last.set(m.worker, { at: performance.now(), stats: m });
      });
    });
  }

  /**
   * Ends worker `w` as a crash would (tests: it is started again): it throws from its own message
   * handler. (`terminate()` could land inside a koffi call, which aborts the whole process.)
   */
  async crashWorker(w: number): Promise<void> {
    const worker = this.workers[w];
    if (worker === undefined) return;
    const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const m: WorkerMessage = { kind: 'crash' };
    worker.postMessage(m);
    this.wakeAll();
    await ended;
  }

  /** Workers started again after they ended. */
  get workerRestarts(): number {
    return this.restarts;
  }

  /** Publishes the clock and system variables to every worker (lock-free for them). */
  publish(p: PublishInput): void {
    this.writer.publish(p);
  }

  reconfigure(guard: GuardConfig, serving: boolean): void {
    const g = { ...guard };
    delete g.random;
    const m: WorkerMessage = { kind: 'reconfigure', guard: g, serving };
    for (const w of this.workers) w.postMessage(m);
    // A worker started again later starts from these.
    for (const init of this.inits) {
      init.guard = { ...g };
      init.serving = serving;
    }
    this.wakeAll();
  }

  /** Wakes every worker out of poll, to read its messages or the stop flag. */
  private wakeAll(): void {
    for (const w of this.wakes) w.wake();
  }

  /** New NTS master keys (a rotation) for every worker; null: NTS requests go to the main thread. */
  ntsKeys(keys: readonly MasterKey[] | null): void {
    const m: WorkerMessage = { kind: 'nts-keys', keys: keys === null ? null : keys.map((k) => ({ ...k })) };
    for (const w of this.workers) w.postMessage(m);
    for (const init of this.inits) init.ntsKeys = m.keys;
    // After the messages: a worker that sees the count move finds them queued.
    Atomics.add(this.control, 1, 1);
    this.wakeAll();
  }

  /** The workers' NTS server counters, summed. */
  ntsStats(): NtsServerStats {
    return {
      requests: this.sum('ntsRequests'),
      responses: this.sum('ntsResponses'),
      naks: this.sum('ntsNaks'),
      rejected: this.sum('ntsRejected'),
    };
  }

  /** A worker's current counter `name` (from its shared block). */
  private counter(w: number, name: (typeof SHARED_COUNTERS)[number]): number {
    return this.slot(w, SHARED_COUNTERS.indexOf(name));
  }

  /** Slot `i` of worker `w`'s shared block plus what its earlier incarnations counted there. */
  private slot(w: number, i: number): number {
    return (this.shared[w]?.[i] ?? 0) + (this.base[w]?.[i] ?? 0);
  }

  private sum(name: (typeof SHARED_COUNTERS)[number]): number {
    let t = 0;
    for (let w = 0; w < this.shared.length; w++) t += this.counter(w, name);
    return t;
  }

  /** The workers' request statistics, summed (current: read from their shared blocks). */
  stats(): ServerStats {
    const t: ServerStats = {
      requests: this.sum('requests'),
      responses: this.sum('responses'),
      interleavedResponses: this.sum('interleavedResponses'),
      kodSent: this.sum('kodSent'),
      rateLimited: this.sum('rateLimited'),
      denied: this.sum('denied'),
      dropped: this.sum('dropped'),
      invalid: {},
      clientsTracked: this.sum('clientsTracked'),
    };
    for (const [i, reason] of REJECT_REASONS.entries()) {
      let n = 0;
      for (let w = 0; w < this.shared.length; w++) n += this.slot(w, SHARED_COUNTERS.length + i);
      if (n > 0) t.invalid[reason] = n;
    }
    return t;
  }

  /** The workers' client tables as last reported, their ages brought up to now. */
  clients(): ClientSnapshot[] {
    const all: ClientSnapshot[] = [];
    const now = performance.now();
    for (const { at, stats } of this.last.values()) {
      const age = (now - at) / 1000;
      for (const c of stats.clients)
        all.push({
          ...c,
          lastSeen: c.lastSeen + age,
          ...(c.firstSeen !== undefined ? { firstSeen: c.firstSeen + age } : {}),
        });
    }
    return all;
  }

  counters(): FastCounters {
    return {
      workers: this.workers.length,
      restarts: this.restarts,
      batches: this.sum('batches'),
      datagrams: this.sum('datagrams'),
      replies: this.sum('replies'),
      forwarded: this.sum('forwarded'),
      sendErrors: this.sum('sendErrors'),
      rxKernel: this.sum('rxKernel'),
      rxFallback: this.sum('rxFallback'),
      txKernel: this.sum('txKernel'),
      txRejected: this.sum('txRejected'),
      wakeups: this.sum('wakeups'),
    };
  }

  /**
   * The workers' measured send latency of basic replies (src/serve/send-latency.ts): samples
   * summed, compensation and median the mean over the workers that have measured (ns).
   */
  sendLatency(): { samples: number; compensationNs: number; medianNs: number | null } {
    let samples = 0;
    let comp = 0;
    let med = 0;
    let n = 0;
    for (let w = 0; w < this.shared.length; w++) {
      const k = this.counter(w, 'latencySamples');
      const m = this.counter(w, 'latencyMedianNs');
      if (k === 0 || m < 0) continue;
      samples += k;
      comp += this.counter(w, 'latencyCompensationNs');
      med += m;
      n++;
    }
    return { samples, compensationNs: n > 0 ? comp / n : 0, medianNs: n > 0 ? med / n : null };
  }

  /** Replies per worker (how the kernel spread the clients). */
  repliesPerWorker(): number[] {
    return this.shared.map((_, w) => this.counter(w, 'replies'));
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
    this.stopping = true;
    Atomics.store(this.control, 0, 1);
    this.wakeAll();
    // A worker blocked in recvmmsg on its one socket returns at once.
    for (const fd of this.fds) shutdownRead(fd);
    const t = setTimeout(() => {
      for (const w of this.workers) void w.terminate();
    }, 2000);
    await Promise.all(this.exited);
    clearTimeout(t);
    for (const fd of this.fds.splice(0)) closeFd(fd);
    for (const w of this.wakes.splice(0)) w.close();
  }
}
