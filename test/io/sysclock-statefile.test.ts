import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import {
  parseDrift,
  readDriftFile,
  readJsonState,
  writeDriftFile,
  writeFileAtomic,
  writeJsonState,
} from '../../src/io/state-file.js';

test('drift file: write atomically, read back, feed the discipline (FSET)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-drift-'));
  try {
    const p = join(dir, 'ntpkit.drift');
    assert.equal(await readDriftFile(p), null, 'missing file → null');
    await writeDriftFile(p, { ppm: -12.3456789 });
    assert.equal(await readFile(p, 'utf8'), '-12.345679\n');
    const st = await readDriftFile(p);
    assert.deepEqual(st, { ppm: -12.345679 });
    const d = new Rfc5905Discipline({ initialFrequencyPpm: st?.ppm });
    assert.equal(d.currentState(), 'FSET');
    assert.equal(d.clock.frequencyPpm(), -12.345679);
    await writeDriftFile(p, { ppm: 3, skewPpm: 0.02 });
    assert.deepEqual(await readDriftFile(p), { ppm: 3, skewPpm: 0.02 });
    assert.deepEqual(await readdir(dir), ['ntpkit.drift'], 'no temporary file left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('drift file: formats of ntpd and chrony; errors name the file and line', () => {
  assert.deepEqual(parseDrift('-7.250\n'), { ppm: -7.25 });
  assert.deepEqual(parseDrift('  11.5 0.125\n'), { ppm: 11.5, skewPpm: 0.125 });
  assert.throws(() => parseDrift('garbage', '/var/lib/x.drift'), /\/var\/lib\/x\.drift: line 1/);
  assert.throws(() => parseDrift('900'), /beyond/);
  assert.throws(() => parseDrift(''), /expected a frequency/);
});

test('atomic write replaces content whole, concurrent writers never tear the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-atomic-'));
  try {
    const p = join(dir, 'state.json');
    await writeFile(p, 'old');
    const big = (c: string) => c.repeat(200_000);
    await Promise.all([
      writeFileAtomic(p, big('a')),
      writeFileAtomic(p, big('b')),
      writeFileAtomic(p, big('c')),
    ]);
    const got = await readFile(p, 'utf8');
    assert.equal(got.length, 200_000);
    assert.ok(got === big('a') || got === big('b') || got === big('c'));
    await writeJsonState(p, { freq: 1.5, source: 'x' });
    assert.deepEqual(await readJsonState(p), { freq: 1.5, source: 'x' });
    assert.equal(await readJsonState(join(dir, 'none.json')), null);
    assert.equal((await readdir(dir)).length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
