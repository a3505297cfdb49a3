// The configuration parser's behaviour, pinned: every shipped configuration (examples/, packaging/,
// the TOML blocks of README.md and docs/, the scenarios' [ntp] tables) parses to the recorded
// result, and a generated corpus (every key of every table given a string, a boolean, numbers in and
// out of range, an array) gives the recorded issues or the recorded change from the table's base.
// Recorded in test/config/golden/parse.json; after a deliberate change, rerun with
// NTPKIT_UPDATE_GOLDEN=1 and review the diff of that file.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { checkConfig, formatIssue } from '../../src/config/parse.js';
import { parseScenario } from '../../src/sim/scenario.js';

// dist/test/config → repository root
const ROOT = join(import.meta.dirname, '..', '..', '..');
const GOLDEN = join(ROOT, 'test', 'config', 'golden', 'parse.json');

/** JSON-safe form of a parsed configuration (keys sorted, bigint as text, key bytes as hex). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, plain(x)]),
    );
  return v;
}

function result(text: string, file: string): unknown {
  const { config, issues } = checkConfig(text, file);
  return config === null ? { issues: issues.map(formatIssue).sort() } : { config: plain(config) };
}

/** Leaf paths where `b` differs from `a`. */
function diff(a: unknown, b: unknown, path = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys)
      diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, out);
  } else if (JSON.stringify(a) !== JSON.stringify(b)) out[path] = b === undefined ? '<absent>' : b;
  return out;
}

function shippedFiles(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const toml = (dir: string) =>
    readdirSync(join(ROOT, dir))
      .filter((f) => f.endsWith('.toml'))
      .sort()
      .map((f) => `${dir}/${f}`);
  for (const f of [...toml('examples'), 'packaging/ntpkit.toml'])
    out[f] = result(readFileSync(join(ROOT, f), 'utf8'), f);
  const docs = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  for (const f of docs) {
    const blocks = readFileSync(join(ROOT, f), 'utf8')
      .split(/^```toml\n/m)
      .slice(1);
    blocks.forEach((b, i) => {
      const text = b.split(/^```/m)[0] ?? '';
      if (f === 'docs/simulator.md') return; // a scenario, below
      out[`${f} block ${i}`] = result(text, `${f} block ${i}`);
    });
  }
  for (const f of toml('scenarios')) {
    const s = parseScenario(readFileSync(join(ROOT, f), 'utf8'), f);
    for (const n of s.nodes) out[`${f} node ${n.name}`] = { config: plain(n.ntp) };
  }
  return out;
}

const TABLES = [
  'system',
  'local',
  'keys',
  'clock',
  'serve',
  'access',
  'rate-limit',
  'legacy',
  'observe',
  'nts',
  'log',
  'daemon',
];
const ARRAYS: Record<string, Record<string, string>> = {
  server: { address: '"192.0.2.1"' },
  pool: { address: '"pool.example"' },
  peer: { address: '"192.0.2.2"' },
  'broadcast-client': { address: '"192.0.2.3"' },
  broadcast: { address: '"192.0.2.255"' },
  key: { id: '1', type: '"SHA1"', value: '"secret"' },
};
const REFCLOCKS: Record<string, Record<string, string>> = {
  SHM: { driver: '"SHM"' },
  PPS: { driver: '"PPS"', device: '"/dev/pps0"' },
  NMEA: { driver: '"NMEA"', device: '"/dev/ttyS0"' },
};
const VALUES = [
  '"x"',
  '"off"',
  '"10.0.0.1"',
  '"127.0.0.1:1"',
  'true',
  'false',
  '0',
  '1',
  '-3',
  '7',
  '0.5',
  '100000',
  '-1000000000',
  '1000000000',
  '["x"]',
  '["::1", "10.0.0.0/8"]',
  '{ a = 1 }',
];

/** The keys a table allows, as the parser's unknown-key message lists them. */
function allowed(header: string, base: string): string[] {
  const { issues } = checkConfig(`${header}\n${base}zzzz-unknown = 1\n`, 'f');
  const m = /allowed: (.*)$/.exec(issues.find((i) => i.key.endsWith('zzzz-unknown'))?.message ?? '');
  assert.ok(m?.[1] !== undefined, `no allowed list for ${header}`);
  return m[1].split(', ');
}

function corpus(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const cases: { label: string; header: string; base: Record<string, string> }[] = [
    ...TABLES.map((t) => ({ label: `[${t}]`, header: `[${t}]`, base: {} })),
    ...Object.entries(ARRAYS).map(([t, base]) => ({ label: `[[${t}]]`, header: `[[${t}]]`, base })),
    // [[refclock]]: the keys depend on the driver.
    ...Object.entries(REFCLOCKS).map(([d, base]) => ({
      label: `[[refclock]] driver=${d}`,
      header: '[[refclock]]',
      base,
    })),
  ];
  for (const { label, header, base } of cases) {
    const lines = (b: Record<string, string>) =>
      Object.entries(b)
        .map(([k, v]) => `${k} = ${v}\n`)
        .join('');
    const baseText = `${header}\n${lines(base)}`;
    const baseResult = result(baseText, 'f') as { config?: unknown };
    out[`${label} base`] = baseResult;
    out[`${label} unknown`] = result(`${baseText}bogus-key = 1\n`, 'f');
    for (const key of allowed(header, lines(base)))
      for (const v of VALUES) {
        const r = result(`${header}\n${lines({ ...base, [key]: v })}`, 'f') as { config?: unknown };
        out[`${label} ${key} = ${v}`] =
          r.config === undefined ? r : { changed: diff(baseResult.config, r.config) };
      }
  }
  return out;
}

test('every shipped configuration and the generated corpus parse as recorded', () => {
  const now = { files: shippedFiles(), corpus: corpus() };
  if (process.env.NTPKIT_UPDATE_GOLDEN === '1') {
    // One entry per line: small, and a diff shows which cases changed.
    const part = (o: Record<string, unknown>) =>
      Object.entries(o)
        .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
        .join(',\n');
    writeFileSync(
      GOLDEN,
      `{\n "files": {\n${part(now.files)}\n },\n "corpus": {\n${part(now.corpus)}\n }\n}\n`,
    );
    return;
  }
  const rec = JSON.parse(readFileSync(GOLDEN, 'utf8')) as typeof now;
  assert.ok(Object.keys(now.files).length >= 30, Object.keys(now.files).join(', '));
  const changed: string[] = [];
  for (const part of ['files', 'corpus'] as const) {
    const names = new Set([...Object.keys(rec[part]), ...Object.keys(now[part])]);
    for (const n of names)
      if (!isDeepStrictEqual(now[part][n], rec[part][n]))
        changed.push(`${n}\n  was ${JSON.stringify(rec[part][n])}\n  now ${JSON.stringify(now[part][n])}`);
  }
  assert.equal(changed.length, 0, `(NTPKIT_UPDATE_GOLDEN=1 after review)\n${changed.join('\n')}`);
});
