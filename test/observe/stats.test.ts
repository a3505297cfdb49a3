import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LOOPSTATS_HEADER, PEERSTATS_HEADER, StatsWriter } from '../../src/observe/stats.js';
import { fixture } from './fixture.js';

const base = mkdtempSync(join(tmpdir(), 'ntpkit-stats-'));
after(() => rmSync(base, { recursive: true, force: true }));

function step(i: number, t0 = 1_795_000_000): ReturnType<typeof fixture> {
  const f = fixture();
  f.system.time = t0 + i;
  // A clock update every 2 samples; source 1 receives a packet every sample, source 2 every 3.
  f.system.referenceTime = t0 + Math.floor(i / 2) * 2;
  f.system.offset = i * 1e-6;
  const [a, b] = f.system.sources;
  assert.ok(a !== undefined && b !== undefined);
  a.packetsReceived = 100 + i;
  b.packetsReceived = 100 + Math.floor(i / 3);
  return f;
}

describe('statistics files', () => {
  it('loopstats per clock update, peerstats per new packet', () => {
    const dir = join(base, 'a');
    const w = new StatsWriter(dir, 'none');
    for (let i = 0; i < 10; i++) w.sample(step(i));
    const loop = readFileSync(join(dir, 'loopstats.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(loop[0], LOOPSTATS_HEADER);
    assert.equal(loop.length - 1, 5); // reference times 0,2,4,6,8
    const cols = loop[2]?.split(',') ?? [];
    assert.equal(cols.length, LOOPSTATS_HEADER.split(',').length);
    assert.equal(Number(cols[0]), 1_795_000_002);
    assert.equal(Number(cols[1]), 2e-6);
    const peer = readFileSync(join(dir, 'peerstats.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(peer[0], PEERSTATS_HEADER);
    const bySource = (s: string): number => peer.filter((l) => l.split(',')[1] === s).length;
    assert.equal(bySource('127.0.0.1:11123'), 10);
    assert.equal(bySource('192.0.2.7:123'), 4); // first sample, then at i = 3, 6, 9
    assert.equal(bySource('198.51.100.9:123'), 0); // never answered
  });

  it('rotates by size keeping N generations', () => {
    const dir = join(base, 'b');
    const w = new StatsWriter(dir, { maxBytes: 600, keep: 2 });
    for (let i = 0; i < 60; i++) w.sample(step(i));
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, [
      'loopstats.csv',
      'loopstats.csv.1',
      'loopstats.csv.2',
      'peerstats.csv',
      'peerstats.csv.1',
      'peerstats.csv.2',
    ]);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(text.length <= 600, `${f} is ${text.length} bytes`);
      assert.ok(text.startsWith('time,'), `${f} starts with the header`);
    }
    // The newest line is in the live file, older ones in .1
    const last = readFileSync(join(dir, 'loopstats.csv'), 'utf8').trimEnd().split('\n').pop() ?? '';
    assert.equal(Number(last.split(',')[0]), 1_795_000_058);
  });

  it('rotates daily into NAME.YYYYMMDD', () => {
    const dir = join(base, 'c');
    const w = new StatsWriter(dir, 'daily');
    const midnight = Date.UTC(2026, 10, 22) / 1000;
    for (let i = -3; i < 3; i++) w.sample(step(i + 3, midnight - 3));
    assert.ok(existsSync(join(dir, 'loopstats.csv.20261121')));
    assert.ok(existsSync(join(dir, 'peerstats.csv.20261121')));
    const today = readFileSync(join(dir, 'peerstats.csv'), 'utf8').trimEnd().split('\n');
    for (const l of today.slice(1)) assert.ok(Number(l.split(',')[0]) >= midnight, l);
  });
});
