/**
 * The runtime commands (`ntpkit burst|makestep|add|delete|online|offline|reload|rotate-keys|
 * reset-clients|log-level`): one request over the control socket, the answer printed, and an exit
 * code a script can test (EXIT below). The daemon side is src/daemon/commands.ts.
 */

import { POOL, SERVER_NTS, SOURCE_OPTIONS } from '../config/schema-sources.js';
import { COMMON_OPTIONS, parseMonitorArgs, UsageError } from '../observe/cli-common.js';
import { ControlError, type ControlReply, controlRequest } from '../observe/control.js';

/** Exit codes of every control-socket command (also in ntpkit(8)). */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, permission: 4 } as const;

interface Spec {
  args: string;
  summary: string;
  /** Builds the request from the positional arguments (throws UsageError). */
  request(pos: string[]): Record<string, unknown>;
}

function optionalSource(command: string): (pos: string[]) => Record<string, unknown> {
  return (pos) => {
    if (pos.length > 1) throw new UsageError(`unexpected argument '${pos[1]}'`);
    return pos[0] === undefined ? { command } : { command, source: pos[0] };
  };
}

function noArgs(command: string): (pos: string[]) => Record<string, unknown> {
  return (pos) => {
    if (pos.length > 0) throw new UsageError(`unexpected argument '${pos[0]}'`);
    return { command };
  };
}

/**
 * Options of `add`: the keys of a [[server]] (and [[pool]]) table from the config schema, the
 * booleans as flags (true when given), the others with a number.
 */
const ADD_SPECS = Object.values({ ...SOURCE_OPTIONS, ...SERVER_NTS, ...POOL });
export const ADD_FLAGS: readonly string[] = ADD_SPECS.filter((s) => s.type === 'bool').map((s) => s.key);
export const ADD_VALUES: readonly string[] = ADD_SPECS.filter((s) => s.type !== 'bool').map((s) => s.key);

/** ADDR[:PORT], [IPv6]:PORT or a bare IPv6 address. */
export function splitAddress(s: string): { address: string; port?: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  const m = v6 ?? (s.split(':').length === 2 ? /^([^:]+):(\d+)$/.exec(s) : null);
  if (m === null) {
    if (s.includes(':') && !s.includes('.') && s.split(':').length < 3)
      throw new UsageError(`bad address '${s}'`);
    return { address: s };
  }
  const address = m[1] ?? '';
  if (m[2] === undefined) return { address };
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`bad port in '${s}'`);
  return { address, port };
}

function addRequest(pos: string[]): Record<string, unknown> {
  const [mode, addr, ...rest] = pos;
  if (mode !== 'server' && mode !== 'peer' && mode !== 'pool')
    throw new UsageError("add needs 'server', 'peer' or 'pool', then ADDR[:PORT]");
  if (addr === undefined) throw new UsageError(`add ${mode} needs an address`);
  const options: Record<string, unknown> = {};
  for (let i = 0; i < rest.length; i++) {
    const o = rest[i] ?? '';
    if (ADD_FLAGS.includes(o)) options[o] = true;
    else if (ADD_VALUES.includes(o)) {
      const v = Number(rest[++i]);
      if (rest[i] === undefined || !Number.isFinite(v)) throw new UsageError(`${o} needs a number`);
      options[o] = v;
    } else throw new UsageError(`unknown option '${o}' for add`);
  }
  return { command: 'add', mode, ...splitAddress(addr), options };
}

export const SPECS: Record<string, Spec> = {
  burst: {
    args: '[SOURCE]',
    summary: 'send a burst of requests to SOURCE (default: every source) now',
    request: optionalSource('burst'),
  },
  makestep: {
    args: '',
    summary: 'step the clock by the correction it is still slewing, at once',
    request: noArgs('makestep'),
  },
  add: {
    args: 'server|peer|pool ADDR[:PORT] [OPTION...]',
    summary: 'add a source until the next reload or restart',
    request: addRequest,
  },
  delete: {
    args: 'SOURCE',
    summary: 'remove a source (a pool by its name) until the next reload or restart',
    request: (pos) => {
      if (pos.length !== 1) throw new UsageError('delete needs one SOURCE');
      return { command: 'delete', source: pos[0] };
    },
  },
  online: {
    args: '[SOURCE]',
    summary: 'resume polling SOURCE (default: every source)',
    request: optionalSource('online'),
  },
  offline: {
    args: '[SOURCE]',
    summary: 'stop polling SOURCE (default: every source); its state is kept',
    request: optionalSource('offline'),
  },
  reload: { args: '', summary: 're-read the configuration file (as SIGHUP)', request: noArgs('reload') },
  'rotate-keys': {
    args: '',
    summary: 'rotate the NTS cookie master key now',
    request: noArgs('rotate-keys'),
  },
  'reset-clients': {
    args: '',
    summary: 'forget the table of clients served',
    request: noArgs('reset-clients'),
  },
  'log-level': {
    args: 'LEVEL',
    summary: 'set the log level: debug, info, warn or error',
    request: (pos) => {
      if (pos.length !== 1) throw new UsageError('log-level needs one LEVEL (debug, info, warn, error)');
      return { command: 'log-level', level: pos[0] };
    },
  },
};

const SOURCE_HELP =
  'SOURCE is a source id, address, ADDRESS:PORT or host name (a pool name: all its members).';
const ADD_HELP = `Options of add (the keys of a [[server]] or [[pool]] table, docs/CONFIG.md):
  flags:         ${ADD_FLAGS.join(' ')}
  with a number: ${ADD_VALUES.join(' ')}`;
const EXIT_HELP = `Exit status: 0 done; 1 the daemon refused or could not do it; 2 bad usage;
3 the daemon is not running or did not answer; 4 permission denied (these commands need the
daemon's user or root; the [observe] control-group may only read).`;

export function usage(name: string): string {
  const s = SPECS[name];
  if (s === undefined) return '';
  const extra = name === 'add' ? `\n${ADD_HELP}\n` : s.args.includes('SOURCE') ? `\n${SOURCE_HELP}\n` : '';
  return (
    `usage: ntpkit ${name}${s.args === '' ? '' : ` ${s.args}`} [--json] [--socket PATH]\n\n` +
    `${s.summary[0]?.toUpperCase()}${s.summary.slice(1)}.\n${extra}\n${COMMON_OPTIONS}\n\n${EXIT_HELP}\n`
  );
}

function describe(name: string, reply: ControlReply): string {
  const list = (k: string): string => (Array.isArray(reply[k]) ? (reply[k] as string[]).join(', ') : '');
  switch (name) {
    case 'makestep':
      return reply.offset === 0
        ? 'nothing to step: no correction pending'
        : `clock stepped by ${Number(reply.offset).toFixed(6)} s`;
    case 'add':
      return `added ${list('sources')} (${String(reply.note)})`;
    case 'reload':
      return `configuration reloaded${reply.file === null ? '' : ` from ${String(reply.file)}`}`;
    case 'reset-clients':
      return `client table reset (${String(reply.cleared)} clients forgotten)`;
    case 'log-level':
      return `log level ${String(reply.level)}`;
    case 'rotate-keys':
      return 'NTS master key rotated';
    default: {
      const skipped = list('skipped');
      return `${name}: ${list('sources')}${skipped === '' ? '' : ` (skipped: ${skipped})`}`;
    }
  }
}

/** `ntpkit NAME ARGS…` for one runtime command. */
export async function runRuntime(name: string, args: string[]): Promise<number> {
  const spec = SPECS[name];
  if (spec === undefined) return EXIT.usage;
  let request: Record<string, unknown>;
  let opts: ReturnType<typeof parseMonitorArgs>;
  try {
    opts = parseMonitorArgs(args);
    if (opts.help) {
      process.stdout.write(usage(name));
      return EXIT.ok;
    }
    request = spec.request(opts.positional);
  } catch (e) {
    process.stderr.write(`ntpkit ${name}: ${e instanceof Error ? e.message : String(e)}\n${usage(name)}`);
    return EXIT.usage;
  }
  let reply: ControlReply;
  try {
    // Commands that resolve names or re-read files may take longer than a snapshot.
    reply = await controlRequest(opts.socket, request, Math.max(opts.timeoutMs, 25_000));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`ntpkit ${name}: ${msg}\n`);
    return e instanceof ControlError && e.code === 'NTPKIT_PERMISSION' ? EXIT.permission : EXIT.unreachable;
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
  if (reply.ok) {
    if (!opts.json) process.stdout.write(`${describe(name, reply)}\n`);
    return EXIT.ok;
  }
  if (!opts.json) process.stderr.write(`ntpkit ${name}: ${String(reply.error)}\n`);
  if (reply.code === 'NTPKIT_PERMISSION') return EXIT.permission;
  if (reply.code === 'NTPKIT_TIMEOUT') return EXIT.unreachable;
  return EXIT.refused;
}

/** The module entry point of main.ts: `name` is the subcommand. */
export function run(args: string[], name: string): Promise<number> {
  return runRuntime(name, args);
}
