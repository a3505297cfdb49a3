/** Configuration: TOML text to a validated `DaemonConfig`, the built-in default, key files. */
export * from './default.js';
export * from './keys.js';
export * from './parse.js';
export * from './types.js';
