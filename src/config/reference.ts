/**
 * The configuration reference generated from the schema: the key tables of docs/CONFIG.md (between
 * `<!-- keys NAME -->` and `<!-- /keys -->`), `ntpkit config keys` and the annotated
 * `ntpkit config defaults` file. Pure.
 */
import { SECTIONS, type Section } from './schema.js';
import type { KeySpec, Keys } from './schema-kit.js';
import { KEY, KEYS, POOL } from './schema-sources.js';

interface Row {
  key: string;
  spec: KeySpec<unknown>;
}

const rows = (keys: Keys, prefix = ''): Row[] =>
  Object.values(keys).map((spec) => ({ key: `${prefix}${spec.key}`, spec }));

function sectionKeys(name: string): Keys {
  const s = SECTIONS.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no schema for [${name}]`);
  return s.keys;
}

/** The variants of a table (`[[refclock]]` by driver): marker name, heading, keys. */
function variants(s: Section): { name: string; head: string; keys: Keys }[] {
  const v = s.variants;
  if (v === undefined) return [];
  return Object.entries(v.keys).map(([value, keys]) => ({
    name: `${s.name}-${value.toLowerCase()}`,
    head: `${v.key} = "${value}"`,
    keys,
  }));
}

/**
 * The key tables docs/CONFIG.md shows, by marker name: a table's own keys, `pool` only what it adds
 * to `[[server]]`, `key` the inline keys and the key file together, `refclock-shm` (TABLE-VALUE)
 * the keys of one variant of a table.
 */
export function docTable(name: string): Row[] {
  if (name === 'pool') return rows(POOL);
  if (name === 'key') return [...rows(KEY, '[[key]] '), ...rows(KEYS, '[keys] ')];
  for (const s of SECTIONS) for (const v of variants(s)) if (v.name === name) return rows(v.keys);
  return rows(sectionKeys(name));
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** A markdown table: key, type, default, meaning (the first three columns padded). */
export function markdownTable(list: Row[]): string {
  const cols = list.map((r) => [`\`${r.key}\``, r.spec.type, r.spec.defaultText, r.spec.doc].map(cell));
  const head = ['key', 'type', 'default', 'meaning'];
  const width = [0, 1, 2].map((i) => Math.max(head[i]?.length ?? 0, ...cols.map((c) => c[i]?.length ?? 0)));
  const line = (c: string[]) =>
    `| ${c.map((x, i) => (i < 3 ? x.padEnd(width[i] ?? 0) : x)).join(' | ')} |`.replace(/ +\|$/, ' |');
  const sep = `| ${width.map((w) => '-'.repeat(w)).join(' | ')} | ------- |`;
  return [line(head), sep, ...cols.map(line)].join('\n');
}

const MARKER = /^<!-- keys ([a-z-]+) -->\n[\s\S]*?^<!-- \/keys -->$/gm;

/** docs/CONFIG.md with every marked key table regenerated from the schema. */
export function renderConfigMd(md: string): string {
  return md.replace(
    MARKER,
    (_, name: string) => `<!-- keys ${name} -->\n${markdownTable(docTable(name))}\n<!-- /keys -->`,
  );
}

const plain = (s: string) => s.replace(/`([^`]*)`/g, '$1');

/** `ntpkit config keys [TABLE]`: every key of every table (or of one), as text. */
export function keysText(only?: string): string | null {
  const out: string[] = [];
  const list = SECTIONS.filter((s) => only === undefined || s.name === only);
  if (list.length === 0) return null;
  for (const s of list) {
    out.push(`${s.array ? `[[${s.name}]]` : `[${s.name}]`}  ${s.title}`);
    const show = (keys: Keys, indent: string) => {
      for (const { key, spec } of rows(keys)) {
        out.push(`${indent}${key.padEnd(27)} ${plain(spec.type)}; default ${plain(spec.defaultText)}`);
        if (spec.doc !== '') out.push(`${indent}${''.padEnd(27)} ${plain(spec.doc)}`);
      }
    };
    show(s.keys, '  ');
    for (const v of variants(s)) {
      out.push(`  with ${v.head}:`);
      show(v.keys, '    ');
    }
    out.push('');
  }
  return out.join('\n');
}

/** Source lists shown by what they add to `[[server]]`. */
const OWN_KEYS: Record<string, { note: string; keys: Keys }> = {
  pool: { note: 'the keys of [[server]] except nts and nts-port, and:', keys: POOL },
  peer: { note: 'the keys of [[server]] except nts and nts-port', keys: {} },
  'broadcast-client': { note: 'the keys of [[server]] except nts and nts-port', keys: {} },
};

/** Tables whose presence alone changes the configuration, or that need a value: written commented. */
function commented(s: Section): boolean {
  return s.array || s.name === 'rate-limit' || s.name === 'local';
}

/** Comment lines of at most ~100 characters. */
function wrap(text: string, prefix: string): string[] {
  const out: string[] = [];
  let line = prefix;
  for (const w of plain(text).split(/\s+/)) {
    if (line.length + w.length > 100 && line !== prefix) {
      out.push(line.trimEnd());
      line = prefix;
    }
    line += `${w} `;
  }
  if (line !== prefix) out.push(line.trimEnd());
  return out;
}

/**
 * `ntpkit config defaults`: a TOML file naming every key with its default and meaning. Keys with a
 * value are set to it (the file parses to the same configuration as an empty one); keys that are
 * off, tables whose presence means something and the source lists are commented out.
 */
export function defaultsToml(): string {
  const out = [
    '# ntpkit: every configuration key with its default (`ntpkit config defaults`, generated from the',
    '# schema in src/config/schema.ts). A key left out of a file has the value shown; `#` lines are',
    '# keys that are off by default, or tables whose presence alone changes the configuration.',
  ];
  for (const s of SECTIONS) {
    const c = commented(s) ? '# ' : '';
    out.push('', `${c}${s.array ? `[[${s.name}]]` : `[${s.name}]`}  # ${s.title}`);
    const own = OWN_KEYS[s.name];
    if (own !== undefined) out.push(`${c}## ${own.note}`);
    const write = (keys: Keys) => {
      for (const { key, spec } of rows(keys)) {
        out.push(
          ...wrap(
            `${spec.doc}${spec.doc === '' ? '' : ' '}(${spec.type}; default ${spec.defaultText})`,
            `${c}## `,
          ),
        );
        out.push(spec.toml === null ? `# ${key} = …` : `${c}${key} = ${spec.toml}`);
      }
    };
    write(own?.keys ?? s.keys);
    for (const v of variants(s)) {
      out.push(`${c}## with ${v.head}:`);
      write(v.keys);
    }
  }
  return `${out.join('\n')}\n`;
}
