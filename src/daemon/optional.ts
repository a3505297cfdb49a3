/**
 * Optional integrations loaded at run time: the observability services (control socket, metrics,
 * dashboard, statistics files, ntpq mode 6). They are looked up by module path so that the daemon
 * still runs (without them) where they are absent, and so that `ntpkit daemon` does not load the
 * dashboard's code when nothing asks for it. The shapes below are the published interfaces of
 * src/observe (docs/monitoring.md).
 */
import type { DaemonSnapshot } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';

export interface ObserveOptions {
  controlSocket: string | null;
  metrics: string | null;
  dashboard: string | null;
  statsDir: string | null;
  statsRotate?: 'daily' | 'none';
}

export interface Closable {
  close(): Promise<void>;
}

export type StartObservability = (
  opts: ObserveOptions,
  getSnapshot: () => DaemonSnapshot,
) => Promise<Closable>;

export type HandleMode6 = (
  request: Uint8Array,
  from: Endpoint,
  getSnapshot: () => DaemonSnapshot,
  opts: { allowRemote: boolean },
) => Uint8Array[] | null;

async function importOptional(spec: string): Promise<Record<string, unknown> | null> {
  try {
    const m: unknown = await import(spec);
    return typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') return null;
    throw e;
  }
}

export async function loadObservability(): Promise<StartObservability | null> {
  const m = await importOptional('../observe/index.js');
  const f = m?.startObservability;
  return typeof f === 'function' ? (f as StartObservability) : null;
}

export async function loadMode6(): Promise<HandleMode6 | null> {
  for (const spec of ['../observe/index.js', '../observe/mode6.js']) {
    const m = await importOptional(spec);
    const f = m?.handleMode6;
    if (typeof f === 'function') return f as HandleMode6;
  }
  return null;
}

export async function loadDefaultControlSocketPath(): Promise<(() => string) | null> {
  const m = await importOptional('../observe/paths.js');
  const f = m?.defaultControlSocketPath;
  return typeof f === 'function' ? (f as () => string) : null;
}
