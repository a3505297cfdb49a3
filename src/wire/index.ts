/** The wire formats: NTP packet codec, extension fields, MACs, kiss codes, refids, legacy time protocols. */
export * from './crypto.js';
export * from './exchange.js';
export * from './hex.js';
export * from './kiss.js';
export * from './legacy.js';
export * from './mac.js';
export * from './packet.js';
export * from './refid.js';
export * from './validate.js';
