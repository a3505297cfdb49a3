/**
 * A seeded UDP delay relay for interop tests (the kernel here has no netem): datagrams from clients
 * to `listen` go to `target` after `base + exp(jitter)` seconds, and the replies back after the
 * same per-direction law, each direction with its own seeded draws.
 *
 * It runs in a worker thread so that its timing (a timer, then a short spin to the deadline) does not
 * disturb the process under test. Each client address gets its own upstream socket, so replies find
 * their way back and the server sees one peer per client.
 *
 * ```ts
 * const relay = await startRelay({ target: { address: '127.0.0.1', port: 12201 }, seed: 1,
 *   forward: { base: 0.01, jitter: 0.001 }, back: { base: 0.01, jitter: 0.001 } });
 * t.after(() => relay.stop());
 * // clients send to 127.0.0.1:relay.port
 * ```
 */
import * as dgram from 'node:dgram';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { seeded } from '../../src/sim/rng.js';

/** Delay law of one direction: `base` s plus an exponential draw of mean `jitter` s, `loss` dropped. */
export interface DelayLaw {
  base: number;
  jitter: number;
  loss?: number;
}

export interface RelayOptions {
  target: { address: string; port: number };
  /** Address and port to listen on (default 127.0.0.1, any free port). */
  listen?: { address: string; port: number };
  /** Client → server and server → client. */
  forward: DelayLaw;
  back: DelayLaw;
  seed: number;
}

export interface RelayStats {
  forwarded: number;
  returned: number;
  dropped: number;
}

export interface Relay {
  /** The port clients send to. */
  readonly port: number;
  stats(): Promise<RelayStats>;
  stop(): Promise<void>;
}

/** Starts the relay in a worker thread; resolves once it listens. */
export function startRelay(opts: RelayOptions): Promise<Relay> {
  const w = new Worker(new URL(import.meta.url), { workerData: opts });
  return new Promise((resolve, reject) => {
    let pendingStats: ((s: RelayStats) => void)[] = [];
    w.once('error', reject);
    w.on('message', (m: { kind: 'ready'; port: number } | { kind: 'stats'; stats: RelayStats }) => {
      if (m.kind === 'ready') {
        resolve({
          port: m.port,
          stats: () =>
            new Promise((r) => {
              pendingStats.push(r);
              w.postMessage('stats');
            }),
          stop: async () => {
            pendingStats = [];
            await w.terminate();
          },
        });
      } else {
        const r = pendingStats.shift();
        r?.(m.stats);
      }
    });
  });
}

/** A sampler of one direction's law (seeded, independent of the other direction). */
function sampler(law: DelayLaw, seed: number): () => number | null {
  const u = seeded(seed);
  return () => {
    const drop = u() < (law.loss ?? 0);
    const d = law.base - law.jitter * Math.log(1 - u());
    return drop ? null : d;
  };
}

/** Sends `send()` at hrtime `deadline` (ns): a timer to ~1 ms before, then a spin of turns. */
function at(deadline: bigint, send: () => void): void {
  const spin = () => {
    if (process.hrtime.bigint() >= deadline) send();
    else setImmediate(spin);
  };
  const ms = Number(deadline - process.hrtime.bigint()) / 1e6 - 1.5;
  if (ms > 0) setTimeout(spin, ms);
  else spin();
}

function runWorker(opts: RelayOptions): void {
  const fwd = sampler(opts.forward, opts.seed * 2 + 1);
  const back = sampler(opts.back, opts.seed * 2 + 2);
  const stats: RelayStats = { forwarded: 0, returned: 0, dropped: 0 };
  const front = dgram.createSocket('udp4');
  const upstream = new Map<string, dgram.Socket>();
  const delayed = (d: number | null, send: () => void, count: () => void) => {
    if (d === null) {
      stats.dropped++;
      return;
    }
    const deadline = process.hrtime.bigint() + BigInt(Math.round(d * 1e9));
    at(deadline, () => {
      send();
      count();
    });
  };
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = upstream.get(key);
    if (up === undefined) {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1');
      s.on('message', (reply) =>
        delayed(
          back(),
          () => front.send(reply, rinfo.port, rinfo.address),
          () => stats.returned++,
        ),
      );
      upstream.set(key, s);
      up = s;
    }
    const u = up;
    delayed(
      fwd(),
      () => u.send(msg, opts.target.port, opts.target.address),
      () => stats.forwarded++,
    );
  });
  parentPort?.on('message', () => parentPort?.postMessage({ kind: 'stats', stats: { ...stats } }));
  const l = opts.listen ?? { address: '127.0.0.1', port: 0 };
  front.bind(l.port, l.address, () => parentPort?.postMessage({ kind: 'ready', port: front.address().port }));
}

if (!isMainThread && (workerData as RelayOptions | undefined)?.target !== undefined)
  runWorker(workerData as RelayOptions);
