/**
 * Running as root only as long as needed: the user and group to switch to after the sockets are
 * bound, and the switch itself (keeping the state file writable).
 */
import { chown, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DaemonConfig } from '../config/types.js';
import type { Logger } from './log.js';

export interface TargetUser {
  uid: number;
  gid: number;
  user: string;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The user to switch to after binding, when root and `[daemon] user` is set (null otherwise).
 * Driving the system clock needs the privileges: then they are kept (`keep`, with a warning).
 */
export async function targetUser(
  d: DaemonConfig['daemon'],
  keep: boolean,
  log: Logger,
): Promise<TargetUser | null> {
  if (!isRoot() || d.user === null) return null;
  if (keep) {
    log.warn('system-clock needs privileges: not dropping them');
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

/** Switches to `t`; the state file (and its directory) stays writable for it. */
export async function dropPrivileges(t: TargetUser, stateFile: string | null, log: Logger): Promise<void> {
  if (stateFile !== null) {
    await mkdir(dirname(stateFile), { recursive: true }).catch(() => {});
    await chown(dirname(stateFile), t.uid, t.gid).catch(() => {});
    await chown(stateFile, t.uid, t.gid).catch(() => {});
  }
  process.setgroups?.([t.gid]);
  process.setgid?.(t.gid);
  process.setuid?.(t.uid);
  log.info('privileges dropped', { user: t.user, uid: t.uid, gid: t.gid });
}
