import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

test('ntpkit sim: JSON output, CSV and SVG files, standard scenario by name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-sim-'));
  try {
    const csv = join(dir, 'e.csv');
    const svg = join(dir, 'e.svg');
    const { stdout } = await run(process.execPath, [
      MAIN,
      'sim',
      'lan-default',
      '--clock',
      'feedforward',
      '--duration',
      '3000',
      '--warmup',
      '1000',
      '--seed',
      '3',
      '--json',
      '--csv',
      csv,
      '--svg',
      svg,
    ]);
    const r = JSON.parse(stdout) as {
      seed: number;
      clients: { node: string; clock: string; rmsError: number }[];
    };
    assert.equal(r.seed, 3);
    assert.equal(r.clients[0]?.node, 'client');
    assert.equal(r.clients[0]?.clock, 'feedforward');
    assert.ok(Number.isFinite(r.clients[0]?.rmsError));
    assert.match(await readFile(csv, 'utf8'), /^time_s,node,error_s,freq_error_ppm\n0,client,1\.0+e-1,/);
    assert.match(await readFile(svg, 'utf8'), /<polyline/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ntpkit sim: text table, --list, and exit code 2 on a bad scenario', async () => {
  const { stdout } = await run(process.execPath, [
    MAIN,
    'sim',
    'lan-poll16',
    '--fake',
    '--duration',
    '500',
    '--warmup',
    '100',
  ]);
  assert.match(stdout, /rms err/);
  assert.match(stdout, /client\s+fake/);
  const list = await run(process.execPath, [MAIN, 'sim', '--list']);
  assert.match(list.stdout, /^lan-default\s+LAN/m);
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-sim-'));
  try {
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, '[[node]]\nname = "a"\nfrequency = 3\n');
    await assert.rejects(
      run(process.execPath, [MAIN, 'sim', bad]),
      (e: { code?: number; stderr?: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr ?? '', /bad\.toml:3: node\[0\]\.frequency: unknown key/);
        return true;
      },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
