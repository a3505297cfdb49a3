/** Reference clocks: driver configs, the median filter, NMEA, PPS and SHM layouts, the refclock source. */
export * from './config.js';
export * from './filter.js';
export * from './nmea.js';
export * from './pps-struct.js';
export * from './shm-struct.js';
export * from './source.js';
export * from './types.js';
