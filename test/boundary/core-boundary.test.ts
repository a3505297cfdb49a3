/**
 * The sans-IO core boundary, enforced by the build (docs/ARCHITECTURE.md): the core folders compile
 * under tsconfig.core.json without node's types, and biome's override for them (biome.json) forbids
 * node modules (`node:` or bare, static or dynamic), imports of the host (src/io, daemon, cli,
 * observe), `Date`, `performance`, `process`, `Buffer`, the timers, `Math.random` (also by key or
 * through `Reflect`), `Intl` (its formatters read the clock), web `crypto` and `fetch`. `npm test` runs both checks on the real tree;
 * this test proves they bite: in a copy of the tree, violations planted in every core folder make
 * both fail, naming each planted file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = new URL('../../../', import.meta.url).pathname;
/** The folders of src/ that are host code, allowed to use node. */
const HOST = ['cli', 'daemon', 'io', 'observe'];

/** tsconfig.core.json without its leading comment lines. */
function coreTsconfig(): { include: string[] } {
  const text = readFileSync(join(ROOT, 'tsconfig.core.json'), 'utf8');
  return JSON.parse(text.replace(/^\s*\/\/.*$/gm, '')) as { include: string[] };
}

function coreFolders(): string[] {
  return coreTsconfig()
    .include.map((p) => /^src\/([^/]+)\/\*\*\/\*\.ts$/.exec(p)?.[1])
    .filter((x): x is string => x !== undefined)
    .sort();
}

interface BiomeOverride {
  includes: string[];
  linter?: { rules?: Record<string, Record<string, unknown>> };
}

function biomeOverride(): BiomeOverride {
  const b = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as { overrides?: BiomeOverride[] };
  const o = b.overrides?.find((x) => x.linter?.rules?.style?.noRestrictedGlobals !== undefined);
  assert.ok(o !== undefined, 'biome.json has an override with noRestrictedGlobals');
  return o;
}

function run(cmd: string, args: string[], cwd: string): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const tsc = join(ROOT, 'node_modules/.bin/tsc');
const biome = join(ROOT, 'node_modules/.bin/biome');

it('every folder of src/ is either core (tsconfig.core.json and the biome override agree) or host', () => {
  const core = coreFolders();
  const lint = biomeOverride()
    .includes.map((g) => /^src\/([^/]+)\/\*\*$/.exec(g)?.[1])
    .filter((x): x is string => x !== undefined)
    .sort();
  assert.deepEqual(lint, core, 'the same core folders in biome.json and tsconfig.core.json');
  const dirs = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  assert.deepEqual(dirs, [...core, ...HOST].sort(), 'a new folder in src/ must be declared core or host');
  assert.ok(core.length >= 11, core.join(', '));
});

/** One planted violation: the code, and whether the type check (without node types) must reject it too. */
const PLANTS: Array<{ name: string; code: string; tsc: boolean }> = [
  {
    name: 'node-import',
    code: "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;",
    tsc: true,
  },
  { name: 'date', code: 'export const x = Date.now();', tsc: false },
  { name: 'new-date', code: 'export const x = new Date();', tsc: false },
  { name: 'performance', code: 'export const x = performance.now();', tsc: true },
  { name: 'process', code: 'export const x = process.hrtime.bigint();', tsc: true },
  { name: 'buffer', code: "export const x = Buffer.from('ab');", tsc: true },
  { name: 'set-timeout', code: 'export const x = setTimeout(() => undefined, 1);', tsc: true },
  { name: 'set-interval', code: 'export const x = setInterval(() => undefined, 1);', tsc: true },
  { name: 'set-immediate', code: 'export const x = setImmediate(() => undefined);', tsc: true },
  { name: 'microtask', code: 'queueMicrotask(() => undefined);\nexport const x = 1;', tsc: true },
  { name: 'math-random', code: 'export const x = Math.random();', tsc: false },
  { name: 'math-random-key', code: "export const x = Math['random']();", tsc: false },
  { name: 'global-date', code: 'export const x = globalThis.Date.now();', tsc: false },
  { name: 'reflect', code: "export const x = Reflect.get(Math, 'random') as () => number;", tsc: false },
  // Intl's formatters read the clock when given no date.
  { name: 'intl', code: 'export const x = new Intl.DateTimeFormat().format();', tsc: false },
  { name: 'web-crypto', code: 'export const x = crypto.getRandomValues(new Uint8Array(4));', tsc: true },
  { name: 'fetch', code: 'export const x = fetch;', tsc: true },
  {
    name: 'bare-node-import',
    code: "import { readFileSync } from 'fs';\nexport const x = readFileSync;",
    tsc: true,
  },
  {
    name: 'dynamic-node-import',
    code: "export async function x() {\n  return (await import('node:fs')).readFileSync;\n}",
    tsc: true,
  },
  {
    name: 'host-import',
    code: "import { nodeCrypto } from '../io/crypto.js';\nexport const x = nodeCrypto;",
    tsc: true,
  },
];

describe('planted violations in a copy of the tree fail both checks', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ntpkit-boundary-'));
    for (const f of ['tsconfig.json', 'tsconfig.core.json', 'biome.json', 'types', 'src'])
      cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('the copy passes both checks before anything is planted', () => {
    const t = run(tsc, ['-p', 'tsconfig.core.json'], dir);
    assert.equal(t.code, 0, t.out);
    const l = run(biome, ['lint', '--vcs-enabled=false', 'src'], dir);
    assert.equal(l.code, 0, l.out);
  });

  it('each violation, planted in each core folder in turn, fails the lint; those needing node fail tsc', () => {
    const folders = coreFolders();
    const planted: Array<{ file: string; tsc: boolean; name: string }> = [];
    // Every violation goes into a core folder, every core folder gets at least one violation.
    const n = Math.max(PLANTS.length, folders.length);
    for (let i = 0; i < n; i++) {
      const p = PLANTS[i % PLANTS.length];
      const folder = folders[i % folders.length];
      assert.ok(p !== undefined && folder !== undefined);
      const file = `src/${folder}/zz-planted-${p.name}.ts`;
      writeFileSync(join(dir, file), `${p.code}\n`);
      planted.push({ file, tsc: p.tsc, name: p.name });
    }
    const l = run(biome, ['lint', '--vcs-enabled=false', '--max-diagnostics=200', 'src'], dir);
    assert.notEqual(l.code, 0, 'biome lint must fail');
    for (const p of planted) assert.ok(l.out.includes(p.file), `biome does not flag ${p.file}:\n${l.out}`);
    const t = run(tsc, ['-p', 'tsconfig.core.json'], dir);
    assert.notEqual(t.code, 0, 'the core type check must fail');
    for (const p of planted)
      if (p.tsc && p.name !== 'host-import')
        assert.ok(t.out.includes(p.file), `tsc (no node types) accepts ${p.file}:\n${t.out}`);
    // Importing the host drags node into the core's compilation: its files fail for want of node types.
    assert.match(t.out, /src\/io\/crypto\.ts\(\d+,\d+\): error TS2307: Cannot find module 'node:crypto'/);
  });
});
