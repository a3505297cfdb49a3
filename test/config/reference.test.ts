// The configuration schema is the one source of the key reference: docs/CONFIG.md's key tables are
// generated from it (and the man page from those, test/packaging), every key of every table is
// documented there, and `ntpkit config defaults` is a file that parses to the same configuration as
// an empty one, so every default the schema shows is the default the parser applies.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkConfig, parseConfig } from '../../src/config/parse.js';
import {
  defaultsToml,
  docTable,
  keysText,
  markdownTable,
  renderConfigMd,
} from '../../src/config/reference.js';
import { SECTIONS } from '../../src/config/schema.js';
import { int, keyNames } from '../../src/config/schema-kit.js';
import { REFCLOCK, REFCLOCK_DRIVER_KEYS, REFCLOCK_DRIVERS } from '../../src/config/schema-refclock.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

test('the key tables of docs/CONFIG.md are the ones the schema generates (npm run gen:packaging)', () => {
  const md = readFileSync(join(ROOT, 'docs', 'CONFIG.md'), 'utf8');
  assert.equal(renderConfigMd(md), md, 'docs/CONFIG.md is stale: run npm run gen:packaging');
  // A change in the schema shows: the same file with one default changed is stale.
  const changed = md.replace(/^\| `workers` (.*)$/m, '| `workers` | integer | 7 | x |');
  assert.notEqual(changed, md);
  assert.equal(renderConfigMd(changed), md);
});

test('every key of every table is in a table of docs/CONFIG.md', () => {
  const md = readFileSync(join(ROOT, 'docs', 'CONFIG.md'), 'utf8');
  const shown = new Set<unknown>();
  for (const m of md.matchAll(/^<!-- keys ([a-z-]+) -->$/gm))
    for (const r of docTable(m[1] ?? '')) shown.add(r.spec);
  const missing: string[] = [];
  for (const s of SECTIONS)
    for (const keys of [s.keys, ...Object.values(s.variants?.keys ?? {})])
      for (const spec of Object.values(keys)) if (!shown.has(spec)) missing.push(`[${s.name}] ${spec.key}`);
  assert.deepEqual(missing, []);
  assert.ok(shown.size >= 90, `${shown.size} keys`);
});

test('[[refclock]]: each driver takes the common keys and its own, as `config keys` and the docs list them', () => {
  for (const d of REFCLOCK_DRIVERS) {
    const own = keyNames(REFCLOCK_DRIVER_KEYS[d]);
    const base = d === 'SHM' ? '' : 'device = "/dev/x"\n';
    // Every key the schema lists for this driver is accepted (no unknown-key issue) ...
    for (const k of [...keyNames(REFCLOCK), ...own]) {
      const { issues } = checkConfig(
        `[[refclock]]\ndriver = "${d}"\n${k === 'device' ? '' : base}${k === 'driver' ? '' : `${k} = 7\n`}`,
      );
      assert.ok(!issues.some((i) => i.code === 'CONFIG_UNKNOWN_KEY'), `${d} ${k}: ${JSON.stringify(issues)}`);
    }
    // ... and nothing else.
    const { issues } = checkConfig(`[[refclock]]\ndriver = "${d}"\n${base}colour = 1\n`);
    assert.match(
      issues[0]?.message ?? '',
      new RegExp(`allowed: ${[...keyNames(REFCLOCK), ...own].join(', ')}$`),
    );
    assert.ok(docTable(`refclock-${d.toLowerCase()}`).length === own.length);
  }
  const text = keysText('refclock') ?? '';
  assert.match(text, /^ {2}driver +SHM, PPS, NMEA; default required$/m);
  assert.match(text, /^ {2}with driver = "SHM":\n {4}unit +integer 0…255; default 0$/m);
  assert.match(text, /^ {2}with driver = "PPS":\n {4}device +path; default required, e\.g\. "\/dev\/pps0"$/m);
  assert.match(text, /^ {4}pulse +bool; default true$/m);
  assert.match(text, /^ {2}with driver = "NMEA":$/m);
});

test('markdown tables: pipes escaped, the default and range from the spec', () => {
  const t = markdownTable([{ key: 'k', spec: int('k', -3, 'a | b', { min: -7, max: 24, unit: 'log2 s' }) }]);
  assert.match(t, /^\| `k` +\| integer −7…24 \(log2 s\) \| −3 +\| a \\\| b \|$/m);
});

test('config defaults: every default written out parses to the configuration of an empty file', () => {
  const toml = defaultsToml();
  const { config, issues } = checkConfig(toml, 'defaults.toml');
  assert.deepEqual(issues, []);
  assert.deepEqual({ ...config, file: null }, parseConfig(''));
  // Uncommenting the source lists' defaults gives sources with exactly those defaults.
  const server = toml
    .split('\n# [[server]]')[1]
    ?.split('\n\n')[0]
    ?.split('\n')
    .filter((l) => /^# [a-z-]+ = [^…]+$/.test(l))
    .map((l) => l.slice(2))
    .join('\n');
  const c = parseConfig(`[[server]]\naddress = "192.0.2.1"\n${server}\n`);
  assert.deepEqual(c.servers, parseConfig('[[server]]\naddress = "192.0.2.1"\n').servers);
  assert.match(server ?? '', /^maxpoll = 10$/m);
});

test('ntpkit config keys / defaults print the schema', async () => {
  assert.match(keysText('serve') ?? '', /^ {2}workers +integer 0…256; default the number of cores$/m);
  assert.equal(keysText('nope'), null);
  const k = await run(['config', 'keys', '[clock]']);
  assert.equal(k.code, 0, k.stderr);
  assert.match(k.stdout, /^ {2}step-threshold +seconds 0…86400; default 0\.128$/m);
  assert.doesNotMatch(k.stdout, /\[serve\]/);
  const bad = await run(['config', 'keys', 'nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no table 'nope'/);
  const d = await run(['config', 'defaults']);
  assert.equal(d.code, 0);
  assert.equal(d.stdout, defaultsToml());
});
