/**
 * Refclock configuration from chrony's `refclock DRIVER PARAM [options]` line. Pure. (The TOML
 * table `[[refclock]]` is read by the configuration schema, src/config/schema-refclock.ts.)
 *
 *   refclock SHM 0 refid GPS poll 3 offset 0.5 delay 0.2 noselect
 *   refclock PPS /dev/pps0 lock GPS prefer trust
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

function driverOf(v: unknown, errors: string[]): RefclockDriver | null {
  const d = typeof v === 'string' ? DRIVERS[v.toUpperCase()] : undefined;
  if (d === undefined) errors.push(`unknown refclock driver ${JSON.stringify(v)} (SHM, PPS, NMEA)`);
  return d ?? null;
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
