export * from './snapshot.js';
export * from './system.js';
export * from './types.js';
