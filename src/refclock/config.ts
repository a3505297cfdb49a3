/**
 * Refclock configuration from text: the proposed TOML table `[[refclock]]` (kebab-case keys,
 * unknown keys rejected) and chrony's `refclock DRIVER PARAM [options]` line. Pure; the config
 * module (src/config) and the chrony.conf importer can call these.
 *
 *   [[refclock]]                      refclock SHM 0 refid GPS poll 3 offset 0.5 delay 0.2 noselect
 *   driver = "SHM"                    refclock PPS /dev/pps0 lock GPS prefer trust
 *   parameter = "0"
 *   refid = "GPS"  poll = 3  dpoll = 0  filter = 64  offset = 0.5  delay = 0.2  precision = 1e-6
 *   max-dispersion = 1  stratum = 0  prefer = false  noselect = false  trust = false  lock = "GPS"
 */
import {
  defaultRefclockConfig,
  type RefclockConfig,
  type RefclockDriver,
  validateRefclockConfig,
} from './types.js';

export type RefclockParseResult = { ok: true; config: RefclockConfig } | { ok: false; errors: string[] };

const DRIVERS: Record<string, RefclockDriver> = { SHM: 'SHM', PPS: 'PPS', NMEA: 'NMEA' };

function finish(c: RefclockConfig, errors: string[]): RefclockParseResult {
  for (const e of validateRefclockConfig(c)) errors.push(e.message);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: c };
}

const NUMBER_KEYS = {
  poll: 'poll',
  dpoll: 'dpoll',
  filter: 'filter',
  offset: 'offset',
  delay: 'delay',
  precision: 'precision',
  'max-dispersion': 'maxDispersion',
  maxdispersion: 'maxDispersion',
  stratum: 'stratum',
} as const;
const FLAG_KEYS = { prefer: 'prefer', noselect: 'noselect', trust: 'trust', pulse: 'pulse' } as const;
/** Every key a `[[refclock]]` table may have (`unit` and `device` are spellings of `parameter`). */
export const REFCLOCK_TABLE_KEYS: readonly string[] = [
  'driver',
  'parameter',
  'unit',
  'device',
  'refid',
  'lock',
  ...Object.keys(NUMBER_KEYS),
  ...Object.keys(FLAG_KEYS),
];

function driverOf(v: unknown, errors: string[]): RefclockDriver | null {
  const d = typeof v === 'string' ? DRIVERS[v.toUpperCase()] : undefined;
  if (d === undefined) errors.push(`unknown refclock driver ${JSON.stringify(v)} (SHM, PPS, NMEA)`);
  return d ?? null;
}

/** A `[[refclock]]` table (values as a TOML parser returns them). */
export function refclockFromTable(t: Record<string, unknown>): RefclockParseResult {
  const errors: string[] = [];
  const driver = driverOf(t.driver, errors);
  if (driver === null) return { ok: false, errors };
  const param = t.parameter ?? t.device ?? t.unit;
  const c = defaultRefclockConfig(
    driver,
    param === undefined ? (driver === 'SHM' ? '0' : '') : String(param),
  );
  if (t.refid === undefined && driver === 'SHM') c.refid = `SHM${c.parameter}`.slice(0, 4);
  for (const [k, v] of Object.entries(t)) {
    if (k === 'driver' || k === 'parameter' || k === 'device' || k === 'unit') continue;
    if (k === 'refid' || k === 'lock') {
      if (typeof v === 'string') c[k] = v;
      else errors.push(`${k} must be a string`);
    } else if (k in NUMBER_KEYS) {
      if (typeof v === 'number' || typeof v === 'bigint')
        c[NUMBER_KEYS[k as keyof typeof NUMBER_KEYS]] = Number(v);
      else errors.push(`${k} must be a number`);
    } else if (k in FLAG_KEYS) {
      if (typeof v === 'boolean') c[FLAG_KEYS[k as keyof typeof FLAG_KEYS]] = v;
      else errors.push(`${k} must be true or false`);
    } else errors.push(`unknown refclock key ${JSON.stringify(k)}`);
  }
  if (driver === 'PPS' && c.parameter === '') errors.push('PPS needs a device (parameter = "/dev/pps0")');
  if (driver === 'NMEA' && c.parameter === '') errors.push('NMEA needs a device (parameter = "/dev/ttyS0")');
  return finish(c, errors);
}

/** chrony's `refclock DRIVER PARAM [option value | flag]...` (the leading word is optional). */
export function parseChronyRefclock(line: string): RefclockParseResult {
  const words = line.trim().split(/\s+/);
  if (words[0]?.toLowerCase() === 'refclock') words.shift();
  const errors: string[] = [];
  const driver = driverOf(words[0], errors);
  if (driver === null) return { ok: false, errors };
  const param = words[1];
  if (param === undefined) return { ok: false, errors: ['missing driver parameter'] };
  // chrony: "SHM 0:perm=0644" — the permission suffix is the writer's business, not ours.
  const parameter = param.split(':')[0] ?? param;
  const c = defaultRefclockConfig(driver, parameter);
  for (let i = 2; i < words.length; i++) {
    const k = (words[i] ?? '').toLowerCase();
    if (k in FLAG_KEYS || k === 'pps') {
      c[k === 'pps' ? 'pulse' : FLAG_KEYS[k as keyof typeof FLAG_KEYS]] = true;
      continue;
    }
    // chrony flags this model does not use (yet).
    if (k === 'tai' || k === 'local') continue;
    const v = words[i + 1];
    if (v === undefined) {
      errors.push(`option ${k} needs a value`);
      break;
    }
    i++;
    if (k === 'refid' || k === 'lock') c[k] = v;
    else if (k in NUMBER_KEYS) {
      const n = Number(v);
      if (!Number.isFinite(n)) errors.push(`option ${k}: ${JSON.stringify(v)} is not a number`);
      else c[NUMBER_KEYS[k as keyof typeof NUMBER_KEYS]] = n;
    } else if (['rate', 'width', 'minsamples', 'maxsamples', 'maxlockage'].includes(k)) {
      // chrony options this model does not use (yet): accepted and ignored.
    } else errors.push(`unknown refclock option ${JSON.stringify(k)}`);
  }
  return finish(c, errors);
}
