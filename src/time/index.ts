export * from './ntp-time.js';
export * from './short.js';
