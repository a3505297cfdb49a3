/**
 * The runtime commands of the control socket (`ntpkit burst|makestep|add|delete|online|offline|reload|
 * rotate-keys|reset-clients|log-level`): arguments checked, carried out through a narrow view of the
 * daemon (`CommandHost`), every command logged. Read-only commands and access checks live in
 * src/observe/control.ts; docs/OPERATIONS.md describes the commands.
 */
import { stringify } from 'smol-toml';
import { ConfigError, parseConfig } from '../config/parse.js';
import type { DaemonConfig, HostSourceConfig, LogLevel, PoolSourceConfig } from '../config/types.js';
import type { ControlReply } from '../observe/control.js';
import type { SourceSnapshot } from '../system/snapshot.js';
import type { Action } from '../system/types.js';
import type { Logger } from './log.js';

/** What the commands may do to the daemon. */
export interface CommandHost {
  log(): Logger;
  sources(): SourceSnapshot[];
  /** Burst / offline / online / makestep on the engine; null: refused (see NtpSystem). */
  burst(id: string): Action[] | null;
  setOffline(id: string, offline: boolean): Action[] | null;
  makestep(): { offset: number; actions: Action[] } | null;
  execute(actions: Action[]): void;
  /** Adds a source until the next reload or restart; resolves to its engine ids (none: unresolved). */
  addSource(mode: 'server' | 'peer' | 'pool', cfg: HostSourceConfig | PoolSourceConfig): Promise<string[]>;
  /** Removes the source with engine id `id`, or the pool named `id`; returns the engine ids removed. */
  removeSource(id: string): string[];
  /** Re-reads the configuration file (like SIGHUP). */
  reload(): Promise<DaemonConfig>;
  /** Rotates the NTS cookie master key; false: this daemon serves no NTS-KE. */
  rotateKeys(): Promise<boolean>;
  /** Forgets the client table; returns how many clients it held. */
  resetClients(): number;
  setLogLevel(level: LogLevel): void;
}

export const RUNTIME_COMMANDS = [
  'burst',
  'makestep',
  'add',
  'delete',
  'online',
  'offline',
  'reload',
  'rotate-keys',
  'reset-clients',
  'log-level',
] as const;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function refuse(error: string): ControlReply {
  return { ok: false, code: 'NTPKIT_COMMAND', error };
}

function optString(req: Record<string, unknown>, key: string): string | null | ControlReply {
  const v = req[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v === '' || v.length > 300)
    return refuse(`'${key}' must be a non-empty string`);
  return v;
}

/** Sources named by `target`: its id, address, address:port or host name (a pool name: all members). */
export function matchSources(sources: readonly SourceSnapshot[], target: string): SourceSnapshot[] {
  return sources.filter(
    (s) =>
      s.id === target || s.address === target || `${s.address}:${s.port}` === target || s.name === target,
  );
}

/** One command: sources selected by the optional `source`, `apply` run on each. */
function perSource(
  host: CommandHost,
  req: Record<string, unknown>,
  verb: string,
  apply: (id: string) => Action[] | null,
): ControlReply {
  const target = optString(req, 'source');
  if (typeof target === 'object' && target !== null) return target;
  const all = host.sources().filter((s) => s.mode !== 'refclock');
  const chosen = target === null ? all : matchSources(all, target);
  if (chosen.length === 0)
    return refuse(target === null ? 'the daemon has no NTP sources' : `no source matches '${target}'`);
  const done: string[] = [];
  const skipped: string[] = [];
  for (const s of chosen) {
    const actions = apply(s.id);
    if (actions === null) skipped.push(s.id);
    else {
      host.execute(actions);
      done.push(s.id);
    }
  }
  host.log().info(`control: ${verb}`, { sources: done, skipped });
  if (done.length === 0)
    return refuse(
      `cannot ${verb} ${skipped.join(', ')} (passive, broadcast client, offline or stopped by a kiss)`,
    );
  return { ok: true, sources: done, skipped };
}

const ADD_MODES = ['server', 'peer', 'pool'] as const;
/** Options of `add`: the config keys of a [[server]] / [[peer]] / [[pool]] table. */
const ADD_OPTION = /^[a-z][a-z-]{0,30}$/;

/** `add`: the source is validated as a one-table configuration, so that its errors read like config ones. */
async function add(host: CommandHost, req: Record<string, unknown>): Promise<ControlReply> {
  const mode = req.mode;
  if (typeof mode !== 'string' || !(ADD_MODES as readonly string[]).includes(mode))
    return refuse(`mode must be one of ${ADD_MODES.join(', ')}`);
  const address = optString(req, 'address');
  if (address === null) return refuse('an address is required');
  if (typeof address === 'object') return address;
  const table: Record<string, unknown> = { address };
  if (req.port !== undefined) table.port = req.port;
  const options = req.options ?? {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    return refuse('options must be an object');
  for (const [k, v] of Object.entries(options)) {
    if (!ADD_OPTION.test(k) || k === 'address' || k === 'port') return refuse(`unknown option '${k}'`);
    table[k] = v;
  }
  let config: DaemonConfig;
  try {
    config = parseConfig(stringify({ [mode]: [table] }), `add ${mode}`);
  } catch (e) {
    if (e instanceof ConfigError) return refuse(e.message);
    throw e;
  }
  const m = mode as (typeof ADD_MODES)[number];
  const cfg = m === 'server' ? config.servers[0] : m === 'peer' ? config.peers[0] : config.pools[0];
  if (cfg === undefined) return refuse('no source in the request');
  const ids = await host.addSource(m, cfg);
  if (ids.length === 0) return refuse(`${address} could not be resolved to a reachable address`);
  host.log().info('control: source added at run time (dropped by the next reload unless configured)', {
    mode,
    host: address,
    ids,
  });
  return {
    ok: true,
    sources: ids,
    note: 'kept until the next reload or restart unless the configuration has it',
  };
}

function remove(host: CommandHost, req: Record<string, unknown>): ControlReply {
  const target = optString(req, 'source');
  if (target === null) return refuse('which source? (id, address or name)');
  if (typeof target === 'object') return target;
  let removed = host.removeSource(target);
  if (removed.length === 0) {
    const all = host.sources().filter((s) => s.mode !== 'refclock');
    removed = matchSources(all, target).flatMap((s) => host.removeSource(s.id));
  }
  if (removed.length === 0) return refuse(`no source matches '${target}'`);
  host.log().info('control: source deleted (back at the next reload if configured)', { sources: removed });
  return { ok: true, sources: removed };
}

/** Carries out one request that passed the access check. */
export async function runCommand(host: CommandHost, req: Record<string, unknown>): Promise<ControlReply> {
  switch (req.command) {
    case 'burst':
      return perSource(host, req, 'burst', (id) => host.burst(id));
    case 'online':
      return perSource(host, req, 'online', (id) => host.setOffline(id, false));
    case 'offline':
      return perSource(host, req, 'offline', (id) => host.setOffline(id, true));
    case 'makestep': {
      const r = host.makestep();
      if (r === null) return refuse('this clock discipline cannot step on demand');
      host.execute(r.actions);
      host.log().info('control: makestep', { offset: r.offset });
      return { ok: true, offset: r.offset };
    }
    case 'add':
      return add(host, req);
    case 'delete':
      return remove(host, req);
    case 'reload':
      try {
        const c = await host.reload();
        return { ok: true, file: c.file };
      } catch (e) {
        host.log().error('control: reload failed; keeping the running configuration', { error: e });
        return refuse(
          `reload failed, the running configuration is kept: ${e instanceof Error ? e.message : e}`,
        );
      }
    case 'rotate-keys':
      if (!(await host.rotateKeys())) return refuse('this daemon serves no NTS-KE: no cookie keys to rotate');
      return { ok: true };
    case 'reset-clients': {
      const cleared = host.resetClients();
      host.log().info('control: client table reset', { cleared });
      return { ok: true, cleared };
    }
    case 'log-level': {
      const level = req.level;
      if (typeof level !== 'string' || !(LEVELS as readonly string[]).includes(level))
        return refuse(`level must be one of ${LEVELS.join(', ')}`);
      host.setLogLevel(level as LogLevel);
      host.log().info('control: log level set', { level });
      return { ok: true, level };
    }
    default:
      return { ok: false, code: 'NTPKIT_PROTOCOL', error: `unknown command ${JSON.stringify(req.command)}` };
  }
}
