/**
 * Every source file says what it is for, and docs/ARCHITECTURE.md names only what exists: each file
 * in src/ opens (after a shebang) with a comment whose first sentence states its purpose, each
 * folder of src/ has its row in the architecture table, and every `src/…` path or file name the
 * document gives is in the tree.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../../', import.meta.url).pathname;
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

/** The first paragraph of the file's opening comment (block or line comments), or null. */
export function openingSentence(text: string): string | null {
  const body = text.replace(/^#!.*\n/, '');
  const block = /^\s*\/\*\*?([\s\S]*?)\*\//.exec(body);
  const lines = /^\s*((?:\/\/.*\n)+)/.exec(body);
  const raw =
    block !== null
      ? block[1]!.replace(/^\s*\* ?/gm, '')
      : lines !== null
        ? lines[1]!.replace(/^\s*\/\/ ?/gm, '')
        : null;
  if (raw === null) return null;
  const para = raw.trim().split(/\n\s*\n/)[0] ?? '';
  return para.replace(/\s+/g, ' ').trim();
}

test('the purpose check can fail: files without an opening sentence are caught', () => {
  assert.equal(openingSentence("import x from './x.js';\n/** Late. */\n"), null);
  assert.equal(openingSentence('export const x = 1;\n'), null);
  assert.equal(openingSentence('/** */\nexport const x = 1;\n'), '');
  assert.equal(openingSentence('#!/usr/bin/env node\n// The command line.\n'), 'The command line.');
});

test('every file in src/ opens with one sentence of purpose', () => {
  const bad: string[] = [];
  for (const f of sources(SRC)) {
    const s = openingSentence(readFileSync(f, 'utf8'));
    if (s === null || s.split(' ').length < 4 || !/[.:;)]$|[.:;] /.test(s))
      bad.push(`${relative(ROOT, f)}: ${JSON.stringify(s)}`);
  }
  assert.deepEqual(bad, [], 'files without a purpose sentence at the top');
});

test('docs/ARCHITECTURE.md has a row for every folder of src/ and names only files that exist', () => {
  const doc = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
  const rows = doc.split('\n').filter((l) => /^\| `src\/[a-z]+\/`/.test(l));
  const folders = readdirSync(SRC, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const inTable = rows.map((r) => /^\| `src\/([a-z]+)\/`/.exec(r)?.[1] ?? '').sort();
  assert.deepEqual(inTable, folders, 'one table row per folder of src/');
  const missing: string[] = [];
  for (const m of doc.matchAll(/src\/[A-Za-z0-9_./-]*[A-Za-z0-9_]/g)) {
    const p = m[0];
    if (!existsSync(join(ROOT, p)) && !existsSync(join(ROOT, `${p}.ts`))) missing.push(p);
  }
  // A bare file name in a folder's row is in that folder, or in another folder the document names.
  const all = sources(SRC).map((f) => relative(SRC, f));
  for (const r of rows) {
    const folder = /^\| `src\/([a-z]+)\/`/.exec(r)?.[1] ?? '';
    for (const m of r.matchAll(/(?<![/\w-])([a-z0-9-]+\.ts)\b/g)) {
      const name = m[1]!;
      if (!all.includes(`${folder}/${name}`) && !all.some((f) => f.endsWith(`/${name}`)))
        missing.push(`${folder}/${name}`);
    }
  }
  assert.deepEqual(missing, [], 'paths in docs/ARCHITECTURE.md that are not in the tree');
});

test('no file in src/ is longer than 600 lines', () => {
  const long = sources(SRC)
    .map((f) => ({ f: relative(ROOT, f), n: readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((x) => x.n > 600)
    .map((x) => `${x.f}: ${x.n} lines`);
  assert.deepEqual(long, []);
});
