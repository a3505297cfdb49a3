// Packaging: the generated man pages and completions are the committed ones; the systemd unit is
// hardened and verifies; `npm pack` and a global install into a temporary prefix give a working
// `ntpkit --help` and man pages that `man -l` renders.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packagingFiles } from '../../src/cli/manual.js';
import { skipReason } from '../support/peers.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function sh(
  cmd: string,
  args: string[],
  cwd = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
    );
  });
}

test('the committed man pages and completions are the generated ones (npm run gen:packaging)', () => {
  const files = packagingFiles(readFileSync(join(ROOT, 'docs', 'CONFIG.md'), 'utf8'));
  for (const [path, text] of Object.entries(files))
    assert.equal(readFileSync(join(ROOT, path), 'utf8'), text, `${path} is stale: run npm run gen:packaging`);
  // Every command and every [observe] key reaches the manuals.
  assert.match(files['man/ntpkit.8'] ?? '', /^\.B reset\\-clients$/m);
  assert.match(files['man/ntpkit.toml.5'] ?? '', /^\.B control\\-group$/m);
  assert.match(files['packaging/completion/ntpkit.bash'] ?? '', /makestep/);
});

test('the systemd unit is hardened; CAP_SYS_TIME only in the system-clock drop-in', async (t) => {
  const unit = readFileSync(join(ROOT, 'packaging', 'systemd', 'ntpkit.service'), 'utf8');
  for (const line of [
    'ProtectSystem=strict',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
    'StateDirectory=ntpkit',
    'ProtectClock=yes',
  ])
    assert.match(unit, new RegExp(`^${line}$`, 'm'), line);
  assert.doesNotMatch(unit, /CAP_SYS_TIME\s*$/m);
  const dropIn = readFileSync(join(ROOT, 'packaging', 'systemd', 'system-clock.conf'), 'utf8');
  assert.match(dropIn, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_TIME$/m);
  const r0 = await sh('node', [
    join(ROOT, 'dist', 'src', 'cli', 'main.js'),
    'config',
    'check',
    'packaging/ntpkit.toml',
  ]);
  assert.equal(r0.code, 0, r0.stderr);
  const why = skipReason('systemd-analyze');
  if (why !== null) return t.skip(why);
  const dir = await mkdtemp(join(tmpdir(), 'nko-unit-'));
  try {
    const copy = join(dir, 'ntpkit.service');
    await writeFile(copy, unit.replace('/usr/local/bin/ntpkit', '/usr/bin/true'));
    const r = await sh('systemd-analyze', ['verify', '--man=no', copy]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim(), '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('npm pack, global install into a prefix: ntpkit --help and man -l work', {
  timeout: 300_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nko-pack-'));
  try {
    const pack = await sh('npm', ['pack', '--pack-destination', dir, '--json']);
    assert.equal(pack.code, 0, pack.stderr);
    const info = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = new Set(info[0]?.files.map((f) => f.path));
    for (const p of [
      'dist/src/cli/main.js',
      'docs/CONFIG.md',
      'docs/OPERATIONS.md',
      'man/ntpkit.8',
      'man/ntpkit.toml.5',
      'packaging/systemd/ntpkit.service',
      'packaging/completion/_ntpkit',
      'examples/client.toml',
    ])
      assert.ok(paths.has(p), `${p} missing from the package`);
    assert.ok(![...paths].some((p) => p.startsWith('dist/test/')), 'tests in the package');
    const prefix = join(dir, 'prefix');
    const inst = await sh('npm', [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      join(dir, info[0]?.filename ?? ''),
    ]);
    assert.equal(inst.code, 0, inst.stderr);
    const help = await sh(join(prefix, 'bin', 'ntpkit'), ['--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^ {2}makestep {6}/m);
    for (const page of ['share/man/man8/ntpkit.8', 'share/man/man5/ntpkit.toml.5']) {
      const m = await sh('man', ['-l', join(prefix, page)]);
      assert.equal(m.code, 0, `${page}: ${m.stderr}`);
      assert.match(m.stdout, /NTPKIT/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
