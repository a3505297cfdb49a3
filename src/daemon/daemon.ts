/**
 * The daemon: carries out the sans-IO engine's actions on real sockets and timers.
 *
 *   sockets (node:dgram, IPv4 + IPv6) ──packet──▶ ServerGuard (mode 3) ──▶ NtpSystem.handlePacket
 *                                     └─mode 6─▶ observe.handleMode6 (ntpq)
 *   one setTimeout ◀──timer action── engine ──send action──▶ socket.send(cb → handleTransmitted)
 *   DNS (servers, pools: resolve, replace unreachable, re-resolve), state file, legacy services,
 *   observability, privilege drop, reload.
 *
 * The raw counter is `process.hrtime.bigint()`; the software clock starts at the host's wall time
 * and is disciplined from there. The host clock is never touched unless `[clock] system-clock`.
 */
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { lookup } from 'node:dns/promises';
import { chown, mkdir, unlink, writeFile } from 'node:fs/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildKissResponse } from '../assoc/server.js';
import { createDiscipline } from '../clock/index.js';
import type { Discipline, RawTime } from '../clock/types.js';
import type { DaemonConfig, HostSourceConfig, PoolSourceConfig, SourceOptions } from '../config/types.js';
import { DEFAULT_UNPRIVILEGED_PORT } from '../config/types.js';
import { nodeCrypto } from '../io/crypto.js';
import { clockReader } from '../io/ffi.js';
import { KernelTimestamps, type TxTicket } from '../io/kernel-timestamps.js';
import { nodeRandomBytes } from '../io/nts-ke.js';
import { RefclockRunner } from '../io/refclock-host.js';
import { type KernelClockInterface, loadFfiKernel, SystemClockDriver } from '../io/sysclock.js';
import {
  defaultControlSocketPath,
  handleMode6,
  type Observability,
  startObservability,
} from '../observe/index.js';
import { type GuardConfig, ServerGuard } from '../serve/index.js';
import { SendLatency } from '../serve/send-latency.js';
import type {
  ClientSnapshot,
  DaemonSnapshot,
  ServerStats,
  SystemSnapshot,
  TimestampingStats,
} from '../system/snapshot.js';
import { NtpSystem } from '../system/system.js';
import type { Action, Endpoint, SourceConfig, SourceMode, SystemEvent } from '../system/types.js';
import { toTimestamp, unixNsToNtpTime } from '../time/ntp-time.js';
import { decodePacket, encodePacket, MODE } from '../wire/packet.js';
import { FastTransport, type NtpSocket } from './fast-transport.js';
import { createLogger, type Logger } from './log.js';
import { NtsService } from './nts.js';
import { readStateFile, writeStateFile } from './state.js';

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

function hrtime(): RawTime {
  return process.hrtime.bigint();
}

let realtimeNs: (() => bigint) | null | undefined;

/** Host wall time (Unix ns): clock_gettime(CLOCK_REALTIME) where FFI is available, else ~1 µs. */
function wallUnixNs(): bigint {
  if (realtimeNs === undefined) realtimeNs = clockReader(0);
  if (realtimeNs !== null) return realtimeNs();
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.round(ms * 1e3)) * 1000n;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Effective serving port of a configuration. */
export function effectivePort(config: DaemonConfig): number {
  return config.server.port ?? (isRoot() ? 123 : DEFAULT_UNPRIVILEGED_PORT);
}

export function guardConfigOf(config: DaemonConfig): GuardConfig {
  const rl = config.rateLimit;
  return {
    allow: config.access.allow,
    deny: config.access.deny,
    clientTableSize: config.server.clientTableSize,
    rateLimit: rl.enabled ? { interval: rl.interval, burst: rl.burst, kod: rl.kod, leak: rl.leak } : null,
  };
}

function sourceConfig(
  mode: SourceMode,
  address: string,
  port: number,
  name: string,
  o: SourceOptions,
): SourceConfig {
  const c: SourceConfig = {
    address,
    port,
    name,
    mode,
    minpoll: o.minpoll,
    maxpoll: o.maxpoll,
    iburst: o.iburst,
    burst: o.burst,
    prefer: o.prefer,
    noselect: o.noselect,
    xleave: o.xleave,
    version: o.version,
  };
  if (o.key !== null) c.key = o.key;
  if (o.maxDelay !== null) c.maxDelay = o.maxDelay;
  return c;
}

/** Identity of a configured source for reload: same key = unchanged = state kept. */
function hostKey(mode: string, s: HostSourceConfig): string {
  return JSON.stringify([
    mode,
    s.host,
    s.port,
    s.iburst,
    s.burst,
    s.minpoll,
    s.maxpoll,
    s.prefer,
    s.noselect,
    s.xleave,
    s.key,
    s.version,
    s.maxDelay,
    s.nts ?? false,
    s.ntsPort ?? 4460,
  ]);
}
function poolKey(p: PoolSourceConfig): string {
  return JSON.stringify([
    'pool',
    p.host,
    p.port,
    p.iburst,
    p.burst,
    p.minpoll,
    p.maxpoll,
    p.prefer,
    p.noselect,
    p.xleave,
    p.key,
    p.version,
    p.maxDelay,
    p.maxSources,
  ]);
}

interface StaticSource {
  key: string;
  mode: SourceMode;
  cfg: HostSourceConfig;
  /** Engine source id once resolved. */
  id: string | null;
  address: string | null;
}

interface PoolState {
  key: string;
  cfg: PoolSourceConfig;
  /** address → engine id */
  members: Map<string, string>;
  candidates: string[];
  /** Addresses that went unreachable: not reused until the next re-resolution. */
  bad: Set<string>;
  lastResolve: number;
  resolving: boolean;
}

interface BoundSocket {
  /** node:dgram, or a listen address of the batched server (src/daemon/fast-transport.ts). */
  sock: NtpSocket;
  family: 4 | 6;
  address: string;
  port: number;
  /** Kernel receive/transmit stamps (`[serve] timestamping = "kernel"`), null = user-space readings. */
  stamps: KernelTimestamps | null;
}

async function defaultResolve(host: string): Promise<string[]> {
  if (isIPv4(host) || isIPv6(host)) return [host];
  const r = await lookup(host, { all: true, verbatim: true });
  return r.map((a) => a.address);
}

/**
 * The sockets' address lookup: IP literals (all the engine ever sends to) are answered
 * synchronously, so `send()` transmits at once instead of after a deferred lookup.
 */
function syncLookup(
  address: string,
  options: dns.LookupOneOptions,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const fam = isIP(address);
  if (fam !== 0) cb(null, address, fam);
  else dns.lookup(address, options, cb);
}

function isWildcard(a: string): boolean {
  return a === '0.0.0.0' || a === '::';
}

/** A KoD (kiss-o'-death) response to a request, never longer than the request; null for garbage. */
export function buildKod(
  request: Uint8Array,
  code: 'RATE' | 'DENY' | 'RSTR',
  precision = -20,
): Uint8Array | null {
  const d = decodePacket(request);
  if (!d.ok) return null;
  const bytes = encodePacket(buildKissResponse(d.packet, code, { precision }));
  return bytes.length <= request.length ? bytes : null;
}

/** A response to a client request being carried out (no-amplification rule, statistics). */
interface Reply {
  to: Endpoint;
  request: Uint8Array;
  authenticated: boolean;
  answered: boolean;
}

/**
 * An interleaved server response does not echo the request's transmit timestamp in its origin
 * field (it carries the client's previous receive timestamp instead; RFC 9769).
 */
function isInterleavedResponse(request: Uint8Array, response: Uint8Array): boolean {
  if (request.length < 48 || response.length < 48) return false;
  for (let i = 0; i < 8; i++) if (request[40 + i] !== response[24 + i]) return true;
  return false;
}

class DaemonImpl implements Daemon {
  config: DaemonConfig;
  endpoints: Endpoint[] = [];
  legacyBindings: { service: string; transport: string; address: string; port: number }[] = [];
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private log: Logger;
  private readonly opts: DaemonOptions;
  private readonly resolveHost: (host: string) => Promise<string[]>;
  private discipline!: Discipline;
  private engine!: NtpSystem;
  private guard: ServerGuard;
  private sockets: BoundSocket[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt: RawTime | null = null;
  private housekeeping: NodeJS.Timeout | null = null;
  private stateTimer: NodeJS.Timeout | null = null;
  private statics: StaticSource[] = [];
  private pools: PoolState[] = [];
  private closables: { close(): Promise<void> }[] = [];
  observability: Observability | null = null;
  private owner: { uid: number; gid: number; user: string } | null = null;
  private readonly startRaw = hrtime();
  /** The raw counter: process.hrtime, or CLOCK_MONOTONIC_RAW while the system clock is driven. */
  private raw: () => RawTime = hrtime;
  private driver: SystemClockDriver | null = null;
  private driverTimer: NodeJS.Timeout | null = null;
  private refclockRunner: RefclockRunner | null = null;
  private stopping = false;
  /** Receive/precise-transmit stamps read in user space on sockets without kernel stamps. */
  private rxUser = 0;
  private txUser = 0;
  /** Measured send-path latency, added to basic-mode transmit timestamps (src/serve/send-latency.ts). */
  private readonly sendLatency = new SendLatency();
  /** NTS-KE client runs and server (src/daemon/nts.ts). */
  private nts: NtsService | null = null;
  /** The batched server (workers), null on the node:dgram path. */
  private fast: FastTransport | null = null;
  private transportNote = '';

  constructor(config: DaemonConfig, opts: DaemonOptions) {
    this.config = config;
    this.opts = opts;
    this.log = opts.logger ?? createLogger(config.log);
    this.resolveHost = opts.resolve ?? defaultResolve;
    this.guard = new ServerGuard(guardConfigOf(config));
    this.stopped = new Promise((r) => {
      this.resolveStopped = r;
    });
  }

  // ---------------------------------------------------------------- start

  async start(): Promise<void> {
    const c = this.config;
    const state = c.clock.stateFile === null ? null : await readStateFile(c.clock.stateFile);
    if (c.clock.stateFile !== null)
      this.log.info(state === null ? 'no usable state file' : 'state file read', {
        file: c.clock.stateFile,
        frequencyPpm: state?.frequencyPpm,
      });
    this.setupSystemClock();
    const pair = this.driver !== null ? this.driver.kernel.sample() : null;
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

    try {
      await this.bindSockets();
      await this.startNts();
      await this.startLegacy();
      if (c.daemon.pidFile !== null) await writeFile(c.daemon.pidFile, `${process.pid}\n`);
      if (this.opts.dropPrivileges === true) this.owner = await this.targetUser();
      if (this.opts.observe !== false) await this.startObserve();
      if (this.owner !== null) await this.dropPrivileges(this.owner);
    } catch (e) {
      await this.closeAll();
      throw e;
    }

    this.execute(this.engine.start(this.raw()));
    this.startRefclocks();
    await this.reconcileSources();
    const hk = this.opts.housekeepingInterval ?? this.defaultHousekeeping();
    this.housekeeping = setInterval(() => void this.housekeep(), hk * 1000);
    if (this.driver !== null) this.driverTimer = setInterval(() => this.followSystemClock(), 1000);
    if (c.clock.stateFile !== null) {
      this.stateTimer = setInterval(() => void this.saveState(), c.clock.stateInterval * 1000);
      this.stateTimer.unref();
    }
    this.log.info('daemon started', {
      version: NTPKIT_VERSION,
      endpoints: this.endpoints,
      sources: this.statics.length,
      pools: this.pools.length,
      clock: c.clock.discipline,
    });
  }

  /**
   * `[clock] system-clock`: drive the host clock from the software clock (src/io/sysclock.ts), only
   * when configured AND privileged. The software clock then runs on the kernel interface's raw
   * counter (CLOCK_MONOTONIC_RAW), which the adjustments do not affect.
   */
  private setupSystemClock(): void {
    if (!this.config.clock.systemClock) return;
    const kernel = this.opts.kernel ?? loadFfiKernel({ allowWrite: true });
    if (kernel === null) {
      this.log.warn(
        'system-clock: no clock_adjtime access (FFI unavailable); serving the software clock only',
      );
      return;
    }
    const driver = new SystemClockDriver(kernel, {
      enable: true,
      stepThreshold: this.config.clock.stepThreshold,
    });
    if (!driver.adjusting) {
      this.log.warn('system-clock: not adjusting the host clock', { reason: driver.reason });
      return;
    }
    this.driver = driver;
    this.raw = () => kernel.rawNow();
    this.log.info('system-clock: the host clock follows the software clock', { kernel: kernel.name });
  }

  /** Once a second while synchronised: make the kernel clock follow the software clock. */
  private followSystemClock(): void {
    const d = this.driver;
    if (d === null || this.stopping) return;
    if (!this.engine.snapshot(this.raw()).synchronised) return;
    const r = d.follow(this.discipline.clock);
    if (r.kind === 'step') this.log.info('system clock stepped', { offset: r.offset });
    else if (r.kind === 'error') this.log.warn('system clock adjustment failed', { errno: r.errno });
    else if (r.kind === 'disabled') {
      this.log.warn('system clock driving stopped', { reason: r.reason });
      if (this.driverTimer !== null) clearInterval(this.driverTimer);
      this.driverTimer = null;
    }
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

  private defaultHousekeeping(): number {
    const polls = this.config.pools.map((p) => 2 ** p.minpoll);
    return Math.max(1, Math.min(64, ...polls));
  }

  /** `[serve] workers`: the batched server; false when it is off or unavailable (then node:dgram). */
  private async bindFast(port: number): Promise<boolean> {
    const c = this.config;
    // The workers read the raw counter themselves: process.hrtime's clock, or the FFI kernel's.
    const rawClock = this.driver === null ? 1 : this.opts.kernel === undefined ? 4 : null;
    const why = FastTransport.unavailable(c, rawClock);
    if (why !== null) {
      this.transportNote = why;
      if (c.server.workers !== 0 && c.server.enabled)
        this.log.warn('batched server unavailable; serving through node:dgram', { reason: why });
      return false;
    }
    try {
      this.fast = await FastTransport.open(c, port, {
        raw: () => this.raw(),
        engine: () => this.engine,
        clock: () => this.discipline.clock,
        log: () => this.log,
        guard: guardConfigOf(c),
        rawClock: rawClock ?? 1,
        onForward: (sock, f) => {
          const b = this.sockets.find((x) => x.sock === sock);
          if (b === undefined) return;
          sock.source = f.to.address;
          try {
            const buf = Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.length);
            const rinfo = {
              address: f.from.address,
              port: f.from.port,
              family: b.family === 6 ? 'IPv6' : 'IPv4',
              size: buf.length,
            };
            this.onMessage(b, buf, rinfo as dgram.RemoteInfo, f.rx, f.guarded);
          } finally {
            sock.source = undefined;
          }
        },
      });
    } catch (e) {
      throw new Error(`could not bind the NTP sockets: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const s of this.fast.sockets) {
      const e = s.endpoint;
      this.sockets.push({ sock: s, family: e.family, address: e.address, port: e.port, stamps: null });
      this.endpoints.push({ address: e.address, port: e.port });
    }
    this.log.info('listening', {
      endpoints: this.endpoints,
      serving: c.server.enabled,
      transport: `batched (recvmmsg/sendmmsg), ${this.fast.snapshot().workers} worker threads`,
      timestamping: 'kernel receive',
    });
    return true;
  }

  private async bindSockets(): Promise<void> {
    const c = this.config;
    const port = c.server.enabled ? effectivePort(c) : 0;
    if (await this.bindFast(port)) return;
    const listen = c.server.listen.length > 0 ? c.server.listen : ['0.0.0.0', '::'];
    const errors: string[] = [];
    for (const address of listen) {
      const family: 4 | 6 = isIPv6(address) ? 6 : 4;
      const sock = dgram.createSocket({
        type: family === 6 ? 'udp6' : 'udp4',
        ipv6Only: family === 6,
        reuseAddr: false,
        lookup: syncLookup,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind({ address, port, exclusive: true }, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        sock.close();
        const msg = e instanceof Error ? e.message : String(e);
        // An IPv6 wildcard where the host has no IPv6 is not fatal when IPv4 works.
        errors.push(`${address}:${port}: ${msg}`);
        this.log.warn('cannot bind', { address, port, error: msg });
        continue;
      }
      if (family === 4) sock.setBroadcast(true);
      const bound = sock.address();
      const stamps =
        c.server.timestamping === 'kernel' ? KernelTimestamps.open(sock, () => this.raw()) : null;
      const b: BoundSocket = { sock, family, address, port: bound.port, stamps };
      sock.on('message', (msg, rinfo) => this.onMessage(b, msg, rinfo));
      sock.on('error', (err) => this.log.warn('socket error', { address, error: err }));
      this.sockets.push(b);
      this.endpoints.push({ address, port: bound.port });
    }
    if (this.sockets.length === 0) throw new Error(`could not bind any NTP socket: ${errors.join('; ')}`);
    const stamping = this.sockets.map((s) =>
      s.stamps === null ? 'user' : s.stamps.tx ? 'kernel' : 'kernel receive, user transmit',
    );
    this.log.info('listening', {
      endpoints: this.endpoints,
      serving: c.server.enabled,
      timestamping: [...new Set(stamping)].join(', '),
    });
  }

  private async startNts(): Promise<void> {
    this.nts = new NtsService(this.config, {
      engine: () => this.engine,
      execute: (a) => this.execute(a),
      raw: () => this.raw(),
      log: () => this.log,
      resolve: (h) => this.resolveHost(h),
      canReach: (a) => this.canReach(a),
      ntpEndpoints: () => this.endpoints,
    });
    await this.nts.start();
  }

  private async startLegacy(): Promise<void> {
    const lg = this.config.legacy;
    if (lg.time === null && lg.daytime === null) return;
    const { startLegacyServices } = await import('./legacy.js');
    const cfg: Parameters<typeof startLegacyServices>[0] = {};
    if (lg.time !== null) cfg.time = lg.time;
    if (lg.daytime !== null) cfg.daytime = lg.daytime;
    const svc = await startLegacyServices(cfg, () => this.now(), {
      onError: (err) => this.log.debug('legacy service error', { error: err }),
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

  /** The user to switch to after binding, when root and configured (null otherwise). */
  private async targetUser(): Promise<{ uid: number; gid: number; user: string } | null> {
    const d = this.config.daemon;
    if (!isRoot() || d.user === null) return null;
    if (this.driver !== null) {
      this.log.warn('system-clock needs privileges: not dropping them');
      return null;
    }
    const { execFileSync } = await import('node:child_process');
    const uid = Number(execFileSync('id', ['-u', d.user], { encoding: 'utf8' }).trim());
    const gid =
      d.group !== null
        ? Number(execFileSync('getent', ['group', d.group], { encoding: 'utf8' }).split(':')[2])
        : Number(execFileSync('id', ['-g', d.user], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`cannot resolve user ${d.user}`);
    return { uid, gid, user: d.user };
  }

  private async dropPrivileges(t: { uid: number; gid: number; user: string }): Promise<void> {
    // Files we keep writing must stay writable: the state file and its directory.
    const sf = this.config.clock.stateFile;
    if (sf !== null) {
      await mkdir(dirname(sf), { recursive: true }).catch(() => {});
      await chown(dirname(sf), t.uid, t.gid).catch(() => {});
      await chown(sf, t.uid, t.gid).catch(() => {});
    }
    process.setgroups?.([t.gid]);
    process.setgid?.(t.gid);
    process.setuid?.(t.uid);
    this.log.info('privileges dropped', { user: t.user, uid: t.uid, gid: t.gid });
  }

  // ---------------------------------------------------------------- packets

  /** `rxRaw`: the receive time a server worker took from the kernel (forwarded datagrams). */
  private onMessage(
    b: BoundSocket,
    msg: Buffer,
    rinfo: dgram.RemoteInfo,
    rxRaw?: RawTime,
    guarded = false,
  ): void {
    const user = this.raw();
    // libuv calls this right after reading the datagram, so the kernel's last stamp is its own.
    let raw = user;
    if (rxRaw !== undefined) raw = rxRaw < user ? rxRaw : user;
    else if (b.stamps === null) this.rxUser++;
    else raw = b.stamps.received(user);
    if (this.stopping || msg.length === 0) return;
    const from: Endpoint = { address: rinfo.address, port: rinfo.port };
    const first = msg[0] ?? 0;
    const mode = first & 7;
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    if (mode === MODE.CONTROL) {
      this.onControl(b, bytes, from);
      return;
    }
    if (mode === MODE.CLIENT || mode === MODE.PRIVATE || mode === MODE.RESERVED) {
      if (mode !== MODE.CLIENT || !this.config.server.enabled) return;
      // A request a server worker forwarded has passed the worker's shard of the client table.
      const decision = guarded ? SERVE : this.guard.check(raw, from, msg.length);
      if (decision.action === 'drop') return;
      if (decision.action === 'kod') {
        const kod = buildKod(bytes, 'RATE', this.config.system.precision);
        if (kod !== null) this.sendRaw(b, kod, from);
        return;
      }
      // A MAC (key ID + 16/20-byte digest) right after the header: the engine verifies it, and an
      // authenticated response is as long as the request anyway.
      const authenticated = msg.length === 48 + 20 || msg.length === 48 + 24;
      let actions: Action[];
      try {
        actions = this.engine.handlePacket(
          raw,
          bytes,
          from,
          { address: b.address, port: b.port },
          this.raw(),
        );
      } catch (e) {
        this.log.error('engine error on request', { from, error: e });
        this.guard.recordInvalid('engine-error');
        return;
      }
      const reply = { to: from, request: bytes, authenticated, answered: false };
      this.execute(actions, reply);
      if (!reply.answered) this.guard.recordInvalid('no-response');
      return;
    }
    let actions: Action[];
    try {
      actions = this.engine.handlePacket(raw, bytes, from, { address: b.address, port: b.port }, this.raw());
    } catch (e) {
      this.log.error('engine error', { from, error: e });
      return;
    }
    this.execute(actions);
  }

  private onControl(b: BoundSocket, bytes: Uint8Array, from: Endpoint): void {
    let replies: Uint8Array[] | null;
    try {
      replies = handleMode6(bytes, from, () => this.snapshot(), {
        allowRemote: this.config.observe.ntpqRemote,
      });
    } catch (e) {
      this.log.warn('mode 6 handler error', { from, error: e });
      return;
    }
    for (const r of replies ?? []) this.sendRaw(b, r, from);
  }

  private socketFor(to: Endpoint, from?: Endpoint): BoundSocket | null {
    const family: 4 | 6 = isIPv6(to.address) ? 6 : 4;
    if (from !== undefined) {
      const exact = this.sockets.find(
        (s) => s.address === from.address && (from.port === 0 || s.port === from.port),
      );
      if (exact !== undefined) return exact;
    }
    const same = this.sockets.filter((s) => s.family === family);
    return same.find((s) => isWildcard(s.address)) ?? same[0] ?? null;
  }

  /**
   * Sends a datagram. `onSent` gets the precise transmit stamp: the kernel's, when the socket has
   * kernel timestamps; otherwise the counter read as `send()` returns (with the synchronous lookup
   * the datagram has normally left by then, uv_udp_try_send) or in the send callback, the earlier.
   */
  private sendRaw(
    b: BoundSocket,
    bytes: Uint8Array,
    to: Endpoint,
    onSent?: (raw: RawTime) => void,
    transmitAt?: number,
  ): void {
    let after: RawTime | null = null;
    let sampleAt: RawTime | null = null;
    let probe: { ticket: TxTicket; readAt: RawTime } | null = null;
    if (transmitAt !== undefined && transmitAt + 8 <= bytes.length) {
      // The basic-mode transmit timestamp, read as late as the host can: right before the send,
      // and advanced by the send path's measured latency where the kernel stamps sent datagrams.
      const readAt = this.raw();
      const ahead = b.stamps?.tx === true ? BigInt(this.sendLatency.compensationNs()) : 0n;
      const t = toTimestamp(this.discipline.clock.read(readAt + ahead));
      new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setBigUint64(transmitAt, t);
      if (onSent === undefined && b.stamps?.tx === true && this.sendLatency.wantSample(readAt))
        sampleAt = readAt;
    }
    b.stamps?.sending();
    const ticket = onSent === undefined || b.stamps === null ? null : b.stamps.track(bytes);
    if (sampleAt !== null && b.stamps !== null) {
      const measured = b.stamps.track(bytes);
      if (measured !== null) {
        this.sendLatency.begin(sampleAt);
        probe = { ticket: measured, readAt: sampleAt };
      }
    }
    b.sock.send(bytes, to.port, to.address, (err) => {
      const raw = this.raw();
      const failed = err !== null && err !== undefined;
      if (failed) this.log.debug('send failed', { to, error: err });
      const user = after !== null && after < raw ? after : raw;
      if (probe !== null && b.stamps !== null) {
        const readAt = probe.readAt;
        b.stamps.settle(
          probe.ticket,
          (k) => {
            if (k !== null) this.sendLatency.add(Number(k - readAt));
          },
          failed,
        );
        return;
      }
      if (ticket !== null && b.stamps !== null) {
        b.stamps.settle(ticket, (k) => onSent?.(k ?? user), failed);
        return;
      }
      // Keep the error queue empty: every send on a stamping socket leaves a copy there.
      b.stamps?.drain();
      if (!failed && onSent !== undefined) {
        this.txUser++;
        onSent(user);
      }
    });
    after = this.raw();
  }

  /** Carries out engine actions. `reply` marks responses to a request, for the no-amplification rule. */
  private execute(actions: Action[], reply?: Reply): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send': {
          if (reply !== undefined && a.to.address === reply.to.address && a.to.port === reply.to.port) {
            if (
              !this.guard.checkResponse(reply.to, reply.request.length, a.bytes.length, reply.authenticated)
            ) {
              this.log.warn('response larger than request dropped', {
                to: a.to,
                length: a.bytes.length,
                request: reply.request.length,
              });
              reply.answered = true;
              break;
            }
            reply.answered = true;
            this.guard.recordResponse(reply.to, {
              interleaved: isInterleavedResponse(reply.request, a.bytes),
            });
          }
          const s = this.socketFor(a.to, a.from);
          if (s === null) {
            this.log.debug('no socket for destination', { to: a.to });
            break;
          }
          const txId = a.txId;
          this.sendRaw(
            s,
            a.bytes,
            a.to,
            txId === undefined
              ? undefined
              : (raw) => {
                  if (!this.stopping) this.execute(this.engine.handleTransmitted(txId, raw));
                },
            a.transmitAt,
          );
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
    switch (e.kind) {
      case 'clock-panic':
        this.log.error('clock offset beyond the panic threshold; set the host clock and restart', { ...e });
        void this.stop();
        return;
      case 'unreachable':
      case 'kod':
      case 'reject':
        this.log.info(e.kind, { ...e });
        return;
      default:
        this.log.info(e.kind, { ...e });
    }
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

  /** Brings the engine's configured sources in line with `this.config` (start and reload). */
  private async reconcileSources(): Promise<void> {
    const c = this.config;
    const wanted: { key: string; mode: SourceMode; cfg: HostSourceConfig }[] = [
      ...c.servers.map((s) => ({ key: hostKey('server', s), mode: 'server' as const, cfg: s })),
      ...c.peers.map((s) => ({ key: hostKey('peer', s), mode: 'peer' as const, cfg: s })),
      ...c.broadcastClients.map((s) => ({
        key: hostKey('broadcast-client', s),
        mode: 'broadcast-client' as const,
        cfg: s,
      })),
    ];
    const keep: StaticSource[] = [];
    const remaining = [...this.statics];
    for (const w of wanted) {
      const i = remaining.findIndex((s) => s.key === w.key);
      if (i >= 0) {
        keep.push(...remaining.splice(i, 1));
      } else {
        keep.push({ key: w.key, mode: w.mode, cfg: w.cfg, id: null, address: null });
      }
    }
    for (const gone of remaining) {
      if (gone.id !== null) {
        this.removeEngineSource(gone.id);
        this.log.info('source removed by reload', { host: gone.cfg.host });
      }
    }
    this.statics = keep;

    const keepPools: PoolState[] = [];
    const remainingPools = [...this.pools];
    for (const p of c.pools) {
      const key = poolKey(p);
      const i = remainingPools.findIndex((s) => s.key === key);
      if (i >= 0) keepPools.push(...remainingPools.splice(i, 1));
      else
        keepPools.push({
          key,
          cfg: p,
          members: new Map(),
          candidates: [],
          bad: new Set(),
          lastResolve: -Infinity,
          resolving: false,
        });
    }
    for (const gone of remainingPools) {
      for (const id of gone.members.values()) this.removeEngineSource(id);
      this.log.info('pool removed by reload', { pool: gone.cfg.host });
    }
    this.pools = keepPools;
    await Promise.all([
      ...this.statics.map((s) => this.resolveStatic(s)),
      ...this.pools.map((p) => this.fillPool(p)),
    ]);
  }

  private async resolveStatic(s: StaticSource): Promise<void> {
    if (s.id !== null || this.stopping) return;
    let addrs: string[];
    try {
      addrs = await this.resolveHost(s.cfg.host);
    } catch (e) {
      this.log.warn('cannot resolve source; will retry', { host: s.cfg.host, error: e });
      return;
    }
    const address = addrs.find((a) => this.canReach(a));
    if (address === undefined || this.stopping || s.id !== null || !this.statics.includes(s)) return;
    s.address = address;
    const cfg = sourceConfig(s.mode, address, s.cfg.port, s.cfg.host, s.cfg);
    if (s.cfg.nts === true && s.mode === 'server') cfg.nts = true;
    s.id = this.addEngineSource(cfg);
    if (cfg.nts === true) this.nts?.attach(s.id, s.cfg);
    this.log.info('source configured', { id: s.id, host: s.cfg.host, address, mode: s.mode });
  }

  private canReach(address: string): boolean {
    const fam = isIPv6(address) ? 6 : 4;
    return this.sockets.some((s) => s.family === fam);
  }

  private inUse(address: string, port: number): boolean {
    if (this.statics.some((s) => s.address === address && s.cfg.port === port)) return true;
    return this.pools.some((p) => p.cfg.port === port && p.members.has(address));
  }

  private async resolvePool(p: PoolState): Promise<void> {
    if (p.resolving) return;
    p.resolving = true;
    try {
      const addrs = await this.resolveHost(p.cfg.host);
      p.candidates = addrs.filter((a) => this.canReach(a));
      p.bad.clear();
      p.lastResolve = Number(hrtime()) / 1e9;
      this.log.debug('pool resolved', { pool: p.cfg.host, addresses: p.candidates });
    } catch (e) {
      p.lastResolve = Number(hrtime()) / 1e9;
      this.log.warn('cannot resolve pool; will retry', { pool: p.cfg.host, error: e });
    } finally {
      p.resolving = false;
    }
  }

  private async fillPool(p: PoolState): Promise<void> {
    const now = Number(hrtime()) / 1e9;
    const stale = now - p.lastResolve >= p.cfg.reresolveInterval;
    const free = () => p.candidates.filter((a) => !p.bad.has(a) && !this.inUse(a, p.cfg.port));
    if (stale || (p.members.size < p.cfg.maxSources && free().length === 0 && now - p.lastResolve >= 1))
      await this.resolvePool(p);
    if (this.stopping || !this.pools.includes(p)) return;
    for (const a of free()) {
      if (p.members.size >= p.cfg.maxSources) break;
      const id = this.addEngineSource(sourceConfig('server', a, p.cfg.port, p.cfg.host, p.cfg));
      p.members.set(a, id);
      this.log.info('pool source added', { pool: p.cfg.host, address: a, id });
    }
  }

  /** Periodic: replace unreachable pool members, re-resolve names, retry unresolved servers. */
  private async housekeep(): Promise<void> {
    if (this.stopping) return;
    const snap = this.engine.snapshot(this.raw());
    for (const p of this.pools) {
      for (const [address, id] of p.members) {
        const src = snap.sources.find((s) => s.id === id);
        if (src === undefined) continue;
        const deniedByKod = src.kod === 'DENY' || src.kod === 'RSTR';
        if ((src.reach === 0 && src.packetsSent >= p.cfg.unreachablePolls) || deniedByKod) {
          this.removeEngineSource(id);
          p.members.delete(address);
          p.bad.add(address);
          this.log.info('pool source replaced', {
            pool: p.cfg.host,
            address,
            reason: deniedByKod ? `kod ${src.kod}` : 'unreachable',
          });
        }
      }
    }
    await Promise.all([
      ...this.statics.map((s) => this.resolveStatic(s)),
      ...this.pools.map((p) => this.fillPool(p)),
    ]);
  }

  // ---------------------------------------------------------------- API

  now(): bigint {
    return this.discipline.clock.read(this.raw());
  }

  systemSnapshot(): SystemSnapshot {
    return this.engine.snapshot(this.raw());
  }

  snapshot(): DaemonSnapshot {
    const raw = this.raw();
    const uptime = Number(hrtime() - this.startRaw) / 1e9;
    const server: ServerStats = this.guard.stats();
    if (this.fast !== null) mergeStats(server, this.fast.stats());
    // Requests whose MAC failed (the engine answers them with a crypto-NAK), by reason.
    for (const [reason, n] of Object.entries(this.engine.server.authFailuresByReason))
      server.invalid[`auth-${reason}`] = n;
    const clients: ClientSnapshot[] = this.guard.clients(raw);
    if (this.fast !== null) clients.push(...this.fast.clients());
    return {
      version: NTPKIT_VERSION,
      uptime,
      system: this.engine.snapshot(raw),
      server,
      clients,
      timestamping: this.timestampingStats(),
      transport:
        this.fast !== null
          ? this.fast.snapshot()
          : { kind: 'node:dgram', reason: this.transportNote || 'not configured' },
    };
  }

  private timestampingStats(): TimestampingStats {
    const t: TimestampingStats = { mode: 'user', rxKernel: 0, rxUser: 0, txKernel: 0, txUser: 0 };
    const stamps = this.sockets.map((s) => s.stamps);
    if (stamps.length > 0 && stamps.every((x) => x !== null))
      t.mode = stamps.every((x) => x?.tx === true) ? 'kernel' : 'kernel receive';
    for (const x of stamps) {
      if (x === null) continue;
      t.rxKernel += x.counters.rxKernel;
      t.rxUser += x.counters.rxFallback;
      t.txKernel += x.counters.txKernel;
      t.txUser += x.counters.txFallback;
    }
    t.rxUser += this.rxUser;
    t.txUser += this.txUser;
    if (this.fast !== null) {
      const r = this.fast.receiveCounts();
      t.mode = 'kernel receive';
      t.rxKernel += r.kernel;
      t.rxUser += r.fallback;
    }
    if (t.mode === 'kernel') {
      const l = this.sendLatency.stats();
      t.sendLatency = {
        samples: l.samples,
        compensation: l.compensationNs / 1e9,
        median: l.medianNs === null ? null : l.medianNs / 1e9,
      };
    }
    return t;
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
      this.guard.reconfigure(guardConfigOf(config));
      this.fast?.reconfigure(guardConfigOf(config), config.server.enabled);
    } catch (e) {
      this.log.error('access/rate-limit configuration rejected; keeping the old one', { error: e });
    }
    await this.nts?.reload(config);
    await this.reconcileSources();
    this.log.info('configuration reloaded', {
      file: config.file,
      sources: this.statics.length,
      pools: this.pools.length,
    });
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
    if (this.driverTimer !== null) clearInterval(this.driverTimer);
    this.driverTimer = null;
    this.refclockRunner?.stop();
    this.refclockRunner = null;
    await this.nts?.stop();
    this.timer = null;
    this.housekeeping = null;
    this.stateTimer = null;
    for (const c of this.closables.splice(0))
      await c.close().catch((e: unknown) => this.log.warn('close failed', { error: e }));
    const fast = this.fast;
    this.fast = null;
    await fast?.close();
    await Promise.all(
      this.sockets.splice(0).map(
        (s) =>
          new Promise<void>((r) => {
            s.stamps?.close();
            try {
              s.sock.close(() => r());
            } catch {
              r();
            }
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    this.log.info('stopping');
    await this.saveState();
    await this.closeAll();
    if (this.config.daemon.pidFile !== null) await unlink(this.config.daemon.pidFile).catch(() => {});
    this.log.info('stopped', { uptime: Number(hrtime() - this.startRaw) / 1e9 });
    this.resolveStopped();
  }
}

const SERVE = { action: 'serve', reason: 'ok' } as const;

/** Adds the server workers' counters to the main thread's. */
function mergeStats(into: ServerStats, add: ServerStats): void {
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

/** Starts a daemon: binds its sockets, starts its services, configures its sources. */
export async function startDaemon(config: DaemonConfig, opts: DaemonOptions = {}): Promise<Daemon> {
  const d = new DaemonImpl(config, opts);
  await d.start();
  return d;
}
