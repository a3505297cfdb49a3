export * from './digest.js';
export * from './exchange.js';
export * from './kiss.js';
export * from './legacy.js';
export * from './mac.js';
export * from './packet.js';
export * from './refid.js';
export * from './validate.js';
