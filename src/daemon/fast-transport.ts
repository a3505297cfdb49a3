/**
 * The daemon's batched server transport: the NTP sockets as FastServer workers (src/io/fast-server.ts)
 * instead of node:dgram, the clock and system variables published to them, and a socket object for
 * the daemon's own sends and its answers to what the workers forward.
 *
 * With an NTS server (`[nts] server-cert`) the workers answer NTS requests too: they get the cookie
 * jar's master keys at start and again after every change of the jar (a rotation), by message.
 *
 * `[serve] workers = N` (N > 0) chooses it; where batched sockets are missing
 * (not Linux, no FFI, another ABI) or the raw counter is not a clock the workers can read, the
 * daemon keeps the node:dgram path and says why in the log and `ntpkit status`.
 */
import type { LocalClock, RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import { defaultWorkers, type FastEndpoint, FastServer, fastServerSupport } from '../io/fast-server.js';
import { DatagramSender } from '../io/mmsg.js';
import { bindBatchFd } from '../io/mmsg-sys.js';
import type { Forwarded } from '../io/worker-protocol.js';
import type { GuardConfig } from '../serve/guard.js';
import type {
  ClientSnapshot,
  ServerStats,
  TimestampingStats,
  TransportSnapshot,
} from '../system/snapshot.js';
import type { NtpSystem } from '../system/system.js';
import type { Endpoint } from '../system/types.js';
import { toTimestamp } from '../time/ntp-time.js';
import type { Logger } from './log.js';
import {
  type DatagramHandler,
  type SendOptions,
  type Transport,
  type TransportSocket,
  UdpTransport,
} from './transport.js';

/** A socket of the batched transport as the packet handler sees it (per forwarded datagram). */
interface FastVia extends TransportSocket {
  readonly endpoint: FastEndpoint;
  /** The address the forwarded datagram was sent to: the reply's source. */
  readonly dest?: string;
}

export interface BatchedTransportOptions {
  config: DaemonConfig;
  port: number;
  raw: () => RawTime;
  engine: () => NtpSystem;
  clock: () => LocalClock;
  log: () => Logger;
  guard: GuardConfig;
  /** POSIX clock id of the raw counter (CLOCK_MONOTONIC = 1, CLOCK_MONOTONIC_RAW = 4). */
  rawClock: number;
  onDatagram: DatagramHandler;
}

/**
 * Republishing the clock line besides clock changes: the workers extend it as a straight line, so
 * it is republished before that line drifts more than PUBLISH_TOLERANCE_S from the clock (a slew's
 * curvature): at most every PUBLISH_MIN_MS, at least once a second (the longest of PUBLISH_WAITS,
 * which keeps a quiet daemon's wake-ups few).
 */
const PUBLISH_MIN_MS = 50;
const PUBLISH_WAITS = [1000, 500, 250, 100] as const;
const PUBLISH_TOLERANCE_S = 20e-9;

/** The fields of a reply that change only with the engine's state (compared after each event). */
interface Announced {
  leap: number;
  stratum: number;
  referenceId: number;
  rootDelay: number;
  referenceTimestamp: bigint;
}

/**
 * The daemon's Transport on batched worker sockets: the workers answer plain client requests;
 * what they forward reaches `onDatagram` with the kernel receive time, and every send of the main
 * thread (answers to those, the daemon's own requests) goes out on a worker's descriptor.
 */
export class BatchedTransport implements Transport {
  readonly endpoints: Endpoint[] = [];
  private server: FastServer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;
  private unlistenNts: (() => void) | null = null;
  private txUser = 0;
  /** What the last publication announced (`refresh` compares), and how many there were. */
  private announced: Announced | null = null;
  private publishes = 0;
  /**
   * The main thread's own member of each SO_REUSEPORT group (node:dgram on a descriptor bound to
   * the server port after the workers' sockets): the steering program never picks it, and its sends
   * have kernel transmit stamps on its own error queue. Null when it could not be bound.
   */
  private main: UdpTransport | null = null;

  constructor(private readonly o: BatchedTransportOptions) {}

  /** Why the batched transport is not used for `config` (null: it is to be tried). */
  static unavailable(config: DaemonConfig, rawClock: number | null): string | null {
    if (config.server.workers === 0) return '[serve] workers = 0';
    if (!config.server.enabled) return 'serving is off';
    if (rawClock === null) return 'the raw counter is not a clock the workers can read';
    return fastServerSupport();
  }

  async bind(): Promise<void> {
    const o = this.o;
    const c = o.config;
    const listen = c.server.listen.length > 0 ? c.server.listen : ['0.0.0.0', '::'];
    // The cookie jar is there before the sockets (src/daemon/nts.ts prepare): its keys go along.
    const jar = o.engine().ntsServer.jar;
    let server: FastServer;
    try {
      server = await FastServer.start({
        listen,
        port: o.port,
        workers: c.server.workers ?? defaultWorkers(),
        guard: o.guard,
        precision: c.system.precision,
        serving: c.server.enabled,
        rawClock: o.rawClock,
        interleavedTableSize: c.system.interleavedTableSize,
        keys: c.system.keys,
        ntsKeys: jar?.exportKeys() ?? null,
        onForward: (f) => this.onForward(f),
        onWarn: (m, fields) => o.log().warn(m, fields),
      });
    } catch (e) {
      throw new Error(`could not bind the NTP sockets: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.server = server;
    // Posted before the jar seals a cookie under a new key; a worker that meets such a cookie
    // first reads its messages (src/serve/worker-answer.ts).
    if (jar !== null) this.unlistenNts = jar.onChange((keys) => server.ntsKeys(keys));
    for (const e of server.endpoints) this.endpoints.push({ address: e.address, port: e.port });
    await this.bindMain(server);
    this.publish(false);
    this.unlisten = o.clock().onChange((ch) => this.publish(ch.kind === 'step'));
  }

  /**
   * Binds the main thread's member of each group (see `main`). The workers' steering program
   * returns a worker's index (the client's address mod the workers), and a member joins at the
   * next index, so no request is steered to it; broadcasts reach every member, and where the kernel
   * refused the program its share of requests is served by the main thread's usual path.
   */
  private async bindMain(server: FastServer): Promise<void> {
    const o = this.o;
    const main = new UdpTransport({
      listen: server.endpoints.map((e) => e.address),
      port: 0,
      timestamping: o.config.server.timestamping,
      raw: o.raw,
      clock: o.clock,
      log: o.log,
      onDatagram: o.onDatagram,
      adopt: (address) => {
        const e = server.endpoints.find((x) => x.address === address);
        if (e === undefined) throw new Error(`no batched socket on ${address}`);
        const b = bindBatchFd({ address, port: e.port, receiveStamps: false });
        const sender = new DatagramSender(b.fd, b.family);
        return { fd: b.fd, sendFrom: (bytes, to, from) => sender.send(bytes, to, from) };
      },
    });
    try {
      await main.bind();
      this.main = main;
    } catch (e) {
      await main.close();
      o.log().warn('batched server: no main-thread socket; own sends without kernel transmit stamps', {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  private onForward(f: Forwarded): void {
    const e = this.server?.endpoints[f.socket];
    if (e === undefined) return;
    const via: FastVia = {
      family: e.family,
      address: e.address,
      port: e.port,
      endpoint: e,
      dest: f.to.address,
    };
    this.o.onDatagram(via, f.bytes, f.from, f.rx);
  }

  /**
   * After each engine event (the daemon calls it): republishes at once when a field the replies
   * announce changed (leap, stratum, refid, root delay, reference time), so the workers never
   * announce a state the engine has left.
   */
  refresh(): void {
    const a = this.announced;
    if (this.server === null || a === null) return;
    const st = this.o.engine().serverState(this.o.raw());
    if (
      st.leap !== a.leap ||
      st.stratum !== a.stratum ||
      st.referenceId !== a.referenceId ||
      st.rootDelay !== a.rootDelay ||
      st.referenceTimestamp !== a.referenceTimestamp
    )
      this.publish(false);
  }

  /** Publishes the clock line and the system variables a reply carries; schedules the next. */
  publish(stepped: boolean): void {
    const server = this.server;
    if (server === null) return;
    this.publishes++;
    const engine = this.o.engine();
    const clock = this.o.clock();
    const raw = this.o.raw();
    const span = 100_000_000n;
    const st = engine.serverState(raw);
    const later = engine.serverState(raw + 1_000_000_000n);
    const time = clock.read(raw);
    const timeLater = clock.read(raw + span);
    this.announced = {
      leap: st.leap,
      stratum: st.stratum,
      referenceId: st.referenceId,
      rootDelay: st.rootDelay,
      referenceTimestamp: st.referenceTimestamp,
    };
    // The longest of these waits over which the workers' line stays close to the clock.
    let wait = PUBLISH_MIN_MS;
    for (const ms of PUBLISH_WAITS) {
      const at = BigInt(ms) * 1_000_000n;
      const line = time + ((timeLater - time) * at) / span;
      if (Math.abs(Number(clock.read(raw + at) - line) / 2 ** 32) <= PUBLISH_TOLERANCE_S) {
        wait = ms;
        break;
      }
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.publish(false), wait);
    this.timer.unref();
    server.publish({
      raw,
      time,
      timeLater,
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

  canReach(address: string): boolean {
    const fam = address.includes(':') ? 6 : 4;
    return (this.server?.endpoints ?? []).some((e) => e.family === fam);
  }

  send(bytes: Uint8Array, to: Endpoint, opts: SendOptions = {}, via?: TransportSocket): void {
    const main = this.main;
    // A datagram the main thread's own member received is answered on it.
    if (main !== null && via !== undefined && !('endpoint' in via)) {
      main.send(bytes, to, opts, via);
      return;
    }
    const v = via as FastVia | undefined;
    const e = v?.endpoint ?? this.server?.endpointFor(to, opts.from) ?? null;
    if (e === null) {
      this.o.log().debug('no socket for destination', { to });
      return;
    }
    const own = main?.socketAt(e.address);
    if (main !== null && own !== undefined) {
      // From the main thread's member of the same group: same port, kernel transmit stamps.
      const from = v?.dest !== undefined ? { address: v.dest, port: 0 } : opts.from;
      main.send(bytes, to, { ...opts, from }, own);
      return;
    }
    const o = this.o;
    if (opts.transmitAt !== undefined && opts.transmitAt + 8 <= bytes.length) {
      // The transmit timestamp as late as the host can: right before the (synchronous) sendmsg.
      const t = toTimestamp(o.clock().read(o.raw()));
      new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setBigUint64(opts.transmitAt, t);
    }
    const from =
      v?.dest ?? (opts.from !== undefined && opts.from.address !== e.address ? opts.from.address : undefined);
    let failed = false;
    try {
      e.sender.send(bytes, to, from);
    } catch (err) {
      failed = true;
      o.log().debug('send failed', { to, error: err });
    }
    const sent = o.raw();
    const onSent = opts.onSent;
    if (!failed && onSent !== undefined) {
      this.txUser++;
      queueMicrotask(() => onSent(sent));
    }
  }

  reconfigure(guard: GuardConfig, serving: boolean): void {
    this.server?.reconfigure(guard, serving);
  }

  /** The workers' server statistics (added to the main thread's by the daemon). */
  serverStats(): ServerStats | null {
    return this.server?.stats() ?? null;
  }

  clients(): ClientSnapshot[] {
    return this.server?.clients() ?? [];
  }

  /** The workers' stamps and the main thread's (its member's receives, its own sends). */
  stats(): TimestampingStats {
    const c = this.server?.counters();
    const m = this.main?.stats();
    const t: TimestampingStats = {
      mode: m?.mode === 'kernel' ? 'kernel' : 'kernel receive',
      rxKernel: (c?.rxKernel ?? 0) + (m?.rxKernel ?? 0),
      rxUser: (c?.rxFallback ?? 0) + (m?.rxUser ?? 0),
      txKernel: (c?.txKernel ?? 0) + (m?.txKernel ?? 0),
      txUser: this.txUser + (m?.txUser ?? 0),
    };
    // The basic replies' send latency: the workers' (they send nearly all), else the main thread's.
    const w = this.server?.sendLatency();
    if (w !== undefined && w.samples > 0)
      t.sendLatency = {
        samples: w.samples + (m?.sendLatency?.samples ?? 0),
        compensation: w.compensationNs / 1e9,
        median: w.medianNs === null ? null : w.medianNs / 1e9,
      };
    else if (m?.sendLatency !== undefined) t.sendLatency = m.sendLatency;
    return t;
  }

  snapshot(): Extract<TransportSnapshot, { kind: 'batched' }> {
    const c = this.server?.counters();
    const out: Extract<TransportSnapshot, { kind: 'batched' }> = {
      kind: 'batched',
      workers: c?.workers ?? 0,
      batches: c?.batches ?? 0,
      datagrams: c?.datagrams ?? 0,
      forwarded: c?.forwarded ?? 0,
      sendErrors: c?.sendErrors ?? 0,
      wakeups: c?.wakeups ?? 0,
      restarts: c?.restarts ?? 0,
      publishes: this.publishes,
    };
    if (this.server !== null && this.o.engine().ntsServer.jar !== null) out.nts = this.server.ntsStats();
    return out;
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unlisten?.();
    this.unlisten = null;
    this.unlistenNts?.();
    this.unlistenNts = null;
    const s = this.server;
    this.server = null;
    const m = this.main;
    this.main = null;
    await m?.close();
    await s?.stop();
  }
}

/** Adds the server workers' counters to the main thread's. */
export function mergeStats(into: ServerStats, add: ServerStats): void {
  into.requests += add.requests;
  into.responses += add.responses;
  into.interleavedResponses += add.interleavedResponses;
  into.kodSent += add.kodSent;
  into.rateLimited += add.rateLimited;
  into.denied += add.denied;
  into.dropped += add.dropped;
  into.clientsTracked += add.clientsTracked;
  for (const [k, v] of Object.entries(add.invalid)) into.invalid[k] = (into.invalid[k] ?? 0) + v;
}

/**
 * Adds the workers' NTS server counters (`transport.nts`) to the system snapshot's
 * `ntsServer*` (the main thread's), so those count every NTS request the daemon saw.
 */
export function mergeNtsExtra(
  extra: Record<string, number | string | boolean> | undefined,
  tr: TransportSnapshot,
): void {
  if (extra === undefined || tr.kind !== 'batched' || tr.nts === undefined) return;
  const add = (k: string, v: number) => {
    const was = extra[k];
    if (typeof was === 'number') extra[k] = was + v;
  };
  add('ntsServerRequests', tr.nts.requests);
  add('ntsServerResponses', tr.nts.responses);
  add('ntsServerNaks', tr.nts.naks);
  add('ntsServerRejected', tr.nts.rejected);
}

/**
 * One row per client address: the kernel spreads one address's source ports over the server's
 * sockets, so the main thread and several workers may each hold a row for it. Counts add up;
 * the port and the interleaved flag are those of the most recent request; the interval is the
 * span over the requests.
 */
export function mergeClients(rows: readonly ClientSnapshot[]): ClientSnapshot[] {
  const by = new Map<string, ClientSnapshot>();
  for (const r of rows) {
    const was = by.get(r.address);
    if (was === undefined) {
      by.set(r.address, { ...r });
      continue;
    }
    const newer = r.lastSeen < was.lastSeen ? r : was;
    const requests = was.requests + r.requests;
    const firstSeen =
      was.firstSeen !== undefined && r.firstSeen !== undefined
        ? Math.max(was.firstSeen, r.firstSeen)
        : undefined;
    const lastSeen = Math.min(was.lastSeen, r.lastSeen);
    const merged: ClientSnapshot = {
      address: r.address,
      requests,
      lastSeen,
      interval:
        firstSeen !== undefined && requests > 1
          ? (firstSeen - lastSeen) / (requests - 1)
          : (newer.interval ?? (newer === r ? was : r).interval),
      kodSent: was.kodSent + r.kodSent,
      dropped: was.dropped + r.dropped,
      interleaved: newer.interleaved,
    };
    if (newer.port !== undefined) merged.port = newer.port;
    if (firstSeen !== undefined) merged.firstSeen = firstSeen;
    by.set(r.address, merged);
  }
  return [...by.values()];
}
