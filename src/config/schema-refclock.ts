/**
 * The schema of `[[refclock]]` and its reader: the keys every driver takes, the keys of each driver
 * (SHM, PPS, NMEA: the parameter's spelling and meaning, and the defaults that differ), and
 * `readRefclock`, which picks the driver's keys by `driver` and reports every problem with the file,
 * line and key like the other tables. Defaults come from `defaultRefclockConfig`. Pure.
 */
import {
  defaultRefclockConfig,
  type RefclockConfig,
  type RefclockDriver,
  validateRefclockConfig,
} from '../refclock/types.js';
import { join, show, type Table, type TomlReader } from './reader.js';
import { bool, custom, int, type KeySpec, type Keys, keyNames, num, readValues } from './schema-kit.js';

const D = defaultRefclockConfig('SHM');
export const REFCLOCK_DRIVERS = ['SHM', 'PPS', 'NMEA'] as const satisfies readonly RefclockDriver[];

function driverOf(v: unknown): RefclockDriver | null {
  const up = typeof v === 'string' ? v.toUpperCase() : '';
  return (REFCLOCK_DRIVERS as readonly string[]).includes(up) ? (up as RefclockDriver) : null;
}

/** `driver`: required, any case. */
const DRIVER = custom<RefclockDriver | null>(
  'driver',
  null,
  'SHM (gpsd, ntpd shared memory), PPS (/dev/ppsN) or NMEA (serial); the other keys depend on it',
  { type: '`SHM`, `PPS`, `NMEA`', defaultText: 'required', toml: null },
  (r, t, p) => {
    const v = t.driver;
    if (v === undefined) r.issue('CONFIG_BAD_VALUE', p, 'driver is required (SHM, PPS, NMEA)');
    else if (driverOf(v) === null)
      r.issue('CONFIG_BAD_VALUE', join(p, 'driver'), `unknown refclock driver ${show(v)} (SHM, PPS, NMEA)`);
    return driverOf(v);
  },
);

/** A number that must be above zero (the reader's ranges are inclusive). */
function positive(key: string, def: number, doc: string): KeySpec<number> {
  return custom(key, def, doc, { type: 'seconds > 0', defaultText: String(def) }, (r, t, p) => {
    const n = r.num(t, key, p, def);
    if (n > 0) return n;
    r.issue('CONFIG_BAD_VALUE', join(p, key), `${n} must be above 0`);
    return def;
  });
}

/** Keys every driver takes. */
export const REFCLOCK = {
  driver: DRIVER,
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
  precision: positive('precision', D.precision, 'precision of the samples: the least dispersion of a sample'),
  maxDispersion: positive(
    'max-dispersion',
    D.maxDispersion,
    'largest dispersion of a filtered sample; larger results are dropped',
  ),
  maxDispersionAlias: custom<number | null>(
    'maxdispersion',
    null,
    'chrony’s spelling of `max-dispersion` (give one of the two)',
    { type: 'seconds > 0', defaultText: 'none' },
    (r, t, p) => (t.maxdispersion === undefined ? null : positive('maxdispersion', 1, '').read(r, t, p)),
  ),
  stratum: int('stratum', D.stratum, 'stratum of the reference itself (0 for a true reference clock)', {
    min: 0,
    max: 15,
  }),
  prefer: bool('prefer', D.prefer, 'preferred source in selection'),
  noselect: bool('noselect', D.noselect, 'measure, never select'),
  trust: bool(
    'trust',
    D.trust,
    'always a truechimer: only another trusted source can make it a falseticker (chrony `trust`)',
  ),
  lock: custom<string | null>(
    'lock',
    null,
    'refid of the refclock whose samples number the pulses (chrony `lock`)',
    { type: 'string', defaultText: 'none' },
    (r, t, p) => {
      if (typeof t.lock === 'string') return t.lock;
      r.str(t, 'lock', p, ''); // reports a value of another type
      return null;
    },
  ),
};

/** A string, or an integer written as one (`unit = 0` and `unit = "0"` alike). */
function readText(r: TomlReader, t: Table, p: string, key: string): string | null {
  const v = t[key];
  if (v === undefined) return null;
  if (typeof v === 'string') return v;
  if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint') return String(v);
  r.issue('CONFIG_BAD_VALUE', join(p, key), `expected a string, got ${show(v)}`);
  return null;
}

/** The SHM segment number: an integer 0…255 (a number or a string of digits). */
function shmUnit(key: string, doc: string): KeySpec<string | null> {
  return custom(key, null, doc, { type: 'integer 0…255', defaultText: '0' }, (r, t, p) => {
    const v = readText(r, t, p, key);
    if (v === null) return null;
    if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return v;
    r.issue('CONFIG_BAD_VALUE', join(p, key), `SHM unit ${show(t[key])} is not an integer 0…255`);
    return null;
  });
}

/** A device path; the driver needs one (`device` or `parameter`), checked by `readRefclock`. */
function device(key: string, example: string, doc: string): KeySpec<string | null> {
  return custom(
    key,
    null,
    doc,
    { type: 'path', defaultText: `required, e.g. \`"${example}"\`` },
    (r, t, p) => {
      const v = readText(r, t, p, key);
      if (v === '') r.issue('CONFIG_BAD_VALUE', join(p, key), `${key} must not be empty`);
      return v === '' ? null : v;
    },
  );
}

const refid = (def: string) =>
  custom<string | null>(
    'refid',
    null,
    'reference id, 1 to 4 printable ASCII characters; also the source id',
    { type: 'string, ≤ 4 ASCII', defaultText: def },
    (r, t, p) => {
      const v = r.str(t, 'refid', p, '');
      if (t.refid === undefined || typeof t.refid !== 'string') return null;
      if (/^[\x21-\x7e]{1,4}$/.test(v)) return v;
      r.issue('CONFIG_BAD_VALUE', join(p, 'refid'), `${show(v)} is not 1 to 4 printable ASCII characters`);
      return null;
    },
  );

const pulse = (def: boolean) =>
  bool('pulse', def, 'the samples mark only the start of a second: they are numbered by the `lock` refclock');

/** The keys of each driver, beside `REFCLOCK`. */
export const REFCLOCK_DRIVER_KEYS = {
  SHM: {
    unit: shmUnit(
      'unit',
      'the shared-memory segment (ntpd’s unit; gpsd uses 0 and 1 for its first receiver)',
    ),
    parameter: shmUnit('parameter', 'chrony’s name for `unit` (give one of the two)'),
    refid: refid('`SHM` + unit'),
    pulse: pulse(false),
  },
  PPS: {
    device: device('device', '/dev/pps0', 'the PPS device'),
    parameter: device('parameter', '/dev/pps0', 'chrony’s name for `device` (give one of the two)'),
    refid: refid('`"PPS"`'),
    pulse: pulse(true),
  },
  NMEA: {
    device: device('device', '/dev/ttyS0', 'the serial device the receiver writes NMEA sentences to'),
    parameter: device('parameter', '/dev/ttyS0', 'chrony’s name for `device` (give one of the two)'),
    refid: refid('`"GPS"`'),
    pulse: pulse(false),
  },
} satisfies Record<RefclockDriver, Keys>;

/** One of two spellings of a key (an error when both are given and differ). */
function either<T>(r: TomlReader, p: string, a: [string, T | null], b: [string, T | null]): T | null {
  if (a[1] !== null && b[1] !== null && a[1] !== b[1])
    r.issue('CONFIG_BAD_VALUE', join(p, b[0]), `give either ${a[0]} or ${b[0]}, not both`);
  return a[1] ?? b[1];
}

/** The key that names the driver's parameter (`parameter` is chrony's name for it). */
const PARAMETER_KEY: Record<RefclockDriver, 'unit' | 'device'> = {
  SHM: 'unit',
  PPS: 'device',
  NMEA: 'device',
};
const EXAMPLE_DEVICE: Record<RefclockDriver, string> = { SHM: '', PPS: '/dev/pps0', NMEA: '/dev/ttyS0' };

/** Reads `[[refclock]]` table `t` at `path`; null when its driver is missing or unknown. */
export function readRefclock(r: TomlReader, t: Table, path: string): RefclockConfig | null {
  const driver = DRIVER.read(r, t, path);
  if (driver === null) return null;
  const own = REFCLOCK_DRIVER_KEYS[driver];
  r.keys(t, path, [...keyNames(REFCLOCK), ...keyNames(own)]);
  const v = readValues(r, t, path, REFCLOCK);
  const o = readValues(r, t, path, own as Keys) as {
    parameter: string | null;
    unit?: string | null;
    device?: string | null;
    refid: string | null;
    pulse: boolean;
  };
  const name = PARAMETER_KEY[driver];
  const parameter = either(r, path, [name, o[name] ?? null], ['parameter', o.parameter]);
  if (driver !== 'SHM' && t.device === undefined && t.parameter === undefined)
    r.issue('CONFIG_BAD_VALUE', path, `${driver} needs a device (device = "${EXAMPLE_DEVICE[driver]}")`);
  const { driver: _, maxDispersionAlias, lock, ...numbersAndFlags } = v;
  const md = t['max-dispersion'] === undefined ? null : v.maxDispersion;
  const c: RefclockConfig = {
    ...defaultRefclockConfig(driver, parameter ?? (driver === 'SHM' ? '0' : '')),
    ...numbersAndFlags,
    maxDispersion:
      either(r, path, ['max-dispersion', md], ['maxdispersion', maxDispersionAlias]) ?? v.maxDispersion,
    pulse: o.pulse,
  };
  if (o.refid !== null) c.refid = o.refid;
  if (lock !== null) {
    c.lock = lock;
    if (lock === c.refid)
      r.issue(
        'CONFIG_BAD_VALUE',
        join(path, 'lock'),
        `a refclock cannot lock to itself (refid ${show(c.refid)})`,
      );
  }
  // The engine's own check; the keys above leave nothing for it to find.
  for (const e of validateRefclockConfig(c))
    if (e.code !== 'bad-lock') r.issue('CONFIG_BAD_VALUE', path, e.message);
  return c;
}
