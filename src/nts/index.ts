/** Network Time Security (RFC 8915): sans-IO pieces. The TLS transport is in src/io/nts-ke.ts. */
export * from './cookie.js';
export * from './ke.js';
export * from './ntp.js';
