/** ntpkit public API: the sans-IO core. */

export * as algo from './algo/index.js';
export * as assoc from './assoc/index.js';
export * as clock from './clock/index.js';
export * as nts from './nts/index.js';
export * as refclock from './refclock/index.js';
export * as sim from './sim/index.js';
export * as system from './system/index.js';
export * as time from './time/index.js';
export * as wire from './wire/index.js';
