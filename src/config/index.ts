export * from './default.js';
export * from './keys.js';
export * from './parse.js';
export * from './types.js';
