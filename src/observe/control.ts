/**
 * The local control channel: a Unix stream socket (owner-only, or also a control group) serving the
 * one JSON snapshot type and the runtime commands.
 *
 * Protocol: the client writes one JSON line `{"command":"snapshot"}\n`; the server answers one
 * JSON line `{"ok":true,"snapshot":DaemonSnapshot}\n` (or `{"ok":false,"code":"...","error":"..."}`)
 * and closes. `snapshot` and `ping` are read-only; the runtime commands (docs/OPERATIONS.md) need
 * the daemon's uid or root, checked with SO_PEERCRED.
 */
import { chmodSync, chownSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { peerCredentials } from '../io/peercred.js';
import type { DaemonSnapshot } from '../system/snapshot.js';
import { prepareSocketDir } from './paths.js';

export type ControlErrorCode =
  | 'NTPKIT_NOT_RUNNING'
  | 'NTPKIT_PERMISSION'
  | 'NTPKIT_TIMEOUT'
  | 'NTPKIT_PROTOCOL'
  | 'NTPKIT_IN_USE'
  /** The daemon understood the command and refused or could not carry it out (unknown source, …). */
  | 'NTPKIT_COMMAND';

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ControlError';
  }
}

const MAX_REQUEST = 4096;
/** A snapshot of a busy server (clients table) stays far below this. */
const MAX_ANSWER = 64 * 1024 * 1024;

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

export type ControlAccess = 'full' | 'read';
/** One JSON answer line: `ok` plus the command's fields, or `error` (and a ControlErrorCode) when not ok. */
export type ControlReply = { ok: boolean } & Record<string, unknown>;
/** The runtime commands (src/daemon/commands.ts): called only for clients with full access. */
export type CommandHandler = (request: Record<string, unknown>) => Promise<ControlReply>;

export interface ControlServerOptions {
  /** Runtime commands; without a handler only `snapshot` and `ping` exist. */
  commands?: CommandHandler;
  /**
   * `[observe] control-group`: this group may connect too (socket 660, its ntpkit directory 750),
   * and its members (other than the owner and root) get the read-only commands only.
   */
  groupId?: number | null;
}

/** Commands open to the control group; everything else changes the daemon and needs the owner. */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set(['snapshot', 'ping']);

/** The longest a runtime command may take before the client is told it timed out. */
const COMMAND_TIMEOUT_MS = 20_000;

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** Owner (the daemon's uid) and root get everything; others who could connect, the read-only set. */
function accessOf(sock: Socket, groupId: number | null): ControlAccess {
  const cred = peerCredentials(sock);
  if (cred === null) return groupId === null ? 'full' : 'read';
  return cred.uid === 0 || cred.uid === currentUid() ? 'full' : 'read';
}

/** Listen on `path` (directory made 700, socket 600; with a control group 750/660). A stale socket file is replaced. */
export async function startControlServer(
  path: string,
  getSnapshot: () => DaemonSnapshot,
  opts: ControlServerOptions = {},
): Promise<ControlServer> {
  const groupId = opts.groupId ?? null;
  prepareSocketDir(path, groupId);
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
    let answered = false;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      if (answered) return;
      buf += chunk;
      if (buf.length > MAX_REQUEST) {
        answered = true;
        sock.end(`${JSON.stringify({ ok: false, code: 'NTPKIT_PROTOCOL', error: 'request too long' })}\n`);
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      answered = true;
      sock.setTimeout(COMMAND_TIMEOUT_MS + 5000);
      const access = accessOf(sock, groupId);
      void answer(buf.slice(0, nl), access, getSnapshot, opts.commands).then((reply) => {
        if (!sock.destroyed) sock.end(`${JSON.stringify(reply)}\n`);
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (groupId === null) chmodSync(path, 0o600);
  else {
    chownSync(path, -1, groupId);
    chmodSync(path, 0o660);
  }
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

function fail(code: ControlErrorCode, error: string): ControlReply {
  return { ok: false, code, error };
}

async function answer(
  line: string,
  access: ControlAccess,
  getSnapshot: () => DaemonSnapshot,
  commands: CommandHandler | undefined,
): Promise<ControlReply> {
  let req: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return fail('NTPKIT_PROTOCOL', 'the request must be a JSON object');
    req = parsed as Record<string, unknown>;
  } catch {
    return fail('NTPKIT_PROTOCOL', 'invalid JSON');
  }
  const command = req.command;
  if (command === 'snapshot') {
    try {
      return { ok: true, snapshot: getSnapshot() };
    } catch (e) {
      return fail('NTPKIT_PROTOCOL', e instanceof Error ? e.message : String(e));
    }
  }
  if (command === 'ping') return { ok: true };
  if (typeof command !== 'string' || commands === undefined)
    return fail('NTPKIT_PROTOCOL', `unknown command ${JSON.stringify(command)}`);
  if (access !== 'full')
    return fail(
      'NTPKIT_PERMISSION',
      `'${command}' changes the daemon: only its owner (uid ${currentUid()}) or root may run it; ` +
        'the control group may read only (status, sources, clients)',
    );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ControlReply>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(fail('NTPKIT_TIMEOUT', `'${command}' did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`)),
      COMMAND_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([commands(req), timeout]);
  } catch (e) {
    return fail('NTPKIT_PROTOCOL', e instanceof Error ? e.message : String(e));
  } finally {
    clearTimeout(timer);
  }
}

/** Ask the daemon at `path` for its snapshot. Errors are ControlError with readable messages. */
export async function requestSnapshot(path: string, timeoutMs = 3000): Promise<DaemonSnapshot> {
  const msg = await controlRequest(path, { command: 'snapshot' }, timeoutMs);
  if (msg.ok === true && typeof msg.snapshot === 'object' && msg.snapshot !== null)
    return msg.snapshot as DaemonSnapshot;
  throw new ControlError('NTPKIT_PROTOCOL', `daemon error: ${String(msg.error ?? 'bad answer')}`);
}

/**
 * Send one request to the daemon at `path` and return its answer (`ok` false included). Errors
 * reaching the daemon are ControlError with readable messages.
 */
export function controlRequest(
  path: string,
  request: Record<string, unknown>,
  timeoutMs = 3000,
): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    let done = false;
    const finish = (err: Error | null, reply?: ControlReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (err !== null) reject(err);
      else if (reply !== undefined) resolve(reply);
    };
    const timer = setTimeout(
      () =>
        finish(
          new ControlError('NTPKIT_TIMEOUT', `no answer from the daemon on ${path} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify(request)}\n`));
    s.on('data', (c: string) => {
      buf += c;
      if (buf.length > MAX_ANSWER)
        finish(new ControlError('NTPKIT_PROTOCOL', `answer from ${path} too long`));
    });
    s.on('end', () => {
      try {
        const msg = JSON.parse(buf) as unknown;
        if (typeof msg !== 'object' || msg === null || typeof (msg as { ok?: unknown }).ok !== 'boolean')
          throw new Error('bad answer');
        finish(null, msg as ControlReply);
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
            `permission denied on ${path}: the control socket is open to the daemon's user, root and ` +
              'the [observe] control-group only; run as one of them.',
          ),
        );
      } else {
        finish(new ControlError('NTPKIT_PROTOCOL', `cannot talk to the daemon on ${path}: ${e.message}`));
      }
    });
  });
}
