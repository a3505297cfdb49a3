import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  findSource,
  fmtAge,
  fmtSigned,
  formatClients,
  formatSource,
  formatSources,
  formatStatus,
  reachOctal,
} from '../../src/observe/format.js';
import { fixture } from './fixture.js';

// dist/test/observe -> test/observe/golden (golden files are not compiled, read them from the source tree)
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'observe', 'golden');

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    writeFileSync(file, actual);
    if (process.env.UPDATE_GOLDEN !== '1')
      assert.fail(`golden file ${name} was missing; written, check it in`);
  }
  assert.equal(actual, readFileSync(file, 'utf8'));
}

describe('CLI tables (golden output)', () => {
  it('status', () => golden('status.txt', formatStatus(fixture())));
  it('sources', () => golden('sources.txt', formatSources(fixture(), false)));
  it('sources -v', () => golden('sources-v.txt', formatSources(fixture(), true)));
  it('source detail', () => {
    const f = fixture();
    const s = findSource(f, '127.0.0.1:11123');
    assert.ok(s !== null);
    golden('source.txt', formatSource(s));
  });
  it('clients', () => golden('clients.txt', formatClients(fixture())));
});

describe('table details', () => {
  it('reach is octal, ages like ntpq', () => {
    assert.equal(reachOctal(0xff), '377');
    assert.equal(reachOctal(1), '001');
    assert.equal(reachOctal(0o176), '176');
    assert.equal(fmtAge(5.4), '5');
    assert.equal(fmtAge(3600), '60m');
    assert.equal(fmtAge(null), '-');
    assert.equal(fmtSigned(-0.0021), '-2.100ms');
    assert.equal(fmtSigned(0.0000123), '+12.3us');
  });

  it('sources table has one row per source with verdict symbol, reach and verdict', () => {
    const f = fixture();
    const lines = formatSources(f, false).trimEnd().split('\n');
    assert.equal(lines.length, 2 + f.system.sources.length);
    for (const [i, s] of f.system.sources.entries()) {
      const row = lines[2 + i] ?? '';
      assert.ok(row.includes(s.address), row);
      assert.ok(row.includes(reachOctal(s.reach)), row);
      assert.ok(row.includes(s.verdict), row);
    }
    assert.ok(lines[2]?.startsWith('*^'));
    assert.ok(lines[4]?.startsWith('x='));
  });

  it('finds sources by address, address:port, name and id', () => {
    const f = fixture();
    assert.equal(findSource(f, '192.0.2.7')?.id, '2');
    assert.equal(findSource(f, '127.0.0.1:11123')?.id, '1');
    assert.equal(findSource(f, 'pool.example.org')?.id, 'pool-4');
    assert.equal(findSource(f, '[2001:db8::5]:123')?.id, '3');
    assert.equal(findSource(f, 'pool-4')?.address, '198.51.100.9');
    assert.equal(findSource(f, '203.0.113.1'), null);
  });

  it('source detail lists every filter register', () => {
    const f = fixture();
    const s = f.system.sources[0];
    assert.ok(s !== undefined);
    const text = formatSource(s);
    const rows = text.split('Clock filter')[1]?.trim().split('\n').slice(3) ?? [];
    assert.equal(rows.length, s.filter.length);
  });
});

describe('status: timestamping and send latency', () => {
  const base = { mode: 'kernel' as const, rxKernel: 5, rxUser: 0, txKernel: 3, txUser: 0 };
  const line = (text: string, key: string) => text.split('\n').find((l) => l.startsWith(key)) ?? '';
  it('shows the measured latency and the compensation once replies were measured', () => {
    const f = fixture();
    f.timestamping = { ...base, sendLatency: { samples: 12, compensation: 29.4e-6, median: 47.6e-6 } };
    const text = formatStatus(f);
    assert.match(
      line(text, 'Timestamping'),
      /kernel \(receive: 5 kernel, 0 user; transmit: 3 kernel, 0 user\)/,
    );
    assert.match(
      line(text, 'Send latency'),
      /: 47\.6us median of recent sends; basic replies' transmit time \+29\.4us$/,
    );
  });
  it('says when nothing was measured, and leaves the line out without kernel transmit stamps', () => {
    const f = fixture();
    f.timestamping = { ...base, sendLatency: { samples: 0, compensation: 0, median: null } };
    assert.match(line(formatStatus(f), 'Send latency'), /not measured yet/);
    f.timestamping = { ...base, mode: 'user' };
    assert.equal(line(formatStatus(f), 'Send latency'), '');
  });
});
