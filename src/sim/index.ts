/** The deterministic simulator: see docs/simulator.md. */
export * from './distributions.js';
export * from './engines.js';
export * from './fake-engine.js';
export * from './lab.js';
export * from './oscillator.js';
export * from './path.js';
export * from './report.js';
export * from './rng.js';
export * from './scenario.js';
export * from './scheduler.js';
export * from './simulation.js';
export * from './stats.js';
export * from './types.js';
