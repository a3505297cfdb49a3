/** RFC 5905 section 7.2 / Appendix A.1.1 parameters used by the mitigation algorithms. */

/** Frequency tolerance (s/s), 15 ppm. */
export const PHI = 15e-6;
/** Number of clock filter stages. */
export const NSTAGE = 8;
/** Maximum dispersion (s); also the dispersion of an empty filter stage. */
export const MAXDISP = 16;
/** Minimum dispersion increment / distance (s). */
export const MINDISP = 0.01;
/** Allan intercept (s): clock filter samples older than this sort after the younger ones (ntpd). */
export const ALLAN_INTERCEPT = 1500;
/** Spike gate: popcorn spikes exceed SGATE times the peer jitter. */
export const SGATE = 3;
/** Default root distance threshold (s). */
export const MAXDIST = 1.5;
/** Minimum number of survivors of the cluster algorithm. */
export const MINCLOCK = 3;
/** Maximum number of candidates considered by the selection. */
export const MAXCLOCK = 10;
/** Stratum limit: 16 means unsynchronised. */
export const MAXSTRAT = 16;
