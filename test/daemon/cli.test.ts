import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const main = join(root, 'dist', 'src', 'cli', 'main.js');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    c.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('ntpkit config check: OK for a good file, file:line:key for a bad one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nkd-cfg-'));
  try {
    const good = join(dir, 'good.toml');
    const bad = join(dir, 'bad.toml');
    await writeFile(good, '[[server]]\naddress = "127.0.0.1"\n');
    await writeFile(bad, '[[server]]\naddress = "127.0.0.1"\n\n[serve]\nlisen = ["::"]\n');
    const ok = await runCli(['config', 'check', good]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /good\.toml: OK/);
    const ko = await runCli(['config', 'check', bad]);
    assert.equal(ko.code, 1);
    assert.match(ko.stderr, /bad\.toml:5: serve\.lisen: unknown key 'lisen' \(did you mean 'listen'\?\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

interface LogLine {
  msg: string;
  [k: string]: unknown;
}

test('ntpkit daemon: JSON logs, SIGHUP reload, SIGTERM stops with the state saved', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nkd-cli-'));
  await chmod(dir, 0o755); // readable after privileges are dropped (reload re-reads the file)
  const conf = join(dir, 'ntpkit.toml');
  const state = join(dir, 'state', 'state.json');
  const base = `[serve]\nlisten = ["127.0.0.1"]\nport = 0\n[observe]\ncontrol-socket = false\n[clock]\nstate-file = "${state}"\n`;
  await writeFile(conf, base);
  const child = spawn(process.execPath, [main, 'daemon', '--config', conf], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let buf = '';
  child.stderr.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(JSON.parse(l) as LogLine);
      i = buf.indexOf('\n');
    }
  });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const waitMsg = async (msg: string, ms = 5000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const l = lines.find((x) => x.msg === msg);
      if (l !== undefined) return l;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`no '${msg}' log line; got ${lines.map((l) => l.msg).join(', ')}`);
  };
  try {
    const started = await waitMsg('daemon started');
    assert.equal(typeof started.ts, 'string');
    assert.equal(started.level, 'info');
    if (process.getuid?.() === 0) await waitMsg('privileges dropped');
    await writeFile(conf, `${base}\n[[server]]\naddress = "127.0.0.1"\nport = 11299\n`);
    child.kill('SIGHUP');
    const reloaded = await waitMsg('configuration reloaded');
    assert.equal(reloaded.sources, 1);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await waitMsg('stopped');
    assert.ok(existsSync(state), 'state file written');
    const st = JSON.parse(readFileSync(state, 'utf8')) as { frequencyPpm: number };
    assert.equal(typeof st.frequencyPpm, 'number');
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
