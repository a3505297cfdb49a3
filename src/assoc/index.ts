export * from './association.js';
export * from './broadcast.js';
export * from './server.js';
export * from './util.js';
