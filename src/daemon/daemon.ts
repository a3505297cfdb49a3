/**
 * The daemon: carries out the sans-IO engine's actions on real sockets and timers.
 *
 *   sockets (node:dgram, IPv4 + IPv6) ──packet──▶ NtpServer.serve (src/serve: every mode)
 *       ignore / KoD / respond ◀──┘   └─forward─▶ NtpSystem.handlePacket, or observe.handleMode6 (ntpq)
 *   one setTimeout ◀──timer action── engine ──send action──▶ socket.send(cb → handleTransmitted)
 *   DNS (servers, pools: resolve, replace unreachable, re-resolve), state file, legacy services,
 *   observability, privilege drop, reload.
 *
 * The parts live beside it: bind.ts (which transport, binding it), transport.ts (sockets, sending,
 * timestamps), requests.ts (the packet path), sources.ts (static and pool sources), host.ts (raw
 * counter, wall clock, CSPRNG, DNS), privileges.ts, follow-clock.ts (`[clock] system-clock`);
 * this file is the lifecycle.
 *
 * The raw counter is `process.hrtime.bigint()`; the software clock starts at the host's wall time
 * and is disciplined from there. The host clock is never touched unless `[clock] system-clock`.
 */
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createDiscipline } from '../clock/index.js';
import type { Discipline, RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import { nodeCrypto } from '../io/crypto.js';
import { loadLeapFile } from '../io/leap-file.js';
import { nodeRandomBytes } from '../io/nts-ke.js';
import { RefclockRunner } from '../io/refclock-host.js';
import type { KernelClockInterface } from '../io/sysclock.js';
import { readWallPair } from '../io/wall-pair.js';
import { defaultControlSocketPath, type Observability, startObservability } from '../observe/index.js';
import { NtpServer, serverOptionsOf } from '../serve/server.js';
import type { ClientSnapshot, DaemonSnapshot, ServerStats, SystemSnapshot } from '../system/snapshot.js';
import { NtpSystem } from '../system/system.js';
import type { Action, Endpoint, SourceConfig, SystemEvent } from '../system/types.js';
import { formatNtpTime, unixNsToNtpTime } from '../time/ntp-time.js';
import { NtpSockets } from './bind.js';
import { type CommandHost, runCommand } from './commands.js';
import { commandHost, groupId, hostClockOffset } from './control-host.js';
import { logEvent } from './event-log.js';
import { mergeNtsExtra } from './fast-transport.js';
import { SystemClockFollower } from './follow-clock.js';
import { cryptoRandom, defaultResolve, hrtime, wallUnixNs } from './host.js';
import { createLogger, type Logger } from './log.js';
import { LogLimiter } from './log-limiter.js';
import { NtsService } from './nts.js';
import { dropPrivileges, type TargetUser, targetUser } from './privileges.js';
import { RejectLog } from './reject-log.js';
import { RequestPath } from './requests.js';
import { defaultHousekeeping, SourceManager } from './sources.js';
import { loadStateFile, writeStateFile } from './state.js';
import type { Transport } from './transport.js';

export { effectivePort } from './bind.js';

export const NTPKIT_VERSION = '0.1.0';

export interface DaemonOptions {
  /** Where logs go; default: structured lines on stderr at the configured level. */
  logger?: Logger;
  /** Switch to `[daemon] user` after binding (only when root). The CLI sets this; default false. */
  dropPrivileges?: boolean;
  /** DNS resolution (tests inject their own). Default: node:dns lookup, all addresses. */
  resolve?: (host: string) => Promise<string[]>;
  /** Start the observability services of `[observe]` (control socket, metrics, dashboard). Default true. */
  observe?: boolean;
  /** Uniform random in [0, 1) for the engine. Default Math.random. */
  random?: () => number;
  /**
   * The kernel clock interface for `[clock] system-clock` (tests pass a model,
   * `modelKernel(new KernelClockModel(…), hw)`); default: clock_adjtime through FFI.
   */
  kernel?: KernelClockInterface;
  /** Seconds between pool/DNS housekeeping rounds; default from the pools' poll intervals (≥ 1). */
  housekeepingInterval?: number;
  /**
   * Seconds between looks at the host's addresses, for the per-address sockets beside a wildcard
   * listen address (replies leave from the address a request came to); default 10; 0 = no
   * per-address sockets.
   */
  interfaceInterval?: number;
  /** The host's addresses (tests inject their own). Default: os.networkInterfaces(). */
  localAddresses?: () => string[];
  /** How `ntpkit reload` reads the configuration again (the CLI's loader); default: `config.file`. */
  loadConfig?: () => Promise<DaemonConfig>;
}

export interface Daemon {
  /** The current configuration (after reloads). */
  readonly config: DaemonConfig;
  /** The UDP endpoints the NTP sockets are bound to (actual ports when 0 was configured). */
  readonly endpoints: readonly Endpoint[];
  /** The UDP/TCP endpoints of the legacy services, if any. */
  readonly legacyBindings: readonly { service: string; transport: string; address: string; port: number }[];
  /** The observability services (bound metrics/dashboard addresses, control socket), if started. */
  readonly observability: Observability | null;
  /** The observable state, as the control socket, metrics and dashboard see it. */
  snapshot(): DaemonSnapshot;
  /** Era-extended NTP time by the software clock now. */
  now(): bigint;
  /** Applies a new configuration: sources are reconciled (unchanged ones keep their state). */
  reload(config: DaemonConfig): Promise<void>;
  /** Stops everything and writes the state file. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the daemon has stopped (by `stop()`, or a fatal clock panic). */
  readonly stopped: Promise<void>;
}

class DaemonImpl implements Daemon {
  config: DaemonConfig;
  get endpoints(): readonly Endpoint[] {
    return this.transport.endpoints;
  }
  private get transport(): Transport {
    return this.sockets.transport;
  }
  legacyBindings: { service: string; transport: string; address: string; port: number }[] = [];
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private log: Logger;
  private readonly opts: DaemonOptions;
  private readonly resolveHost: (host: string) => Promise<string[]>;
  private discipline!: Discipline;
  private engine!: NtpSystem;
  /** The server decision (src/serve/server.ts), created with the engine. */
  private server!: NtpServer;
  /** The NTP sockets (src/daemon/bind.ts): node:dgram (transport.ts) or the batched workers (fast-transport.ts). */
  private sockets!: NtpSockets;
  private timer: NodeJS.Timeout | null = null;
  private timerAt: RawTime | null = null;
  private housekeeping: NodeJS.Timeout | null = null;
  private stateTimer: NodeJS.Timeout | null = null;
  /** Static and pool sources (src/daemon/sources.ts). */
  private readonly sources: SourceManager;
  /** The packet path (src/daemon/requests.ts). */
  private readonly requests: RequestPath;
  private closables: { close(): Promise<void> }[] = [];
  observability: Observability | null = null;
  private owner: TargetUser | null = null;
  private readonly startRaw = hrtime();
  /** The raw counter: process.hrtime, or CLOCK_MONOTONIC_RAW while the system clock is driven. */
  private raw: () => RawTime = hrtime;
  /** `[clock] system-clock` (src/daemon/follow-clock.ts), null when not driving the host clock. */
  private driver: SystemClockFollower | null = null;
  private refclockRunner: RefclockRunner | null = null;
  private stopping = false;
  /** NTS-KE client runs and server (src/daemon/nts.ts). */
  private nts: NtsService | null = null;
  /** Rejected datagrams, counted per sender and reason, logged as rate-limited summaries. */
  private rejects: RejectLog;
  /** Repeated warnings per source, rate-limited with a count (src/daemon/log-limiter.ts). */
  private readonly limiter = new LogLimiter(() => this.log);

  constructor(config: DaemonConfig, opts: DaemonOptions) {
    this.config = config;
    this.opts = opts;
    this.log = opts.logger ?? createLogger(config.log);
    this.rejects = new RejectLog(this.log);
    this.resolveHost = opts.resolve ?? defaultResolve;
    this.requests = new RequestPath({
      server: () => this.server,
      engine: () => this.engine,
      transport: () => this.transport,
      execute: (a, from) => this.execute(from === undefined ? a : this.rejects.take(a, from)),
      snapshot: () => this.snapshot(),
      ntpqRemote: () => this.config.observe.ntpqRemote,
      raw: () => this.raw(),
      stopping: () => this.stopping,
      log: () => this.log,
    });
    this.sources = new SourceManager({
      resolve: (h) => this.resolveHost(h),
      canReach: (a) => this.transport.canReach(a),
      addSource: (cfg) => this.addEngineSource(cfg),
      removeSource: (id) => this.removeEngineSource(id),
      sources: () => this.engine.snapshot(this.raw()).sources,
      attachNts: (id, cfg) => this.nts?.attach(id, cfg),
      seconds: () => Number(hrtime()) / 1e9,
      stopping: () => this.stopping,
      log: () => this.log,
      sourceLog: (name) => this.limiter.for(name),
      sourceOk: (name) => this.limiter.clear(name),
    });
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
  }

  // ---------------------------------------------------------------- start

  async start(): Promise<void> {
    const c = this.config;
    const state = c.clock.stateFile === null ? null : await loadStateFile(c.clock.stateFile, this.log);
    this.driver = SystemClockFollower.create(c.clock, this.opts.kernel, () => this.log);
    if (this.driver !== null) this.raw = this.driver.raw;
    const pair = this.driver !== null ? this.driver.sample() : readWallPair(this.raw, wallUnixNs);
    const raw0 = pair?.raw ?? this.raw();
    const pollLimits = [...c.servers, ...c.peers, ...c.pools, ...c.broadcastClients];
    const minpoll = pollLimits.length === 0 ? 6 : Math.min(...pollLimits.map((s) => s.minpoll));
    const maxpoll = pollLimits.length === 0 ? 10 : Math.max(...pollLimits.map((s) => s.maxpoll));
    const dopts: Parameters<typeof createDiscipline>[1] = {
      raw: raw0,
      time: unixNsToNtpTime(pair?.realtime ?? wallUnixNs()),
      minpoll,
      maxpoll,
      precision: c.system.precision,
      stepThreshold: c.clock.stepThreshold,
      panicThreshold: c.clock.panicThreshold,
      stepout: c.clock.stepout,
      stepAtStartup: c.clock.stepAtStartup,
      maxFrequencyPpm: c.clock.maxFrequency,
    };
    if (state !== null) dopts.initialFrequencyPpm = state.frequencyPpm;
    this.discipline = createDiscipline(c.clock.discipline, dopts);
    this.engine = new NtpSystem(c.system, {
      discipline: this.discipline,
      random: this.opts.random ?? Math.random,
      randomBytes: nodeRandomBytes,
      crypto: nodeCrypto,
    });
    this.server = new NtpServer(this.engine, serverOptionsOf(c, this.opts.random ?? cryptoRandom));

    try {
      // NTS first: the NTP sockets answer NTS requests from the moment they are bound.
      await this.startNts();
      await this.bindSockets();
      await this.nts?.listen();
      await this.startLegacy();
      if (c.daemon.pidFile !== null) await writeFile(c.daemon.pidFile, `${process.pid}\n`);
      if (this.opts.dropPrivileges === true)
        this.owner = await targetUser(c.daemon, this.driver !== null, this.log);
      if (this.opts.observe !== false) await this.startObserve();
      if (this.owner !== null) await dropPrivileges(this.owner, c.clock.stateFile, this.log);
    } catch (e) {
      await this.closeAll();
      throw e;
    }

    await this.loadLeapList();
    this.execute(this.engine.start(this.raw()));
    this.startRefclocks();
    await this.sources.reconcile(c);
    const hk = this.opts.housekeepingInterval ?? defaultHousekeeping(c);
    this.housekeeping = setInterval(() => void this.housekeep(), hk * 1000);
    this.driver?.start(this.engine.leapControl, () => this.engine.snapshot(this.raw()).synchronised);
    if (c.clock.stateFile !== null) {
      this.stateTimer = setInterval(() => void this.saveState(), c.clock.stateInterval * 1000);
      this.stateTimer.unref();
    }
    this.log.info('daemon started', {
      version: NTPKIT_VERSION,
      endpoints: this.endpoints,
      ...this.sources.counts,
      clock: c.clock.discipline,
    });
  }

  /** `[[refclock]]`: register each with the engine and start its driver (src/io/refclock-host.ts). */
  private startRefclocks(): void {
    const list = this.config.refclocks;
    if (list.length === 0) return;
    const runner = new RefclockRunner(
      this.engine,
      (a) => this.execute(a),
      () => this.raw(),
    );
    this.refclockRunner = runner;
    for (const cfg of list) {
      const { id, actions } = this.engine.addRefclock(this.raw(), cfg);
      this.execute(actions);
      const r = runner.open(id, cfg);
      if (r.ok) this.log.info('refclock started', { id, driver: cfg.driver, parameter: cfg.parameter });
      else
        this.log.warn('refclock cannot be opened; it stays unreachable', {
          id,
          driver: cfg.driver,
          error: r.error,
        });
    }
  }

  private async bindSockets(): Promise<void> {
    const sockets = new NtpSockets({
      config: this.config,
      drivesClock: this.driver !== null,
      injectedKernel: this.opts.kernel !== undefined,
      guard: serverOptionsOf(this.config, this.opts.random ?? cryptoRandom),
      raw: () => this.raw(),
      engine: () => this.engine,
      clock: () => this.engine.leapControl.clock.served,
      log: () => this.log,
      onDatagram: (sock, bytes, from, raw) => this.requests.onDatagram(sock, bytes, from, raw),
      interfaceInterval: this.opts.interfaceInterval ?? 10,
      localAddresses: this.opts.localAddresses,
    });
    this.sockets = sockets;
    await sockets.bind();
  }

  private async startNts(): Promise<void> {
    this.nts = new NtsService(this.config, {
      engine: () => this.engine,
      execute: (a) => this.execute(a),
      raw: () => this.raw(),
      log: () => this.log,
      sourceLog: (id) => this.limiter.for(id),
      sourceOk: (id) => this.limiter.clear(id),
      resolve: (h) => this.resolveHost(h),
      canReach: (a) => this.transport.canReach(a),
      ntpEndpoints: () => this.endpoints,
      allows: (a) => this.server.allows(a),
    });
    await this.nts.prepare();
  }

  private async startLegacy(): Promise<void> {
    const lg = this.config.legacy;
    if (lg.time === null && lg.daytime === null) return;
    const { startLegacyServices, legacyTcpLimits } = await import('./legacy.js');
    const cfg: Parameters<typeof startLegacyServices>[0] = {};
    if (lg.time !== null) cfg.time = lg.time;
    if (lg.daytime !== null) cfg.daytime = lg.daytime;
    const svc = await startLegacyServices(cfg, () => this.now(), {
      onError: (err) => this.log.debug('legacy service error', { error: err }),
      allows: (a) => this.server.allows(a),
      maxTcpConnections: lg.maxConnections ?? 256,
      tcpLimits: legacyTcpLimits(lg),
    });
    this.legacyBindings = [...svc.bindings];
    this.closables.push(svc);
    this.log.info('legacy services', { bindings: svc.bindings });
  }

  private async startObserve(): Promise<void> {
    const o = this.config.observe;
    const controlSocket = o.controlSocket === 'default' ? defaultControlSocketPath() : o.controlSocket;
    if (controlSocket === null && o.metrics === null && o.dashboard === null && o.statsDir === null) return;
    const opts: Parameters<typeof startObservability>[0] = {
      controlSocket,
      metrics: o.metrics,
      dashboard: o.dashboard,
      statsDir: o.statsDir,
      statsRotate: o.statsRotate,
      log: (m) => this.log.warn(m),
      commands: (req) => runCommand(this.commandHost(), req),
      controlGroupId: o.controlGroup === null ? null : await groupId(o.controlGroup),
    };
    if (this.owner !== null) opts.owner = { uid: this.owner.uid, gid: this.owner.gid };
    const svc = await startObservability(opts, () => this.snapshot());
    this.observability = svc;
    this.closables.push(svc);
    this.log.info('observability', {
      controlSocket: svc.controlSocket,
      metrics: svc.metricsAddress,
      dashboard: svc.dashboardAddress,
    });
  }

  /** Carries out engine actions. */
  private execute(actions: Action[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send': {
          const txId = a.txId;
          this.transport.send(a.bytes, a.to, {
            from: a.from,
            onSent:
              txId === undefined
                ? undefined
                : (raw) => {
                    if (!this.stopping) this.execute(this.engine.handleTransmitted(txId, raw));
                  },
            transmitAt: a.transmitAt,
          });
          break;
        }
        case 'timer':
          this.armTimer(a.at);
          break;
        case 'event':
          this.onEvent(a.event);
          break;
      }
    }
    // The server workers' copy of what replies announce follows the engine at once.
    this.sockets.refresh();
  }

  private armTimer(at: RawTime): void {
    if (this.stopping) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    // Node's timers run on a millisecond loop clock that can lag the counter: round up, and
    // onTimer re-arms if it still fires early.
    const ms = Math.max(0, Math.ceil(Number(at - this.raw()) / 1e6));
    this.timer = setTimeout(() => this.onTimer(), Math.min(ms, 2 ** 31 - 1));
  }

  private onTimer(): void {
    this.timer = null;
    if (this.stopping) return;
    const raw = this.raw();
    const at = this.timerAt;
    if (at !== null && raw < at) {
      this.armTimer(at);
      return;
    }
    this.timerAt = null;
    try {
      this.execute(this.engine.handleTimer(raw));
    } catch (e) {
      this.log.error('engine error on timer', { error: e });
    }
    // The engine only announces a changed deadline; never be left without a timer.
    if (this.timer === null) this.armTimer(raw + 1_000_000_000n);
  }

  private onEvent(e: SystemEvent): void {
    this.nts?.onEvent(e);
    if (e.kind === 'clock-panic') void this.stop();
    logEvent(e, this.log, this.limiter, this.rejects);
    this.observability?.recordEvent(e);
  }

  // ---------------------------------------------------------------- sources

  private addEngineSource(cfg: SourceConfig): string {
    const { id, actions } = this.engine.addSource(this.raw(), cfg);
    this.execute(actions);
    return id;
  }

  private removeEngineSource(id: string): void {
    this.execute(this.engine.removeSource(this.raw(), id));
  }

  /** Periodic: replace unreachable pool members, re-resolve names, retry unresolved servers. */
  private async housekeep(): Promise<void> {
    if (!this.stopping) await this.sources.housekeep();
  }

  /** The daemon as the control socket's runtime commands see it (src/daemon/control-host.ts). */
  private commandHost(): CommandHost {
    return commandHost({
      ...{ log: () => this.log, engine: () => this.engine, raw: () => this.raw() },
      ...{ discipline: () => this.discipline, execute: (a) => this.execute(a), sources: () => this.sources },
      ...{ server: () => this.server, nts: () => this.nts, config: () => this.config },
      ...(this.opts.loadConfig === undefined ? {} : { loadConfig: this.opts.loadConfig }),
      reload: (c) => this.reload(c),
    });
  }

  // ---------------------------------------------------------------- API

  now(): bigint {
    return this.engine.leapControl.clock.served.read(this.raw());
  }

  systemSnapshot(): SystemSnapshot {
    return this.engine.snapshot(this.raw());
  }

  snapshot(): DaemonSnapshot {
    const raw = this.raw();
    const uptime = Number(hrtime() - this.startRaw) / 1e9;
    const server: ServerStats = { ...this.server.stats(), controlRequests: this.requests.controlRequests };
    const clients: ClientSnapshot[] = this.sockets.addWorkerStats(server, this.server.clients(raw));
    const system = this.engine.snapshot(raw);
    const transport = this.sockets.snapshot();
    // NTS requests the server workers answered count in the system's NTS server counters too.
    mergeNtsExtra(system.extra, transport);
    return {
      version: NTPKIT_VERSION,
      uptime,
      system: {
        ...system,
        hostClockOffset: hostClockOffset(this.raw, this.discipline.clock, wallUnixNs),
      },
      server,
      clients,
      timestamping: this.transport.stats(),
      transport,
    };
  }

  async reload(config: DaemonConfig): Promise<void> {
    const old = this.config;
    if (
      JSON.stringify([old.server, old.legacy, old.observe]) !==
      JSON.stringify([config.server, config.legacy, config.observe])
    )
      this.log.warn('[serve], [legacy] and [observe] changes take effect at restart');
    if (
      JSON.stringify(old.system, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)) !==
      JSON.stringify(config.system, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v))
    )
      this.log.warn('[system], [local], keys and [[broadcast]] changes take effect at restart');
    if (JSON.stringify(old.refclocks) !== JSON.stringify(config.refclocks))
      this.log.warn('[[refclock]] changes take effect at restart');
    this.config = config;
    if (this.opts.logger === undefined) this.log = createLogger(config.log);
    try {
      this.server.reconfigure(serverOptionsOf(config, this.opts.random ?? cryptoRandom));
      this.sockets.reconfigure(serverOptionsOf(config, cryptoRandom), config.server.enabled);
    } catch (e) {
      this.log.error('access/rate-limit configuration rejected; keeping the old one', { error: e });
    }
    await this.nts?.reload(config);
    await this.loadLeapList();
    await this.sources.reconcile(config);
    this.log.info('configuration reloaded', { file: config.file, ...this.sources.counts });
  }

  /** `[clock] leap-file` (or the system's list): a bad file is logged and the vote goes on without it. */
  private async loadLeapList(): Promise<void> {
    const r = await loadLeapFile(this.config.clock.leapFile, nodeCrypto, { now: this.now() });
    if (!r.ok) {
      this.log.error(r.error, { file: r.file });
      this.execute(this.engine.setLeapList(this.raw(), null));
      return;
    }
    if (r.list !== null) {
      const last = r.list.entries[r.list.entries.length - 1];
      const fields = {
        file: r.file,
        entries: r.list.entries.length,
        taiUtc: last?.taiUtc,
        expires: formatNtpTime(r.list.expires, 0),
      };
      if (r.expired)
        this.log.warn(
          'leap-second list loaded, but it has expired: not trusted, the network vote alone decides',
          fields,
        );
      else this.log.info('leap-second list loaded', fields);
    }
    this.execute(this.engine.setLeapList(this.raw(), r.list));
  }

  private async saveState(): Promise<void> {
    const file = this.config.clock.stateFile;
    if (file === null || this.engine === undefined) return;
    const snap = this.engine.snapshot(this.raw());
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeStateFile(file, {
        version: 1,
        discipline: this.config.clock.discipline,
        frequencyPpm: this.discipline.clock.frequencyPpm(),
        savedAt: Number(this.now() >> 32n) - 2_208_988_800,
        synchronised: snap.synchronised,
      });
      this.log.debug('state file written', { file });
    } catch (e) {
      this.log.warn('cannot write state file', { file, error: e });
    }
  }

  private async closeAll(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.housekeeping !== null) clearInterval(this.housekeeping);
    if (this.stateTimer !== null) clearInterval(this.stateTimer);
    this.driver?.stop();
    this.refclockRunner?.stop();
    this.refclockRunner = null;
    await this.nts?.stop();
    this.timer = null;
    this.housekeeping = null;
    this.stateTimer = null;
    for (const c of this.closables.splice(0))
      await c.close().catch((e: unknown) => this.log.warn('close failed', { error: e }));
    await this.sockets?.close();
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    this.log.info('stopping');
    await this.saveState();
    await this.closeAll();
    this.rejects.close();
    if (this.config.daemon.pidFile !== null) await unlink(this.config.daemon.pidFile).catch(() => {});
    this.log.info('stopped', { uptime: Number(hrtime() - this.startRaw) / 1e9 });
    this.resolveStopped();
  }
}

/** Starts a daemon: binds its sockets, starts its services, configures its sources. */
export async function startDaemon(config: DaemonConfig, opts: DaemonOptions = {}): Promise<Daemon> {
  const d = new DaemonImpl(config, opts);
  await d.start();
  return d;
}
