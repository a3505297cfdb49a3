/**
 * The local control channel: a Unix stream socket (owner-only) serving the one JSON snapshot type.
 *
 * Protocol: the client writes one JSON line `{"command":"snapshot"}\n`; the server answers one
 * JSON line `{"ok":true,"snapshot":DaemonSnapshot}\n` (or `{"ok":false,"error":"..."}`) and closes.
 * Commands: `snapshot`, `ping`.
 */
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { DaemonSnapshot } from '../system/snapshot.js';
import { prepareSocketDir } from './paths.js';

export type ControlErrorCode =
  | 'NTPKIT_NOT_RUNNING'
  | 'NTPKIT_PERMISSION'
  | 'NTPKIT_TIMEOUT'
  | 'NTPKIT_PROTOCOL'
  | 'NTPKIT_IN_USE';

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ControlError';
  }
}

const MAX_REQUEST = 4096;

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

function probe(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** Listen on `path` (directory made 700, socket 600). A stale socket file is replaced. */
export async function startControlServer(
  path: string,
  getSnapshot: () => DaemonSnapshot,
): Promise<ControlServer> {
  prepareSocketDir(path);
  if (existsSync(path)) {
    const st = lstatSync(path);
    if (!st.isSocket()) throw new ControlError('NTPKIT_IN_USE', `${path} exists and is not a socket`);
    if (await probe(path, 500)) {
      throw new ControlError('NTPKIT_IN_USE', `another daemon is listening on ${path}`);
    }
    unlinkSync(path);
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.setTimeout(5000, () => sock.destroy());
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) {
        sock.end(`${JSON.stringify({ ok: false, error: 'request too long' })}\n`);
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.end(`${answer(buf.slice(0, nl), getSnapshot)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          try {
            if (existsSync(path)) unlinkSync(path);
          } catch {
            // already gone
          }
          resolve();
        });
      }),
  };
}

function answer(line: string, getSnapshot: () => DaemonSnapshot): string {
  let command: unknown;
  try {
    const req: unknown = JSON.parse(line);
    command = typeof req === 'object' && req !== null ? (req as { command?: unknown }).command : undefined;
  } catch {
    return JSON.stringify({ ok: false, error: 'invalid JSON' });
  }
  switch (command) {
    case 'snapshot':
      try {
        return JSON.stringify({ ok: true, snapshot: getSnapshot() });
      } catch (e) {
        return JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    case 'ping':
      return JSON.stringify({ ok: true });
    default:
      return JSON.stringify({ ok: false, error: `unknown command ${JSON.stringify(command)}` });
  }
}

/** Ask the daemon at `path` for its snapshot. Errors are ControlError with readable messages. */
export function requestSnapshot(path: string, timeoutMs = 3000): Promise<DaemonSnapshot> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    let done = false;
    const finish = (err: Error | null, snap?: DaemonSnapshot): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (err !== null) reject(err);
      else if (snap !== undefined) resolve(snap);
    };
    const timer = setTimeout(
      () =>
        finish(
          new ControlError('NTPKIT_TIMEOUT', `no answer from the daemon on ${path} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify({ command: 'snapshot' })}\n`));
    s.on('data', (c: string) => {
      buf += c;
    });
    s.on('end', () => {
      try {
        const msg = JSON.parse(buf) as { ok?: unknown; error?: unknown; snapshot?: unknown };
        if (msg.ok === true && typeof msg.snapshot === 'object' && msg.snapshot !== null) {
          finish(null, msg.snapshot as DaemonSnapshot);
        } else {
          finish(new ControlError('NTPKIT_PROTOCOL', `daemon error: ${String(msg.error ?? 'bad answer')}`));
        }
      } catch {
        finish(new ControlError('NTPKIT_PROTOCOL', `unreadable answer from ${path}`));
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        finish(
          new ControlError(
            'NTPKIT_NOT_RUNNING',
            `the ntpkit daemon is not running (no control socket at ${path}).\n` +
              "Start it with 'ntpkit daemon --config FILE', or point to its socket with --socket PATH.",
          ),
        );
      } else if (e.code === 'EACCES' || e.code === 'EPERM') {
        finish(
          new ControlError(
            'NTPKIT_PERMISSION',
            `permission denied on ${path}: the control socket is owner-only; run as the daemon's user (or root).`,
          ),
        );
      } else {
        finish(new ControlError('NTPKIT_PROTOCOL', `cannot talk to the daemon on ${path}: ${e.message}`));
      }
    });
  });
}
