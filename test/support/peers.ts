/**
 * Helpers for interop tests against real NTP implementations (chronyd, NTPsec ntpd, sntp/ntpdig,
 * rdate, tshark), shared by every area's tests. See /work/shared/TESTRIG.md for the rig.
 *
 * Rules these helpers enforce:
 * - no reference daemon may set the host clock: every daemon runs under
 *   `setpriv --bounding-set -sys_time` (and chronyd with `-x`);
 * - traffic stays on loopback or in network namespaces created here (`createNetns`), which are
 *   deleted by `cleanup()` and, as a safety net, when the process exits;
 * - each process started here runs in its own process group and is stopped by that id only.
 *
 * Typical use:
 * ```ts
 * const why = skipReason('chronyd', 'faketime');        // null when the test can run
 * if (why !== null) return t.skip(why);
 * const srv = await startChronyd({ port: 11123, faketime: '+2.5s' });
 * t.after(() => srv.stop());
 * ```
 */

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const EXTRA_PATH = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

/** True when running as root (namespaces, port 123 and tshark need it). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Absolute path of an executable found on PATH (plus the sbin directories), or null. */
export function whichBinary(name: string): string | null {
  const candidates = name.includes('/')
    ? [name]
    : [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_PATH]
        .filter((d) => d !== '')
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

/** True when `name` (a command name or an absolute path) is an executable on this machine. */
export function hasBinary(name: string): boolean {
  return whichBinary(name) !== null;
}

/** Root of the unpacked peers (NTPsec and openntpd conflict with chrony, so they are not installed). */
export function peersDir(): string {
  return process.env.NTPKIT_PEERS_DIR ?? '/opt/ntpkit-peers';
}

/** The unpacked NTPsec tree (ntpd at `usr/sbin/ntpd`, ntpq at `usr/bin/ntpq`), or null when absent. */
export function ntpsecDir(): string | null {
  const d = join(peersDir(), 'ntpsec');
  return existsSync(join(d, 'usr/sbin/ntpd')) ? d : null;
}

/** The unpacked openntpd tree (`usr/sbin/openntpd`), or null when absent. */
export function openntpdDir(): string | null {
  const d = join(peersDir(), 'openntpd');
  return existsSync(join(d, 'usr/sbin/ntpd')) || existsSync(join(d, 'usr/sbin/openntpd')) ? d : null;
}

/** The switch CI sets (`.ci/run`): a peer a test needs that is missing fails the test instead of skipping it. */
export const REQUIRE_PEERS_ENV = 'NTPKIT_REQUIRE_PEERS';

/** True when `NTPKIT_REQUIRE_PEERS=1`: every skip for a missing peer becomes a failure. */
export function peersRequired(): boolean {
  return process.env[REQUIRE_PEERS_ENV] === '1';
}

/** Thrown instead of skipping when a test's peer is missing and peers are required. */
export class PeerMissingError extends Error {
  constructor(reason: string) {
    super(`${REQUIRE_PEERS_ENV}=1 and a peer this test needs is missing: ${reason}`);
    this.name = 'PeerMissingError';
  }
}

/**
 * The one gate every test that needs something install-peers.sh provides goes through: returns
 * `reason` (a skip reason, or null when the test can run), but throws `PeerMissingError` when there is
 * a reason and `NTPKIT_REQUIRE_PEERS=1`, so a CI run without peers is red, never green by skipping.
 */
export function peerGate(reason: string | null): string | null {
  if (reason !== null && peersRequired()) throw new PeerMissingError(reason);
  return reason;
}

/** Why a need (a command, or the words 'root', 'ntpsec', 'python:MODULE') is unmet, or null. */
function unmet(need: string): string | null {
  if (need === 'root') return isRoot() ? null : 'needs root';
  if (need === 'ntpsec')
    return ntpsecDir() === null
      ? `NTPsec is not unpacked under ${peersDir()} (run scripts/install-peers.sh)`
      : null;
  if (need.startsWith('python:')) {
    const mod = need.slice('python:'.length);
    if (!existsSync('/usr/bin/python3'))
      return '/usr/bin/python3 is not installed (run scripts/install-peers.sh)';
    const r = spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore', timeout: 10_000 });
    return r.status === 0 ? null : `python module ${mod} is not installed (run scripts/install-peers.sh)`;
  }
  return hasBinary(need) ? null : `${need} is not installed (run scripts/install-peers.sh)`;
}

/**
 * Why a test needing these binaries (and optionally root) cannot run here, or null when it can.
 * Names may be commands or the special words 'root', 'ntpsec' and 'python:MODULE'.
 * Under `NTPKIT_REQUIRE_PEERS=1` an unmet need throws instead (see `peerGate`).
 */
export function skipReason(...needs: string[]): string | null {
  for (const n of needs) {
    const why = unmet(n);
    if (why !== null) return peerGate(why);
  }
  return null;
}

/**
 * A fresh private temporary directory (mode 700, as chronyd requires for its socket directory).
 * As a safety net it is deleted when the process exits; remove it earlier with `removeDir`.
 */
export async function freeTempDir(prefix = 'ntpkit-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o700);
  installExitHook();
  liveDirs.add(dir);
  return dir;
}

/** Removes a directory tree (no error if it is already gone). */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Kill the command (its process group) after this many ms. Default 10,000. */
  timeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec NS`). */
  netns?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

function wrapNetns(cmd: string, args: string[], netns: string | undefined): [string, string[]] {
  return netns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', netns, cmd, ...args]];
}

/** Runs a command to completion with a time limit; never rejects for a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [c, a] = wrapNetns(cmd, args, opts.netns);
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { detached: true, env: opts.env ?? process.env, cwd: opts.cwd, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, opts.timeoutMs ?? 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** A long-running process started in its own process group, with captured output. */
export interface Daemon {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** True once the process has exited. */
  exited(): boolean;
  /** SIGTERM to the process group, SIGKILL after `graceMs` (default 3000), resolves when gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns a daemon in its own process group (optionally in a namespace). */
export function spawnDaemon(
  cmd: string,
  args: string[],
  opts: { netns?: string; env?: NodeJS.ProcessEnv } = {},
): Daemon {
  const [c, a] = wrapNetns(cmd, args, opts.netns);
  const child = spawn(c, a, {
    detached: true,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installExitHook();
  liveDaemons.add(child);
  let out = '';
  let done = false;
  const gone = new Promise<void>((resolve) => {
    child.on('close', () => {
      done = true;
      liveDaemons.delete(child);
      resolve();
    });
    child.on('error', (err) => {
      out += `spawn error: ${err.message}\n`;
      done = true;
      resolve();
    });
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  return {
    child,
    output: () => out,
    exited: () => done,
    async stop(graceMs = 3000) {
      if (done) return;
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Polls `probe` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= end) return false;
    await sleep(intervalMs);
  }
}

/** The command prefix that removes the right to set the clock from everything it starts. */
export const NO_SYS_TIME = ['setpriv', '--bounding-set', '-sys_time', '--'];

// ---------------------------------------------------------------------------------------------- chronyd

export interface ChronydOptions {
  /** NTP port to serve on; 0 for a pure client. */
  port: number;
  /** Extra config lines appended after the defaults (e.g. `server 127.0.0.1 port 11123 iburst`). */
  conf?: string[];
  /** A libfaketime spec, e.g. '+2.5s' or '+2.5s x1.0001': runs chronyd under `faketime -f SPEC`. */
  faketime?: string;
  /** Address to bind the NTP socket to. Default 127.0.0.1 (none inside a namespace). */
  bindaddress?: string;
  /** Run inside this network namespace. */
  netns?: string;
  /** `allow` lines for clients. Default: the bind address, or `all` in a namespace. */
  allow?: string[];
  /** `local stratum N` when serving; null for none. Default 1 when port > 0. */
  localStratum?: number | null;
  /** How long to wait for the command socket. Default 10,000 ms. */
  startTimeoutMs?: number;
}

export interface ChronydHandle {
  /** The private (700) directory holding config, socket, pid and log. */
  dir: string;
  socketPath: string;
  confPath: string;
  daemon: Daemon;
  /** Runs `chronyc -h SOCKET -n ARGS…` and returns stdout; rejects on failure. Use `-c` for CSV. */
  chronyc(args: string[]): Promise<string>;
  /** Stops chronyd and removes its directory. */
  stop(): Promise<void>;
}

/** The config lines `startChronyd` writes before `opts.conf`. */
export function chronydBaseConf(dir: string, opts: ChronydOptions): string[] {
  const lines = [`port ${opts.port}`, `cmdport 0`, `bindcmdaddress ${join(dir, 'chronyd.sock')}`];
  lines.push(`pidfile ${join(dir, 'chronyd.pid')}`, `driftfile ${join(dir, 'drift')}`);
  const bind = opts.bindaddress ?? (opts.netns === undefined ? '127.0.0.1' : undefined);
  if (bind !== undefined) lines.push(`bindaddress ${bind}`);
  if (opts.port > 0) {
    const allow = opts.allow ?? [bind ?? 'all'];
    for (const a of allow) lines.push(a === 'all' ? 'allow all' : `allow ${a}`);
    const stratum = opts.localStratum === undefined ? 1 : opts.localStratum;
    if (stratum !== null) lines.push(`local stratum ${stratum}`);
  }
  return lines;
}

/**
 * Starts chronyd (`-x -d`, never allowed to set the clock) and resolves once its command socket
 * answers `chronyc tracking`. Rejects with chronyd's output if it exits or does not come up.
 */
export async function startChronyd(opts: ChronydOptions): Promise<ChronydHandle> {
  const chronyd = whichBinary('chronyd');
  if (chronyd === null) throw new Error('chronyd is not installed');
  const dir = await freeTempDir('ntpkit-chronyd-');
  const confPath = join(dir, 'chrony.conf');
  const socketPath = join(dir, 'chronyd.sock');
  await writeFile(confPath, `${[...chronydBaseConf(dir, opts), ...(opts.conf ?? [])].join('\n')}\n`);
  const args = [...NO_SYS_TIME.slice(1)];
  if (opts.faketime !== undefined) args.push('faketime', '-f', opts.faketime);
  args.push(chronyd, '-x', '-d', '-u', 'root', '-f', confPath);
  const daemon = spawnDaemon(NO_SYS_TIME[0] ?? 'setpriv', args, { netns: opts.netns });
  const chronyc = async (cargs: string[]): Promise<string> => {
    const r = await runCommand('chronyc', ['-h', socketPath, '-n', ...cargs], { timeoutMs: 5000 });
    if (r.code !== 0)
      throw new Error(`chronyc ${cargs.join(' ')} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  };
  const stop = async () => {
    await daemon.stop();
    await removeDir(dir);
  };
  const up = await waitFor(async () => {
    if (daemon.exited()) return true;
    if (!existsSync(socketPath)) return false;
    try {
      await chronyc(['tracking']);
      return true;
    } catch {
      return false;
    }
  }, opts.startTimeoutMs ?? 10_000);
  if (!up || daemon.exited()) {
    const out = daemon.output();
    await stop();
    throw new Error(`chronyd did not start:\n${out}`);
  }
  return { dir, socketPath, confPath, daemon, chronyc, stop };
}

// ---------------------------------------------------------------------------------------------- NTPsec

export interface NtpsecOptions {
  /** Network namespace to run in (ntpd always uses port 123, so it needs its own). */
  netns: string;
  /** Extra config lines; the defaults make an unprivileged stratum-1-ish orphan server (TESTRIG). */
  conf?: string[];
  /** A libfaketime spec for ntpd. */
  faketime?: string;
  /**
   * Resolve only once ntpd listens on this address (it picks up a namespace's veth address a few
   * seconds after start, later than loopback). Default: the first "Listen normally" line.
   */
  waitForAddress?: string;
  /** Start time limit. Default 15,000 ms. */
  startTimeoutMs?: number;
}

export interface NtpsecHandle {
  dir: string;
  confPath: string;
  daemon: Daemon;
  stop(): Promise<void>;
}

/** The default NTPsec server config lines (TESTRIG: works unprivileged, answers fast pollers). */
export function ntpsecServerConf(dir: string): string[] {
  return [
    'tos orphan 1',
    'tos orphanwait 0',
    'disable ntp',
    'disable kernel',
    'unrestrict default limited',
    `driftfile ${join(dir, 'ntp.drift')}`,
  ];
}

/**
 * Starts NTPsec ntpd (`-n`, under setpriv without CAP_SYS_TIME) in a namespace on port 123.
 * Resolves once ntpd's log says it listens (on `waitForAddress` if given); rejects if it exits or times out.
 */
export async function startNtpsec(opts: NtpsecOptions): Promise<NtpsecHandle> {
  const root = ntpsecDir();
  if (root === null) throw new Error('NTPsec is not unpacked');
  const dir = await freeTempDir('ntpkit-ntpsec-');
  const confPath = join(dir, 'ntp.conf');
  await writeFile(confPath, `${[...ntpsecServerConf(dir), ...(opts.conf ?? [])].join('\n')}\n`);
  const args = [...NO_SYS_TIME.slice(1)];
  if (opts.faketime !== undefined) args.push('faketime', '-f', opts.faketime);
  args.push(join(root, 'usr/sbin/ntpd'), '-n', '-c', confPath, '-p', join(dir, 'ntpd.pid'));
  const daemon = spawnDaemon(NO_SYS_TIME[0] ?? 'setpriv', args, { netns: opts.netns });
  await waitFor(
    () => daemon.exited() || /Listen normally|Listening on/i.test(daemon.output()),
    opts.startTimeoutMs ?? 5000,
  );
  if (daemon.exited()) {
    const out = daemon.output();
    await removeDir(dir);
    throw new Error(`ntpd (NTPsec) exited:\n${out}`);
  }
  return {
    dir,
    confPath,
    daemon,
    async stop() {
      await daemon.stop();
      await removeDir(dir);
    },
  };
}

// ------------------------------------------------------------------------------------ network namespaces

export interface NetnsPair {
  /** Namespace names. */
  a: string;
  b: string;
  /** Addresses without prefix length, e.g. '10.123.1.1' and '10.123.1.2'. */
  addrA: string;
  addrB: string;
  /** Runs a command to completion inside namespace `ns` (a or b). */
  exec(ns: string, cmd: string, args: string[], opts?: Omit<RunOptions, 'netns'>): Promise<RunResult>;
  /** Deletes both namespaces (and the veth pair with them). Idempotent. */
  cleanup(): Promise<void>;
}

export interface NetnsOptions {
  /** CIDR address of namespace a. Default 10.123.0.1/24. */
  addrA?: string;
  /** CIDR address of namespace b. Default 10.123.0.2/24. */
  addrB?: string;
}

const liveNamespaces = new Set<string>();
const liveDaemons = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveDaemons) killGroup(child, 'SIGKILL');
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    for (const ns of liveNamespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // best effort
      }
    }
  });
}

async function ipCmd(args: string[]): Promise<void> {
  const r = await runCommand('ip', args, { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

/**
 * Creates two network namespaces `${prefix}XXXXa` and `${prefix}XXXXb` (XXXX random hex) joined by a
 * veth pair, with loopback up in both. Use your brief's prefix and subnet. Needs root.
 * Interface names are at most 15 characters, so keep `prefix` ≤ 8 characters.
 */
export async function createNetns(prefix: string, opts: NetnsOptions = {}): Promise<NetnsPair> {
  if (prefix.length > 8) throw new RangeError('netns prefix too long (max 8 characters)');
  const tag = `${prefix}${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
  const a = `${tag}a`;
  const b = `${tag}b`;
  const cidrA = opts.addrA ?? '10.123.0.1/24';
  const cidrB = opts.addrB ?? '10.123.0.2/24';
  installExitHook();
  const cleanup = async () => {
    for (const ns of [a, b]) {
      if (!liveNamespaces.has(ns)) continue;
      await runCommand('ip', ['netns', 'del', ns], { timeoutMs: 5000 });
      liveNamespaces.delete(ns);
    }
  };
  try {
    await ipCmd(['netns', 'add', a]);
    liveNamespaces.add(a);
    await ipCmd(['netns', 'add', b]);
    liveNamespaces.add(b);
    await ipCmd(['link', 'add', `v${a}`, 'netns', a, 'type', 'veth', 'peer', 'name', `v${b}`, 'netns', b]);
    for (const [ns, cidr] of [
      [a, cidrA],
      [b, cidrB],
    ] as const) {
      await ipCmd(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ipCmd(['-n', ns, 'addr', 'add', cidr, 'dev', `v${ns}`]);
      await ipCmd(['-n', ns, 'link', 'set', `v${ns}`, 'up']);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    a,
    b,
    addrA: cidrA.split('/')[0] ?? cidrA,
    addrB: cidrB.split('/')[0] ?? cidrB,
    exec: (ns, cmd, args, o = {}) => runCommand(cmd, args, { ...o, netns: ns }),
    cleanup,
  };
}

// ---------------------------------------------------------------------------------------------- capture

export interface Capture {
  /** Stops tshark and returns the UDP payloads seen, in order, as lower-case hex. */
  stop(): Promise<string[]>;
}

/**
 * Captures UDP payloads with tshark (`-T fields -e udp.payload`) on an interface (default `lo`),
 * optionally inside a namespace. Resolves once tshark reports that capturing started.
 */
export async function captureUdp(opts: { filter: string; iface?: string; netns?: string }): Promise<Capture> {
  const d = spawnDaemon(
    'tshark',
    ['-l', '-n', '-i', opts.iface ?? 'lo', '-f', opts.filter, '-T', 'fields', '-e', 'udp.payload'],
    { netns: opts.netns },
  );
  const ok = await waitFor(() => d.exited() || /Capturing on/.test(d.output()), 10_000, 50);
  if (!ok || d.exited()) {
    await d.stop();
    throw new Error(`tshark did not start:\n${d.output()}`);
  }
  await sleep(200);
  return {
    async stop() {
      await sleep(300);
      await d.stop();
      return d
        .output()
        .split('\n')
        .map((l) => l.trim().toLowerCase())
        .filter((l) => /^[0-9a-f]+$/.test(l));
    },
  };
}
