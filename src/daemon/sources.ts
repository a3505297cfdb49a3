/**
 * The configured sources of the daemon: static servers, peers and broadcast clients resolved to
 * one address each, and pools kept at their size (unreachable or KoD-denied members replaced,
 * names re-resolved). Sans-IO given its host: DNS, the engine and the clock come in through
 * `SourceHost`.
 */
import { sourceConfigOf } from '../config/source-config.js';
import type { DaemonConfig, HostSourceConfig, PoolSourceConfig } from '../config/types.js';
import type { SourceSnapshot } from '../system/snapshot.js';
import type { SourceConfig, SourceMode } from '../system/types.js';
import type { Logger } from './log.js';

/** What the source manager needs of the daemon. */
export interface SourceHost {
  /** All addresses of a host name (an IP literal resolves to itself). */
  resolve(host: string): Promise<string[]>;
  /** Whether the transport has a socket for this address's family. */
  canReach(address: string): boolean;
  /** Adds a source to the engine; returns its id. */
  addSource(cfg: SourceConfig): string;
  removeSource(id: string): void;
  /** The engine's sources now (reach, packets sent, kiss codes). */
  sources(): readonly SourceSnapshot[];
  /** NTS sources get their NTS-KE runs (src/daemon/nts.ts). */
  attachNts(id: string, cfg: HostSourceConfig): void;
  /** Monotonic seconds. */
  seconds(): number;
  stopping(): boolean;
  log(): Logger;
}

/** The source lists of a configuration. */
export type SourceLists = Pick<DaemonConfig, 'servers' | 'peers' | 'broadcastClients' | 'pools'>;

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

/** Static sources and pools, reconciled with the configuration on start and reload. */
export class SourceManager {
  private statics: StaticSource[] = [];
  private pools: PoolState[] = [];

  constructor(private readonly host: SourceHost) {}

  /** Number of static sources and of pools configured. */
  get counts(): { sources: number; pools: number } {
    return { sources: this.statics.length, pools: this.pools.length };
  }

  /** Brings the engine's configured sources in line with the configuration `c` (start and reload). */
  async reconcile(c: SourceLists): Promise<void> {
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
        this.host.removeSource(gone.id);
        this.host.log().info('source removed by reload', { host: gone.cfg.host });
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
      for (const id of gone.members.values()) this.host.removeSource(id);
      this.host.log().info('pool removed by reload', { pool: gone.cfg.host });
    }
    this.pools = keepPools;
    await Promise.all([
      ...this.statics.map((s) => this.resolveStatic(s)),
      ...this.pools.map((p) => this.fillPool(p)),
    ]);
  }

  private async resolveStatic(s: StaticSource): Promise<void> {
    if (s.id !== null || this.host.stopping()) return;
    let addrs: string[];
    try {
      addrs = await this.host.resolve(s.cfg.host);
    } catch (e) {
      this.host.log().warn('cannot resolve source; will retry', { host: s.cfg.host, error: e });
      return;
    }
    const address = addrs.find((a) => this.host.canReach(a));
    if (address === undefined || this.host.stopping() || s.id !== null || !this.statics.includes(s)) return;
    s.address = address;
    const cfg = sourceConfigOf(s.mode, address, s.cfg.port, s.cfg.host, s.cfg);
    if (s.cfg.nts === true && s.mode === 'server') cfg.nts = true;
    s.id = this.host.addSource(cfg);
    if (cfg.nts === true) this.host.attachNts(s.id, s.cfg);
    this.host.log().info('source configured', { id: s.id, host: s.cfg.host, address, mode: s.mode });
  }

  private inUse(address: string, port: number): boolean {
    if (this.statics.some((s) => s.address === address && s.cfg.port === port)) return true;
    return this.pools.some((p) => p.cfg.port === port && p.members.has(address));
  }

  private async resolvePool(p: PoolState): Promise<void> {
    if (p.resolving) return;
    p.resolving = true;
    try {
      const addrs = await this.host.resolve(p.cfg.host);
      p.candidates = addrs.filter((a) => this.host.canReach(a));
      p.bad.clear();
      p.lastResolve = this.host.seconds();
      this.host.log().debug('pool resolved', { pool: p.cfg.host, addresses: p.candidates });
    } catch (e) {
      p.lastResolve = this.host.seconds();
      this.host.log().warn('cannot resolve pool; will retry', { pool: p.cfg.host, error: e });
    } finally {
      p.resolving = false;
    }
  }

  private async fillPool(p: PoolState): Promise<void> {
    const now = this.host.seconds();
    const stale = now - p.lastResolve >= p.cfg.reresolveInterval;
    const free = () => p.candidates.filter((a) => !p.bad.has(a) && !this.inUse(a, p.cfg.port));
    if (stale || (p.members.size < p.cfg.maxSources && free().length === 0 && now - p.lastResolve >= 1))
      await this.resolvePool(p);
    if (this.host.stopping() || !this.pools.includes(p)) return;
    for (const a of free()) {
      if (p.members.size >= p.cfg.maxSources) break;
      const id = this.host.addSource(sourceConfigOf('server', a, p.cfg.port, p.cfg.host, p.cfg));
      p.members.set(a, id);
      this.host.log().info('pool source added', { pool: p.cfg.host, address: a, id });
    }
  }

  /** Periodic: replace unreachable pool members, re-resolve names, retry unresolved servers. */
  async housekeep(): Promise<void> {
    if (this.host.stopping()) return;
    const sources = this.host.sources();
    for (const p of this.pools) {
      for (const [address, id] of p.members) {
        const src = sources.find((s) => s.id === id);
        if (src === undefined) continue;
        const deniedByKod = src.kod === 'DENY' || src.kod === 'RSTR';
        if ((src.reach === 0 && src.packetsSent >= p.cfg.unreachablePolls) || deniedByKod) {
          this.host.removeSource(id);
          p.members.delete(address);
          p.bad.add(address);
          this.host.log().info('pool source replaced', {
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
}

/** Seconds between pool/DNS housekeeping rounds: the shortest pool poll, 1..64 s. */
export function defaultHousekeeping(c: Pick<DaemonConfig, 'pools'>): number {
  const polls = c.pools.map((p) => 2 ** p.minpoll);
  return Math.max(1, Math.min(64, ...polls));
}
