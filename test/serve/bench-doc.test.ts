import assert from 'node:assert/strict';
import { it } from 'node:test';
import { replaceSection } from '../../bench/server.js';

const NEW = '## Server throughput\n\nnew table\n';

it('bench:server replaces only its own section of docs/BENCHMARKS.md', () => {
  const accuracyOnly = '# Benchmarks\n\n## Accuracy\n\nsim table\n';
  const once = replaceSection(accuracyOnly, NEW);
  assert.equal(once, '# Benchmarks\n\n## Accuracy\n\nsim table\n\n## Server throughput\n\nnew table\n');
  const twice = replaceSection(once, NEW.replace('new', 'newer'));
  assert.equal(twice, '# Benchmarks\n\n## Accuracy\n\nsim table\n\n## Server throughput\n\nnewer table\n');
  // A section in the middle keeps what follows.
  const middle = '# B\n\n## Server throughput\n\nold\n\n## Later\n\nkeep me\n';
  assert.equal(
    replaceSection(middle, NEW),
    '# B\n\n## Server throughput\n\nnew table\n\n## Later\n\nkeep me\n',
  );
  assert.equal(replaceSection('', NEW), '# Benchmarks\n\n## Server throughput\n\nnew table\n');
});
