/**
 * Observability of the running daemon: the control socket, Prometheus metrics, the web dashboard
 * and statistics files, all fed by the one DaemonSnapshot. The daemon calls `startObservability`
 * once at start and `close()` at stop; mode 6 (ntpq) requests arriving on the NTP socket go to
 * `handleMode6`.
 */
import { chownSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DaemonSnapshot } from '../system/snapshot.js';
import type { SystemEvent } from '../system/types.js';
import { type CommandHandler, type ControlServer, startControlServer } from './control.js';
import { EventLog } from './events.js';
import { History } from './history.js';
import { type HttpServerHandle, parseListenAddress, startHttpServer } from './http.js';
import { type StatsRotate, StatsWriter } from './stats.js';

export {
  type CommandHandler,
  ControlError,
  type ControlReply,
  controlRequest,
  READ_ONLY_COMMANDS,
  requestSnapshot,
} from './control.js';
export { prometheusText } from './metrics.js';
export { handleMode6, type Mode6Options } from './mode6.js';
export { defaultControlSocketPath } from './paths.js';
export type { StatsRotate } from './stats.js';

export interface ObservabilityOptions {
  /** Unix socket path of the control channel (null: none). See defaultControlSocketPath(). */
  controlSocket: string | null;
  /** Prometheus listen address "HOST:PORT" (null: off). Without a host: 127.0.0.1. */
  metrics: string | null;
  /** Dashboard listen address "HOST:PORT" (null: off). The same address as `metrics` shares one server. */
  dashboard: string | null;
  /** Directory for loopstats.csv / peerstats.csv (null: off). */
  statsDir: string | null;
  /** 'daily' (NAME.YYYYMMDD at UTC midnight), 'none', or size/daily rotation settings. Default: by size, 10 MiB x 5. */
  statsRotate?: StatsRotate | 'daily' | 'none';
  /** Sampling period of the dashboard time series and the stats files, ms (default 1000). */
  sampleIntervalMs?: number;
  /** Samples kept for the dashboard as taken (default 3600), before the coarse tier takes over. */
  historySize?: number;
  /** One-minute points kept for the dashboard beyond those (default 1440: 24 hours). */
  coarseHistorySize?: number;
  /** Events kept for the dashboard's event strip (default 500). */
  eventsSize?: number;
  /** The host's monotonic clock in seconds (default performance.now()); tests drive it. */
  monotonic?: () => number;
  /**
   * When the daemon will drop privileges to this user after start: the statistics directory (and
   * files) and the control socket with its directory are handed over to it, so that it can keep
   * writing, and the socket can be removed at stop. Root can always query the socket.
   */
  owner?: { uid: number; gid: number };
  /** The runtime commands of the control socket (src/daemon/commands.ts). */
  commands?: CommandHandler;
  /** `[observe] control-group` resolved to its gid: may use the read-only commands. */
  controlGroupId?: number | null;
  /** Where to report non-fatal errors (stats file write failures); default stderr. */
  log?: (message: string) => void;
}

export interface Observability {
  /** Bound HTTP addresses (useful with port 0). */
  metricsAddress: { host: string; port: number } | null;
  dashboardAddress: { host: string; port: number } | null;
  controlSocket: string | null;
  /** Hands an engine event to the dashboard's event strip (ignored without a dashboard). */
  recordEvent(e: SystemEvent): void;
  close(): Promise<void>;
}

export async function startObservability(
  opts: ObservabilityOptions,
  getSnapshot: () => DaemonSnapshot,
): Promise<Observability> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`ntpkit: ${m}\n`));
  const history = new History(opts.historySize ?? 3600, opts.coarseHistorySize ?? 1440);
  const events = new EventLog(opts.eventsSize ?? 500);
  const monotonic = opts.monotonic ?? (() => performance.now() / 1000);
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };

  try {
    let control: ControlServer | null = null;
    if (opts.controlSocket !== null) {
      const copts: Parameters<typeof startControlServer>[2] = { groupId: opts.controlGroupId ?? null };
      if (opts.commands !== undefined) copts.commands = opts.commands;
      control = await startControlServer(opts.controlSocket, getSnapshot, copts);
      closers.push(() => control?.close() ?? Promise.resolve());
    }

    let metricsAddress: Observability['metricsAddress'] = null;
    let dashboardAddress: Observability['dashboardAddress'] = null;
    const m = opts.metrics === null ? null : parseListenAddress(opts.metrics);
    const d = opts.dashboard === null ? null : parseListenAddress(opts.dashboard);
    const shared = m !== null && d !== null && m.host === d.host && m.port === d.port && m.port !== 0;
    if (shared && m !== null) {
      const h: HttpServerHandle = await startHttpServer(
        m,
        { metrics: true, dashboard: true },
        getSnapshot,
        history,
        events,
      );
      closers.push(() => h.close());
      metricsAddress = h.address;
      dashboardAddress = h.address;
    } else {
      if (m !== null) {
        const h = await startHttpServer(m, { metrics: true, dashboard: false }, getSnapshot, history, events);
        closers.push(() => h.close());
        metricsAddress = h.address;
      }
      if (d !== null) {
        const h = await startHttpServer(d, { metrics: true, dashboard: true }, getSnapshot, history, events);
        closers.push(() => h.close());
        dashboardAddress = h.address;
      }
    }

    const stats = opts.statsDir === null ? null : new StatsWriter(opts.statsDir, opts.statsRotate, log);
    if (stats !== null) closers.push(async () => stats.close());
    if (opts.owner !== undefined) {
      const { uid, gid } = opts.owner;
      const paths: [string, number][] = [];
      // The control socket keeps its control group (if any), so that its members can still reach it.
      const cgid = opts.controlGroupId ?? gid;
      if (control !== null) paths.push([dirname(control.path), cgid], [control.path, cgid]);
      if (opts.statsDir !== null)
        for (const p of [opts.statsDir, ...(stats?.files() ?? [])]) paths.push([p, gid]);
      for (const [p, g] of paths) {
        try {
          chownSync(p, uid, g);
        } catch (e) {
          log(`cannot hand ${p} to uid ${uid}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    let statsFailed = false;
    const sample = (): void => {
      let snap: DaemonSnapshot;
      try {
        snap = getSnapshot();
      } catch (e) {
        log(`snapshot failed: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      if (d !== null) history.add(snap, monotonic());
      if (stats !== null) {
        try {
          stats.sample(snap);
          statsFailed = false;
        } catch (e) {
          if (!statsFailed) log(`statistics files: ${e instanceof Error ? e.message : String(e)}`);
          statsFailed = true;
        }
      }
    };
    if (d !== null || stats !== null) {
      sample();
      const timer = setInterval(sample, Math.max(50, opts.sampleIntervalMs ?? 1000));
      timer.unref();
      closers.push(async () => clearInterval(timer));
    }

    let closed = false;
    return {
      metricsAddress,
      dashboardAddress,
      controlSocket: control?.path ?? null,
      recordEvent: (e) => {
        if (d === null || closed) return;
        events.record(
          e,
          monotonic(),
          'sourceId' in e && e.sourceId !== null ? history.label(e.sourceId) : undefined,
        );
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
