/** ntpkit public API: the sans-IO core. */
export * as time from './time/index.js';
export * as wire from './wire/index.js';
