/**
 * Where the control socket lives by default, and how its directory is prepared.
 *
 * root:      /run/ntpkit/ntpkit.sock
 * otherwise: $XDG_RUNTIME_DIR/ntpkit.sock, or <os.tmpdir()>/ntpkit-<uid>/ntpkit.sock
 *
 * The directory is created with mode 700 (owner only) and the socket is chmod 600 after bind.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

export function defaultControlSocketPath(): string {
  const env = process.env.NTPKIT_SOCKET;
  if (env !== undefined && env !== '') return env;
  if (uid() === 0) return '/run/ntpkit/ntpkit.sock';
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'ntpkit.sock');
  return join(tmpdir(), `ntpkit-${uid()}`, 'ntpkit.sock');
}

/**
 * Make sure the socket's directory exists. A directory we create gets mode 700; an existing one
 * that we own and that is dedicated to ntpkit (named ntpkit*) is tightened to 700. Shared
 * directories such as $XDG_RUNTIME_DIR are left as they are (they are already private).
 * With a control group (`groupId`), a dedicated directory is given to that group with mode 750 so
 * that its members can reach the socket.
 */
export function prepareSocketDir(socketPath: string, groupId: number | null = null): void {
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`control socket directory ${dir} is not a directory`);
  const base = dir.split('/').pop() ?? '';
  if (!base.startsWith('ntpkit') || st.uid !== uid()) return;
  if (groupId !== null) {
    chownSync(dir, -1, groupId);
    chmodSync(dir, 0o750);
  } else if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}
