/**
 * The daemon's NTP sockets: which transport serves (the batched workers of `[serve] workers`, or
 * node:dgram with the reason), binding it, following the host's addresses, and what the snapshot
 * and a reload need from it.
 *
 * The batched workers read the raw counter themselves, so they are chosen only when that counter
 * is a clock they can read: process.hrtime's CLOCK_MONOTONIC, or CLOCK_MONOTONIC_RAW while the
 * daemon drives the host clock through the FFI kernel interface (not an injected model).
 */
import { networkInterfaces } from 'node:os';
import type { LocalClock, RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import { DEFAULT_UNPRIVILEGED_PORT } from '../config/types.js';
import type { GuardConfig } from '../serve/guard.js';
import type { ClientSnapshot, ServerStats, TransportSnapshot } from '../system/snapshot.js';
import type { NtpSystem } from '../system/system.js';
import { BatchedTransport, mergeClients, mergeStats } from './fast-transport.js';
import type { Logger } from './log.js';
import { isRoot } from './privileges.js';
import { type DatagramHandler, type Transport, UdpTransport, type UdpTransportOptions } from './transport.js';

/** Effective serving port of a configuration. */
export function effectivePort(config: DaemonConfig): number {
  return config.server.port ?? (isRoot() ? 123 : DEFAULT_UNPRIVILEGED_PORT);
}

/** The host's addresses, every interface and family. */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
}

export interface NtpSocketsOptions {
  config: DaemonConfig;
  /** Whether the daemon drives the host clock (`[clock] system-clock`), and through an injected kernel. */
  drivesClock: boolean;
  injectedKernel: boolean;
  /** The server decision's guard configuration (access, rate limit) for the workers. */
  guard: GuardConfig;
  raw: () => RawTime;
  engine: () => NtpSystem;
  /** What we serve (UTC with the leap, slewed or smeared). */
  clock: () => LocalClock;
  log: () => Logger;
  onDatagram: DatagramHandler;
  /** Seconds between looks at the host's addresses (per-address sockets beside a wildcard); 0 = none. */
  interfaceInterval: number;
  /** The host's addresses; default hostAddresses(). */
  localAddresses?: (() => string[]) | undefined;
}

/** The bound NTP transport and what goes with it. */
export class NtpSockets {
  /** The transport; set by bind(). */
  transport!: Transport;
  /** Why the batched transport is not used (empty when it is). */
  private note = '';
  private interfaceTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: NtpSocketsOptions) {}

  /** Chooses the transport, binds it and logs where it listens; throws when nothing could be bound. */
  async bind(): Promise<void> {
    const o = this.o;
    const c = o.config;
    const rawClock = !o.drivesClock ? 1 : !o.injectedKernel ? 4 : null;
    const why = BatchedTransport.unavailable(c, rawClock);
    if (why === null) {
      const t = new BatchedTransport({
        config: c,
        port: effectivePort(c),
        raw: o.raw,
        engine: o.engine,
        clock: o.clock,
        log: o.log,
        guard: o.guard,
        rawClock: rawClock ?? 1,
        onDatagram: o.onDatagram,
      });
      this.transport = t;
      await t.bind();
      o.log().info('listening', {
        endpoints: t.endpoints,
        serving: c.server.enabled,
        transport: `batched (recvmmsg/sendmmsg), ${t.snapshot().workers} worker threads`,
        timestamping: t.stats().mode,
      });
      return;
    }
    this.note = why;
    if (c.server.workers !== 0 && c.server.enabled)
      o.log().warn('batched server unavailable; serving through node:dgram', { reason: why });
    const topts: UdpTransportOptions = {
      listen: c.server.listen,
      port: c.server.enabled ? effectivePort(c) : 0,
      timestamping: c.server.timestamping,
      raw: o.raw,
      // Basic-mode transmit timestamps: what we serve.
      clock: o.clock,
      log: o.log,
      onDatagram: o.onDatagram,
    };
    const every = o.interfaceInterval;
    if (every > 0) topts.localAddresses = o.localAddresses ?? hostAddresses;
    const udp = new UdpTransport(topts);
    this.transport = udp;
    await udp.bind();
    if (every > 0) {
      this.interfaceTimer = setInterval(() => void udp.refresh(), every * 1000);
      this.interfaceTimer.unref();
    }
    o.log().info('listening', {
      endpoints: udp.endpoints,
      serving: c.server.enabled,
      timestamping: udp.stampingModes(),
    });
  }

  /**
   * Adds the workers' counters (batched transport) to the main thread's, and returns the client
   * table with the workers' rows: one row per address (`mergeClients`).
   */
  addWorkerStats(server: ServerStats, clients: readonly ClientSnapshot[]): ClientSnapshot[] {
    const t = this.transport;
    if (!(t instanceof BatchedTransport)) return [...clients];
    const w = t.serverStats();
    if (w !== null) mergeStats(server, w);
    return mergeClients([...clients, ...t.clients()]);
  }

  /** After an engine event: the workers' published state follows it (batched transport). */
  refresh(): void {
    if (this.transport instanceof BatchedTransport) this.transport.refresh();
  }

  snapshot(): TransportSnapshot {
    const t = this.transport;
    return t instanceof BatchedTransport
      ? t.snapshot()
      : { kind: 'node:dgram', reason: this.note || 'not configured' };
  }

  /** A reload's access and rate-limit configuration, for the workers. */
  reconfigure(guard: GuardConfig, serving: boolean): void {
    if (this.transport instanceof BatchedTransport) this.transport.reconfigure(guard, serving);
  }

  async close(): Promise<void> {
    if (this.interfaceTimer !== null) clearInterval(this.interfaceTimer);
    this.interfaceTimer = null;
    await this.transport?.close();
  }
}
