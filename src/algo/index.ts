/** The RFC 5905 algorithms: clock filter, selection, cluster, combine, huff-n'-puff. */
export * from './cluster.js';
export * from './combine.js';
export * from './constants.js';
export * from './filter.js';
export * from './huffpuff.js';
export * from './select.js';
