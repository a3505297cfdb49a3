/**
 * The schema of `[[refclock]]` for the reference (docs/CONFIG.md, `ntpkit config keys refclock`):
 * the table itself is read and validated by `refclockFromTable` (src/refclock/config.ts, which also
 * reads chrony's `refclock` lines); test/config/reference.test.ts checks that both know the same
 * keys. Defaults come from `defaultRefclockConfig`.
 */
import { defaultRefclockConfig } from '../refclock/types.js';
import { bool, custom, int, type KeySpec, num, oneOf, optStr } from './schema-kit.js';

const D = defaultRefclockConfig('SHM');
const none = <T>(key: string, type: string, def: T, defaultText: string, doc: string): KeySpec<T> =>
  custom(key, def, doc, { type, defaultText, toml: null }, () => def);

export const REFCLOCK = {
  driver: oneOf(
    'driver',
    ['SHM', 'PPS', 'NMEA'] as const,
    'SHM',
    'SHM (gpsd, ntpd shared memory), PPS (/dev/ppsN) or NMEA (serial)',
    {
      defaultText: 'required',
      toml: null,
    },
  ),
  parameter: none(
    'parameter',
    'string',
    '',
    'SHM: `"0"`; PPS, NMEA: required',
    'the SHM unit or the device (`/dev/pps0`, `/dev/ttyS0`); also spelt `unit` or `device`',
  ),
  refid: none(
    'refid',
    'string, ≤ 4 ASCII',
    '',
    '`SHM` + unit, `PPS`, `GPS`',
    'reference id, also the source id',
  ),
  poll: int('poll', D.poll, 'filtered samples are used every 2^poll s', { min: -6, max: 17, unit: 'log2 s' }),
  dpoll: int('dpoll', D.dpoll, 'the device is read every 2^dpoll s', { min: -6, max: 17, unit: 'log2 s' }),
  filter: int('filter', D.filter, 'median filter length: samples kept per poll interval', {
    min: 1,
    max: 1024,
  }),
  offset: num('offset', D.offset, 'constant added to the reference time, e.g. a known cable delay', {
    unit: 's',
  }),
  delay: num('delay', D.delay, 'assumed delay of the reference, for the root distance', {
    min: 0,
    unit: 's',
  }),
  precision: num('precision', D.precision, 'precision of the samples: the least dispersion of a sample', {
    unit: 's',
  }),
  maxDispersion: num(
    'max-dispersion',
    D.maxDispersion,
    'largest dispersion of a filtered sample; larger results are dropped',
    { unit: 's' },
  ),
  stratum: int('stratum', D.stratum, 'stratum of the reference itself (0 for a true reference clock)'),
  prefer: bool('prefer', D.prefer, 'preferred source in selection'),
  noselect: bool('noselect', D.noselect, 'measure, never select'),
  trust: bool(
    'trust',
    D.trust,
    'always a truechimer: only another trusted source can make it a falseticker (chrony `trust`)',
  ),
  pulse: none(
    'pulse',
    'bool',
    false,
    'true for PPS',
    'the samples are pulses numbered by the `lock` refclock',
  ),
  lock: optStr('lock', null, 'refid of the refclock whose samples number the pulses (chrony `lock`)'),
};
