/**
 * Regenerates the key tables of docs/CONFIG.md from the configuration schema (src/config/reference.ts),
 * then writes the man pages and shell completions (src/cli/manual.ts) into the repository.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packagingFiles } from '../src/cli/manual.js';
import { renderConfigMd } from '../src/config/reference.js';

const root = join(import.meta.dirname, '..', '..');
const configMd = join(root, 'docs', 'CONFIG.md');
const before = readFileSync(configMd, 'utf8');
const md = renderConfigMd(before);
if (md !== before) {
  writeFileSync(configMd, md);
  process.stdout.write('wrote docs/CONFIG.md\n');
}
const files = packagingFiles(md);
for (const [path, text] of Object.entries(files)) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
