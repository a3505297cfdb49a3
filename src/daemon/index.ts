/** The daemon's programmatic API: start a daemon from a configuration, load configuration files. */
export { buildKod } from '../serve/server.js';
export {
  type Daemon,
  type DaemonOptions,
  effectivePort,
  NTPKIT_VERSION,
  startDaemon,
} from './daemon.js';
export { loadConfigFile, loadKeysInto } from './load.js';
export { createLogger, type Logger, silentLogger } from './log.js';
export { type DaemonState, readStateFile, writeStateFile } from './state.js';
