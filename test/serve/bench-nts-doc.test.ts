import assert from 'node:assert/strict';
import { it } from 'node:test';
import { keptNtsPart, replaceSection } from '../../bench/server.js';
import { replaceNtsPart } from '../../bench/server-nts.js';

const NTS = '### NTS replies per second\n\nnts table\n';

it('bench:server --nts writes only the NTS part of the Server throughput section; the plain run keeps it', () => {
  const doc = '# B\n\n## Server throughput\n\nbasic table\n\n## Later\n\nkeep me\n';
  const once = replaceNtsPart(doc, NTS);
  assert.equal(
    once,
    '# B\n\n## Server throughput\n\nbasic table\n\n### NTS replies per second\n\nnts table\n\n## Later\n\nkeep me\n',
  );
  // Again: replaced, not added twice.
  const twice = replaceNtsPart(once, NTS.replace('nts table', 'newer nts'));
  assert.equal(twice, once.replace('nts table', 'newer nts'));
  // The plain run rewrites its table and keeps the NTS part.
  const plain = replaceSection(twice, `## Server throughput\n\nnew basic\n${keptNtsPart(twice)}`);
  assert.equal(plain, twice.replace('basic table', 'new basic'));
  assert.equal(keptNtsPart(doc), '');
  // No section yet: one is made for it.
  assert.equal(
    replaceNtsPart('# B\n', NTS),
    '# B\n\n## Server throughput\n\n### NTS replies per second\n\nnts table\n',
  );
});
