/** The sans-IO engine (NtpSystem), its contracts, defaults and snapshot types. */
export { buildKissResponse, type ServerState } from '../assoc/server.js';
export * from './snapshot.js';
export * from './system.js';
export * from './types.js';
