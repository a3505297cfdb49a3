export * from './config.js';
export * from './filter.js';
export * from './nmea.js';
export * from './pps-struct.js';
export * from './shm-struct.js';
export * from './source.js';
export * from './types.js';
