/**
 * The daemon's side of the runtime commands: the narrow `CommandHost` (src/daemon/commands.ts) made
 * from the daemon's parts, the host clock's offset for status, and the control group's gid.
 */
import type { Discipline, LocalClock, RawTime } from '../clock/types.js';
import type { DaemonConfig } from '../config/types.js';
import type { NtpServer } from '../serve/server.js';
import { burstSource, makestep, setSourceOffline } from '../system/operator.js';
import type { NtpSystem } from '../system/system.js';
import type { Action } from '../system/types.js';
import { unixNsToNtpTime } from '../time/ntp-time.js';
import type { CommandHost } from './commands.js';
import { loadConfigFile } from './load.js';
import type { Logger } from './log.js';
import type { NtsService } from './nts.js';
import type { SourceManager } from './sources.js';

export interface DaemonParts {
  log(): Logger;
  engine(): NtpSystem;
  raw(): RawTime;
  discipline(): Discipline;
  execute(actions: Action[]): void;
  sources(): SourceManager;
  server(): NtpServer;
  nts(): NtsService | null;
  config(): DaemonConfig;
  /** The CLI's loader (DaemonOptions.loadConfig), else the configuration's own file is read. */
  loadConfig?: () => Promise<DaemonConfig>;
  reload(config: DaemonConfig): Promise<void>;
}

export function commandHost(d: DaemonParts): CommandHost {
  return {
    log: () => d.log(),
    sources: () => d.engine().snapshot(d.raw()).sources,
    burst: (id) => burstSource(d.engine(), d.raw(), id),
    setOffline: (id, off) => setSourceOffline(d.engine(), d.raw(), id, off),
    makestep: () => makestep(d.discipline(), d.engine(), d.raw()),
    execute: (a) => d.execute(a),
    addSource: (mode, cfg) => d.sources().addRuntime(mode, cfg),
    removeSource: (id) => d.sources().removeRuntime(id),
    reload: async () => {
      const file = d.config().file;
      if (d.loadConfig === undefined && file === null)
        throw new Error('the daemon runs the built-in configuration (no file)');
      const c = await (d.loadConfig?.() ?? loadConfigFile(file ?? ''));
      await d.reload(c);
      return c;
    },
    rotateKeys: async () => {
      const nts = d.nts();
      if (nts === null || !nts.servesKe) return false;
      await nts.rotate();
      return true;
    },
    resetClients: () => d.server().resetClients(),
    setLogLevel: (level) => d.log().setLevel?.(level),
  };
}

/**
 * ntpkit's clock minus CLOCK_REALTIME (s) at one instant: the wall clock (Unix ns) is read between
 * two counter readings and compared with our clock at their midpoint.
 */
export function hostClockOffset(raw: () => RawTime, clock: LocalClock, wallUnixNs: () => bigint): number {
  const a = raw();
  const wall = unixNsToNtpTime(wallUnixNs());
  const b = raw();
  return Number(clock.read(a + (b - a) / 2n) - wall) / 2 ** 32;
}

/** The gid of `[observe] control-group` (a name or a number). */
export async function groupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const { execFileSync } = await import('node:child_process');
  try {
    const gid = Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
    if (Number.isInteger(gid)) return gid;
  } catch {
    // reported below
  }
  throw new Error(`[observe] control-group: no group named '${group}'`);
}
