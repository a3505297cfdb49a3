/**
 * The building blocks of the declarative configuration schema (src/config/schema.ts): one `KeySpec`
 * per TOML key with its type, default, range or allowed values, unit and documentation, and the
 * generic reader that validates a table against a set of them. Parsing, `ntpkit config check`, the
 * key tables of docs/CONFIG.md, the man page and `ntpkit config keys|defaults` all come from these.
 * Pure.
 */
import { join, type Table, type TomlReader } from './reader.js';

/** One configuration key. `T` is what the parser produces for it. */
export interface KeySpec<T> {
  /** The TOML key (kebab-case). */
  readonly key: string;
  /** The type as the docs show it, e.g. `integer −7…24`, `seconds`, `bool`. */
  readonly type: string;
  /** The value when the key is absent. */
  readonly default: T;
  /** The default as the docs show it. */
  readonly defaultText: string;
  /** The TOML value of the default (`ntpkit config defaults`); null = no value to write (off, none). */
  readonly toml: string | null;
  /** What the key means: one line, markdown. */
  readonly doc: string;
  /** Reads and validates the key of table `t` at `path`, reporting issues to `r`. */
  read(r: TomlReader, t: Table, path: string): T;
}

export type Keys = Record<string, KeySpec<unknown>>;
/** The values a set of keys parses to, field by field. */
export type Values<K extends Keys> = { [F in keyof K]: K[F] extends KeySpec<infer T> ? T : never };

interface Doc {
  /** Docs default text, when the value does not say it. */
  defaultText?: string;
  /** Docs type text, when the kind does not say it. */
  type?: string;
  /** TOML of the default, when it differs from the value's. */
  toml?: string | null;
}

interface Range extends Doc {
  min?: number;
  max?: number;
  /** `s` (seconds), `log2 s`, `ppm`, … for the docs. */
  unit?: string;
}

function tomlOf(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlOf).join(', ')}]`;
  return String(v);
}

function shown(v: unknown): string {
  if (v === null) return 'none';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v).replace(/^-/, '−');
  return `\`${tomlOf(v)}\``;
}

function spec<T>(
  key: string,
  type: string,
  def: T,
  doc: string,
  o: Doc,
  read: (r: TomlReader, t: Table, path: string) => T,
): KeySpec<T> {
  return {
    key,
    type: o.type ?? type,
    default: def,
    defaultText: o.defaultText ?? shown(def),
    toml: o.toml === undefined ? tomlOf(def) : o.toml,
    doc,
    read,
  };
}

function rangeText(base: string, o: Range): string {
  const fmt = (n: number) => String(n).replace(/^-/, '−');
  const range =
    o.min === undefined && o.max === undefined
      ? ''
      : o.max === undefined
        ? ` ≥ ${fmt(o.min ?? 0)}`
        : o.min === undefined
          ? ` ≤ ${fmt(o.max)}`
          : ` ${fmt(o.min)}…${fmt(o.max)}`;
  if (o.unit === 's') return `seconds${range}`;
  return `${base}${range}${o.unit === undefined ? '' : ` (${o.unit})`}`;
}

export function bool(key: string, def: boolean, doc: string, o: Doc = {}): KeySpec<boolean> {
  return spec(key, 'bool', def, doc, o, (r, t, p) => r.bool(t, key, p, def));
}

/** A boolean whose default depends on other keys: null when absent. */
export function optBool(key: string, doc: string, o: Doc & { defaultText: string }): KeySpec<boolean | null> {
  return spec<boolean | null>(key, 'bool', null, doc, o, (r, t, p) =>
    t[key] === undefined ? null : r.bool(t, key, p, false),
  );
}

function numSpec(key: string, int: boolean, def: number, doc: string, o: Range): KeySpec<number> {
  const lim = { int, min: o.min, max: o.max };
  return spec(key, rangeText(int ? 'integer' : 'number', o), def, doc, o, (r, t, p) =>
    r.num(t, key, p, def, lim),
  );
}

export const int = (key: string, def: number, doc: string, o: Range = {}) => numSpec(key, true, def, doc, o);
export const num = (key: string, def: number, doc: string, o: Range = {}) => numSpec(key, false, def, doc, o);

/** A number that is absent (null) unless given; `defaultText` says what absent means. */
export function optNumber(
  key: string,
  doc: string,
  o: Range & { int?: boolean; defaultText: string },
): KeySpec<number | null> {
  const lim = { int: o.int === true, min: o.min, max: o.max };
  return spec<number | null>(
    key,
    rangeText(o.int === true ? 'integer' : 'number', o),
    null,
    doc,
    o,
    (r, t, p) => r.optNum(t, key, p, lim),
  );
}

/** A string key; `required` makes an absent or empty value an error (`KEY is required`). */
export function str(
  key: string,
  def: string,
  doc: string,
  o: Doc & { required?: boolean } = {},
): KeySpec<string> {
  const required = o.required === true;
  const d = required ? { defaultText: 'required', toml: null, ...o } : o;
  return spec(key, 'string', def, doc, d, (r, t, p) => {
    const v = r.str(t, key, p, def);
    if (required && v === '')
      r.issue('CONFIG_BAD_VALUE', t[key] === undefined ? p : join(p, key), `${key} is required`);
    return v;
  });
}

/**
 * A string that can be switched off: `false`, `""` or `"off"` give null. `check` validates a given
 * value (the message follows the quoted value).
 */
export function optStr(
  key: string,
  def: string | null,
  doc: string,
  o: Doc & { check?: (v: string) => boolean; problem?: string } = {},
): KeySpec<string | null> {
  return spec(key, o.type ?? 'string', def, doc, o, (r, t, p) => {
    const v = r.optStr(t, key, p, def);
    if (v !== null && t[key] !== undefined && o.check !== undefined && !o.check(v))
      r.issue('CONFIG_BAD_VALUE', join(p, key), `'${v}' ${o.problem ?? 'is not valid'}`);
    return v;
  });
}

export function oneOf<T extends string>(
  key: string,
  values: readonly T[],
  def: T,
  doc: string,
  o: Doc = {},
): KeySpec<T> {
  return spec(key, values.map((v) => `\`${v}\``).join(', '), def, doc, o, (r, t, p) =>
    r.oneOf(t, key, p, def, values),
  );
}

interface ListOpts extends Doc {
  /** Each element must pass; the message names the element: `KEY[i] 'v' PROBLEM`. */
  check?: (v: string) => boolean;
  problem?: string;
  /** Report a bad element at its own path `KEY[i]` (the message then starts with the value). */
  elementPath?: boolean;
}

function checkList(r: TomlReader, key: string, p: string, list: string[], o: ListOpts): void {
  if (o.check === undefined) return;
  list.forEach((v, i) => {
    if (o.check?.(v)) return;
    if (o.elementPath === true) r.issue('CONFIG_BAD_VALUE', join(p, `${key}[${i}]`), `'${v}' ${o.problem}`);
    else r.issue('CONFIG_BAD_VALUE', join(p, key), `${key}[${i}] '${v}' ${o.problem}`);
  });
}

/** A string or an array of strings. */
export function list(key: string, def: readonly string[], doc: string, o: ListOpts = {}): KeySpec<string[]> {
  return spec(key, o.type ?? 'strings', [...def], doc, o, (r, t, p) => {
    const v = r.strList(t, key, p, [...def]);
    if (t[key] !== undefined) checkList(r, key, p, v, o);
    return v;
  });
}

/** A list that is absent (null) unless given. */
export function optList(
  key: string,
  doc: string,
  o: ListOpts & { defaultText: string },
): KeySpec<string[] | null> {
  return spec<string[] | null>(key, o.type ?? 'strings', null, doc, o, (r, t, p) => {
    if (t[key] === undefined) return null;
    const v = r.strList(t, key, p, []);
    checkList(r, key, p, v, o);
    return v;
  });
}

/** A key with its own reader (the docs fields given explicitly). */
export function custom<T>(
  key: string,
  def: T,
  doc: string,
  o: Doc & { type: string; defaultText: string },
  read: (r: TomlReader, t: Table, path: string) => T,
): KeySpec<T> {
  return spec(key, o.type, def, doc, o, read);
}

/** The TOML keys of a set of specs, in order. */
export function keyNames(keys: Keys): string[] {
  return Object.values(keys).map((k) => k.key);
}

/** Reads table `t` at `path`: unknown keys are reported ("did you mean"), then every key is read. */
export function readKeys<K extends Keys>(r: TomlReader, t: Table, path: string, keys: K): Values<K> {
  r.keys(t, path, keyNames(keys));
  return readValues(r, t, path, keys);
}

/** Reads every key of `keys` from table `t` (the caller checks for unknown keys). */
export function readValues<K extends Keys>(r: TomlReader, t: Table, path: string, keys: K): Values<K> {
  const out: Record<string, unknown> = {};
  for (const [field, s] of Object.entries(keys)) out[field] = s.read(r, t, path);
  return out as Values<K>;
}

/** The values of a set of keys when a file leaves them all out. */
export function defaultsOf<K extends Keys>(keys: K): Values<K> {
  const out: Record<string, unknown> = {};
  for (const [field, s] of Object.entries(keys))
    out[field] = Array.isArray(s.default) ? [...s.default] : s.default;
  return out as Values<K>;
}
