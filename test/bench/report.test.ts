/** The accuracy benchmark's report: table cells, the issue-11 target marks, and the doc section. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  docSection,
  fmtRange,
  type Report,
  type Row,
  type Sample,
  tableLines,
  targetLines,
  writeSection,
} from '../../bench/accuracy-report.js';

function samples(rms: number[], sync: (number | null)[], requests: number): Sample[] {
  return rms.map((r, i) => ({
    seed: i + 1,
    rms: r,
    max: 3 * r,
    mean: -r / 2,
    sync: sync[i] ?? null,
    requests,
    requestsInStats: requests,
    meanPoll: 64,
  }));
}

function row(impl: Row['impl'], budget: string, s: Sample[]): Row {
  return { scenario: 'lan-default', budget, duration: 20000, warmup: 2000, node: 'client', impl, samples: s };
}

const report: Report = {
  date: '2026-12-01 00:00 UTC',
  command: 'npm run bench:accuracy -- --long --write',
  node: 'v20',
  cpu: '2 × CPU',
  loadBefore: [0, 0, 0],
  loadAfter: [0, 0, 0],
  seeds: 3,
  wallSeconds: 60,
  chrony: { version: '4.8', clknetsim: 'abc' },
  missing: [],
  rows: [
    row('chrony', 'poll 6 (64 s)', samples([20e-6, 24e-6, 28e-6], [6, 6, 7], 313)),
    row('feedforward', 'poll 6 (64 s)', samples([10e-6, 11e-6, 12e-6], [5, 5, 5], 318)),
    row('rfc5905', 'poll 6 (64 s)', samples([60e-6, 61e-6, 62e-6], [300, 300, null], 318)),
    row('chrony', 'defaults', samples([100e-6, 110e-6, 120e-6], [6, 6, 6], 50)),
    row('feedforward', 'defaults', samples([10e-6, 11e-6, 12e-6], [5, 5, 5], 318)),
    {
      ...row('chrony', "scenario's (no polled source)", []),
      scenario: 'broadcast',
      skipped: 'node client: chrony has no broadcast client',
    },
  ],
  speeds: [],
  mappings: [
    { scenario: 'broadcast', budget: 'x', status: 'not mapped: node client: chrony has no broadcast client' },
  ],
};

test('table rows: ranges over the seeds, never-synchronised seeds, skipped chrony rows', () => {
  const t = tableLines(report);
  assert.equal(
    t[2],
    '| lan-default | poll 6 (64 s) | client | chrony 4.8 | 313 | 64 s | 20–28 µs | 60–84 µs | -14 to -10 µs | 6–7 s |',
  );
  assert.match(t[4]!, /\| 300 s; never in 1\/3 \|$/);
  assert.equal(
    t[7],
    "| broadcast | scenario's (no polled source) | client | chrony 4.8 | — | — | not run: node client: chrony has no broadcast client | | | |",
  );
  assert.equal(fmtRange([1.5e-3, 2e-3]), '1.5–2 ms');
  assert.equal(fmtRange([1e-6]), '1 µs');
});

test('target marks: ½ chrony’s RMS, 2× for rfc5905, sync time, requests at the defaults', () => {
  const t = targetLines(report);
  assert.equal(t.length, 4);
  // poll 6: feedforward 11 µs vs 24 µs = 0.46× ✓, synced earlier ✓; rfc5905 61 µs = 2.54× ✗ and a seed never synced.
  assert.equal(
    t[2],
    '| lan-default | poll 6 (64 s) | 24 µs | 6 s | 313 | 11 µs = 0.46× ✓ | 5 s ✓ | 318 | 61 µs = 2.54× ✗ | 300 s ✗ | 318 |',
  );
  // defaults: 318 requests against chrony's 50 fails the budget target.
  assert.equal(
    t[3],
    '| lan-default | defaults | 110 µs | 6 s | 50 | 11 µs = 0.10× ✓ | 5 s ✓ | 318 ✗ | – | – | – |',
  );
  assert.deepEqual(targetLines({ ...report, rows: report.rows.filter((r) => r.impl !== 'chrony') }), []);
});

test('extra seeds count in the targets table over all seeds only, and the doc section shows both tables', () => {
  // Seeds 4–6 of feedforward are bad: over seeds 1–3 it meets ½ chrony's, over 1–6 it does not.
  const extra = samples([40e-6, 40e-6, 40e-6], [5, 5, 5], 318).map((x, i) => ({ ...x, seed: i + 4 }));
  const r: Report = {
    ...report,
    targetSeeds: 6,
    rows: report.rows.map((x) =>
      x.impl === 'feedforward' && x.budget === 'poll 6 (64 s)'
        ? { ...x, extra }
        : x.impl === 'chrony' && x.budget === 'poll 6 (64 s)'
          ? { ...x, extra: samples([24e-6, 24e-6, 24e-6], [6, 6, 6], 313) }
          : x,
    ),
  };
  assert.match(targetLines(r)[2]!, /\| 11 µs = 0\.46× ✓ \|/);
  // Over seeds 1–6: feedforward median (12 + 40) / 2 = 26 µs against chrony's 24 µs.
  assert.match(targetLines(r, true)[2]!, /\| 26 µs = 1\.08× ✗ \|/);
  const doc = docSection(r);
  assert.match(doc, /\*\*The same over seeds 1–6\*\*/);
  assert.equal(doc.split('| lan-default | poll 6 (64 s) | 24 µs |').length - 1, 2);
});

test('the doc section replaces only ## Accuracy and names the command and chrony version', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ntpkit-report-'));
  const file = join(dir, 'BENCHMARKS.md');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    file,
    '# Benchmarks\n\n## Accuracy\n\nold table, chrony 4.3 (its simulator)\n\n## Server throughput\n\nkeep\n',
  );
  writeSection(file, docSection(report));
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes('chrony 4.3'));
  assert.ok(text.includes('by `npm run bench:accuracy -- --long --write`'));
  assert.ok(text.includes('chrony 4.8 ran under clknetsim abc'));
  assert.ok(text.includes('### What each side is given'));
  assert.ok(text.includes('- broadcast: not mapped: node client: chrony has no broadcast client'));
  assert.ok(text.endsWith('## Server throughput\n\nkeep\n'));
  assert.equal(text.match(/^## Accuracy$/gm)?.length, 1);
});
