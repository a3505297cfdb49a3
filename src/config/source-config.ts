/**
 * The one mapping from a configured source (`[[server]]`, `[[pool]]`, `[[peer]]`,
 * `[[broadcast-client]]`) to the engine's SourceConfig, shared by the daemon and the simulator.
 */
import type { SourceConfig, SourceMode } from '../system/types.js';
import type { SourceOptions } from './types.js';

/** The engine's SourceConfig for a source `name` at `address`:`port` with options `o`. */
export function sourceConfigOf(
  mode: SourceMode,
  address: string,
  port: number,
  name: string,
  o: SourceOptions,
): SourceConfig {
  const c: SourceConfig = {
    address,
    port,
    name,
    mode,
    minpoll: o.minpoll,
    maxpoll: o.maxpoll,
    iburst: o.iburst,
    burst: o.burst,
    prefer: o.prefer,
    noselect: o.noselect,
    xleave: o.xleave,
    version: o.version,
  };
  if (o.key !== null) c.key = o.key;
  if (o.maxDelay !== null) c.maxDelay = o.maxDelay;
  return c;
}
