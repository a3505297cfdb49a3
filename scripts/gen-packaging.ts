/** Writes the generated man pages and shell completions (src/cli/manual.ts) into the repository. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packagingFiles } from '../src/cli/manual.js';

const root = join(import.meta.dirname, '..', '..');
const files = packagingFiles(readFileSync(join(root, 'docs', 'CONFIG.md'), 'utf8'));
for (const [path, text] of Object.entries(files)) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
