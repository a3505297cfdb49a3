/**
 * Shared TOML validation: typed reads of a parsed table that collect issues (file, line, key, message)
 * instead of throwing, so one run reports every problem. Used by the daemon configuration and the
 * simulator's scenario files.
 */
import type { KeyLines } from './lines.js';

export type ConfigErrorCode = 'CONFIG_SYNTAX' | 'CONFIG_UNKNOWN_KEY' | 'CONFIG_BAD_VALUE' | 'CONFIG_IO';

export interface ConfigIssue {
  code: ConfigErrorCode;
  file: string;
  line: number | null;
  /** Dotted key path, e.g. `server[0].minpoll`; '' for the file as a whole. */
  key: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line === null ? i.file : `${i.file}:${i.line}`;
  return i.key === '' ? `${where}: ${i.message}` : `${where}: ${i.key}: ${i.message}`;
}

export type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  // biome-ignore lint/style/noRestrictedGlobals: smol-toml returns TOML date-times as Date objects; no clock is read
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Typed reads of a parsed TOML table that collect issues with line numbers instead of throwing. */
export class TomlReader {
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly file: string,
    private readonly lines: KeyLines,
  ) {}

  issue(code: ConfigErrorCode, key: string, message: string): void {
    this.issues.push({ code, file: this.file, line: this.lines.lineOf(key), key, message });
  }

  /** Checks that `t` has only `allowed` keys. */
  keys(t: Table, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(t)) {
      if (!allowed.includes(k)) {
        const full = path === '' ? k : `${path}.${k}`;
        const hint = suggest(k, allowed);
        this.issue(
          'CONFIG_UNKNOWN_KEY',
          full,
          `unknown key '${k}'${hint === null ? '' : ` (did you mean '${hint}'?)`}; allowed: ${allowed.join(', ')}`,
        );
      }
    }
  }

  table(t: Table, key: string, path: string): Table | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (!isTable(v)) {
      this.issue('CONFIG_BAD_VALUE', join(path, key), 'expected a table');
      return undefined;
    }
    return v;
  }

  tables(t: Table, key: string, path: string): Table[] {
    const v = t[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every(isTable)) {
      this.issue('CONFIG_BAD_VALUE', join(path, key), `expected an array of tables ([[${key}]])`);
      return [];
    }
    return v as Table[];
  }

  bool(t: Table, key: string, path: string, def: boolean): boolean {
    const v = t[key];
    if (v === undefined) return def;
    if (typeof v !== 'boolean') {
      this.issue('CONFIG_BAD_VALUE', join(path, key), `expected true or false, got ${show(v)}`);
      return def;
    }
    return v;
  }

  num(
    t: Table,
    key: string,
    path: string,
    def: number,
    o: { min?: number; max?: number; int?: boolean } = {},
  ): number {
    const v = t[key];
    if (v === undefined) return def;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.issue('CONFIG_BAD_VALUE', join(path, key), `expected a number, got ${show(v)}`);
      return def;
    }
    if (o.int === true && !Number.isInteger(n)) {
      this.issue('CONFIG_BAD_VALUE', join(path, key), `expected an integer, got ${n}`);
      return def;
    }
    if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
      this.issue(
        'CONFIG_BAD_VALUE',
        join(path, key),
        `${n} is out of range ${o.min ?? '-∞'}..${o.max ?? '∞'}`,
      );
      return def;
    }
    return n;
  }

  optNum(
    t: Table,
    key: string,
    path: string,
    o: { min?: number; max?: number; int?: boolean } = {},
  ): number | null {
    if (t[key] === undefined) return null;
    const n = this.num(t, key, path, Number.NaN, o);
    return Number.isNaN(n) ? null : n;
  }

  str(t: Table, key: string, path: string, def: string): string {
    const v = t[key];
    if (v === undefined) return def;
    if (typeof v !== 'string') {
      this.issue('CONFIG_BAD_VALUE', join(path, key), `expected a string, got ${show(v)}`);
      return def;
    }
    return v;
  }

  /** A string, or `false` / "off" / "" for null. */
  optStr(t: Table, key: string, path: string, def: string | null): string | null {
    const v = t[key];
    if (v === undefined) return def;
    if (v === false) return null;
    if (typeof v !== 'string') {
      this.issue('CONFIG_BAD_VALUE', join(path, key), `expected a string or false, got ${show(v)}`);
      return def;
    }
    return v === '' || v === 'off' ? null : v;
  }

  oneOf<T extends string>(t: Table, key: string, path: string, def: T, options: readonly T[]): T {
    const v = t[key];
    if (v === undefined) return def;
    if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
      this.issue(
        'CONFIG_BAD_VALUE',
        join(path, key),
        `expected one of ${options.join(', ')}, got ${show(v)}`,
      );
      return def;
    }
    return v as T;
  }

  strList(t: Table, key: string, path: string, def: string[]): string[] {
    const v = t[key];
    if (v === undefined) return def;
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      this.issue('CONFIG_BAD_VALUE', join(path, key), 'expected a string or an array of strings');
      return def;
    }
    return v as string[];
  }
}

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return 'an array';
  if (isTable(v)) return 'a table';
  return String(v);
}

function levenshtein(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] ?? 0;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] ?? 0;
      d[j] = Math.min((d[j] ?? 0) + 1, (d[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length] ?? 0;
}

export function suggest(k: string, allowed: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Math.min(3, Math.ceil(k.length / 3) + 1);
  const norm = k.replace(/_/g, '-').toLowerCase();
  for (const a of allowed) {
    const dist = levenshtein(norm, a);
    if (dist < bestD) {
      bestD = dist;
      best = a;
    }
  }
  return best;
}
