/**
 * Shared plumbing of the monitoring subcommands (`ntpkit status|sources|source|clients`):
 * option parsing, fetching the snapshot over the control socket, readable errors.
 */
import type { DaemonSnapshot } from '../system/snapshot.js';
import { ControlError, requestSnapshot } from './control.js';
import { defaultControlSocketPath } from './paths.js';

export interface MonitorArgs {
  json: boolean;
  verbose: boolean;
  socket: string;
  timeoutMs: number;
  positional: string[];
  help: boolean;
}

export class UsageError extends Error {}

export function parseMonitorArgs(args: string[]): MonitorArgs {
  const out: MonitorArgs = {
    json: false,
    verbose: false,
    socket: defaultControlSocketPath(),
    timeoutMs: 3000,
    positional: [],
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--json') out.json = true;
    else if (a === '-v' || a === '--verbose') out.verbose = true;
    else if (a === '-h' || a === '--help') out.help = true;
    else if (a === '--socket' || a === '-s') {
      const v = args[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a PATH`);
      out.socket = v;
    } else if (a.startsWith('--socket=')) out.socket = a.slice('--socket='.length);
    else if (a === '--timeout') {
      const v = Number(args[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new UsageError('--timeout needs a number of seconds');
      out.timeoutMs = v * 1000;
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option '${a}'`);
    else out.positional.push(a);
  }
  return out;
}

/**
 * Run a monitoring command: parse options, fetch the snapshot, print. Exit codes as the runtime
 * commands': 0 done, 1 nothing to show (e.g. no such source), 2 usage, 3 daemon unreachable, 4 permission.
 */
export async function runMonitor(
  name: string,
  usage: string,
  args: string[],
  body: (snap: DaemonSnapshot, a: MonitorArgs) => { text: string; code: number },
  maxPositional = 0,
): Promise<number> {
  let a: MonitorArgs;
  try {
    a = parseMonitorArgs(args);
    if (a.positional.length > maxPositional)
      throw new UsageError(`unexpected argument '${a.positional[maxPositional]}'`);
  } catch (e) {
    process.stderr.write(`ntpkit ${name}: ${e instanceof Error ? e.message : String(e)}\n${usage}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(usage);
    return 0;
  }
  let snap: DaemonSnapshot;
  try {
    snap = await requestSnapshot(a.socket, a.timeoutMs);
  } catch (e) {
    const msg = e instanceof ControlError || e instanceof Error ? e.message : String(e);
    process.stderr.write(`ntpkit ${name}: ${msg}\n`);
    if (e instanceof ControlError && e.code === 'NTPKIT_PERMISSION') return 4;
    return e instanceof ControlError && e.code !== 'NTPKIT_PROTOCOL' ? 3 : 1;
  }
  const r = body(snap, a);
  if (r.code === 0) process.stdout.write(r.text);
  else process.stderr.write(r.text);
  return r.code;
}

export const COMMON_OPTIONS = [
  '  --json           print the JSON snapshot (part) instead of a table',
  '  --socket PATH    control socket of the daemon (default: $NTPKIT_SOCKET, or',
  `                   ${defaultControlSocketPath()})`,
  '  --timeout SEC    give up after SEC seconds (default 3)',
].join('\n');
