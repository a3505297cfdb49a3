/** Time types: era-extended NTP time and timestamps as bigint, durations, the short format, poll exponents. */
export * from './ntp-time.js';
export * from './short.js';
