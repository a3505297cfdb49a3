/**
 * Reference clocks (chrony `refclock`, ntpd type 28 SHM / type 22 PPS / type 20 NMEA): the sans-IO
 * model. A host (daemon, test, simulator) reads the hardware or the shared-memory segment and hands
 * samples to the engine; the engine filters them once per poll interval and uses the result as a
 * stratum-0 source in the selection, exactly like a network source's clock filter output.
 */
import type { RawTime } from '../clock/types.js';
import type { NtpTime } from '../time/ntp-time.js';

/** Kinds of reference clock drivers. `SHM`: the ntpd shared-memory segment (gpsd, ptp4l/phc2sys). */
export type RefclockDriver = 'SHM' | 'PPS' | 'NMEA';

export interface RefclockConfig {
  driver: RefclockDriver;
  /** Driver parameter: SHM unit number ("0"), PPS device ("/dev/pps0"), NMEA device ("/dev/ttyS0"). */
  parameter: string;
  /** Reference id, up to 4 ASCII characters. Default SHM<unit>, PPS, GPS. Also the source id. */
  refid: string;
  /** Poll exponent (log2 s): filtered samples are used every 2^poll s. chrony default 4. */
  poll: number;
  /** Driver poll exponent: how often the host should read the device (2^dpoll s). Default 0. */
  dpoll: number;
  /** Median filter length: samples kept per poll interval (the oldest are dropped). Default 64. */
  filter: number;
  /** Constant added to the reference time (s), e.g. a known cable or processing delay. Default 0. */
  offset: number;
  /** Assumed delay (s) of the reference, used for the root distance. Default 1e-9. */
  delay: number;
  /** Precision of the samples (s): the least dispersion of a sample. Default 1e-6. */
  precision: number;
  /** Largest acceptable dispersion of a filtered sample (s); larger results are dropped. Default 1. */
  maxDispersion: number;
  /** Stratum of the reference itself (0 for a true reference clock). */
  stratum: number;
  prefer: boolean;
  noselect: boolean;
  /** Always a truechimer: only another trusted source can make it a falseticker (chrony `trust`). */
  trust: boolean;
  /**
   * The samples mark only the start of a second (PPS): the whole seconds come from the locked
   * refclock (`lock`) or, without one, from our own clock while it is synchronised.
   */
  pulse: boolean;
  /** Id (refid) of the refclock whose samples number the pulses (chrony `lock`). */
  lock?: string;
  /** Fraction of samples kept around the median per poll (chrony keeps about 60 %). */
  keep: number;
}

/** chrony's defaults for a driver; `parameter` is the unit or the device. */
export function defaultRefclockConfig(
  driver: RefclockDriver,
  parameter = driver === 'SHM' ? '0' : '',
): RefclockConfig {
  const refid = driver === 'SHM' ? `SHM${parameter}`.slice(0, 4) : driver === 'PPS' ? 'PPS' : 'GPS';
  return {
    driver,
    parameter,
    refid,
    poll: 4,
    dpoll: 0,
    filter: 64,
    offset: 0,
    delay: 1e-9,
    precision: 1e-6,
    maxDispersion: 1,
    stratum: 0,
    prefer: false,
    noselect: false,
    trust: false,
    pulse: driver === 'PPS',
    keep: 0.6,
  };
}

/** Validation problems of a refclock configuration (stable codes). */
export type RefclockConfigError =
  | { code: 'bad-refid'; message: string }
  | { code: 'bad-poll'; message: string }
  | { code: 'bad-filter'; message: string }
  | { code: 'bad-number'; message: string }
  | { code: 'bad-lock'; message: string };

export function validateRefclockConfig(c: RefclockConfig): RefclockConfigError[] {
  const errs: RefclockConfigError[] = [];
  if (!/^[\x21-\x7e]{1,4}$/.test(c.refid))
    errs.push({
      code: 'bad-refid',
      message: `refid must be 1 to 4 printable ASCII characters: ${JSON.stringify(c.refid)}`,
    });
  for (const [k, v] of [
    ['poll', c.poll],
    ['dpoll', c.dpoll],
  ] as const)
    if (!Number.isInteger(v) || v < -6 || v > 17)
      errs.push({ code: 'bad-poll', message: `${k} ${v} not in -6..17` });
  if (!Number.isInteger(c.filter) || c.filter < 1 || c.filter > 1024)
    errs.push({ code: 'bad-filter', message: `filter ${c.filter} not in 1..1024` });
  for (const [k, v] of [
    ['offset', c.offset],
    ['delay', c.delay],
    ['precision', c.precision],
    ['maxDispersion', c.maxDispersion],
    ['keep', c.keep],
  ] as const)
    if (!Number.isFinite(v)) errs.push({ code: 'bad-number', message: `${k} is not a finite number` });
  if (c.delay < 0 || c.precision <= 0 || c.maxDispersion <= 0 || c.keep <= 0 || c.keep > 1)
    errs.push({ code: 'bad-number', message: 'delay ≥ 0, precision > 0, maxDispersion > 0, 0 < keep ≤ 1' });
  if (c.lock !== undefined && c.lock === c.refid)
    errs.push({ code: 'bad-lock', message: 'a refclock cannot lock to itself' });
  return errs;
}

/** One reading handed to the engine by the host. */
export interface RefclockSample {
  /** Raw counter value of the local clock at the reference instant (SHM: the receive timestamp). */
  raw: RawTime;
  /**
   * Reference time at that instant (era-extended NTP time; SHM: the clock timestamp). `null` for a
   * pulse (PPS): the instant is the start of a second, which one is resolved by the engine.
   */
  reference: NtpTime | null;
  /** Leap indicator reported by the reference (0 none, 1 insert, 2 delete, 3 not synchronised). */
  leap?: number;
  /** Extra dispersion of this sample (s), e.g. 2^precision from the SHM segment. */
  dispersion?: number;
}
