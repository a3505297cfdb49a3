import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ControlError, requestSnapshot, startControlServer } from '../../src/observe/control.js';
import { defaultControlSocketPath } from '../../src/observe/paths.js';
import { skipReason } from '../support/peers.js';
import { fixture } from './fixture.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
const base = mkdtempSync(join(tmpdir(), 'ntpkit-obs-'));
after(() => rmSync(base, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args, '--timeout', '20'],
      { timeout: 30000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('control socket', () => {
  it('serves the snapshot; directory 700, socket 600', async () => {
    const path = join(base, 'ntpkit-a', 'ntpkit.sock');
    let calls = 0;
    const srv = await startControlServer(path, () => {
      calls++;
      return fixture();
    });
    try {
      assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const snap = await requestSnapshot(path);
      assert.deepEqual(snap, JSON.parse(JSON.stringify(fixture())));
      assert.equal(calls, 1);
    } finally {
      await srv.close();
    }
  });

  it('a missing daemon gives a readable NOT_RUNNING error', async () => {
    const path = join(base, 'nothing', 'ntpkit.sock');
    await assert.rejects(requestSnapshot(path), (e: unknown) => {
      assert.ok(e instanceof ControlError);
      assert.equal(e.code, 'NTPKIT_NOT_RUNNING');
      assert.match(e.message, /not running/);
      return true;
    });
  });

  it('replaces a stale socket, refuses to steal a live one, refuses a regular file', async () => {
    const dir = join(base, 'ntpkit-b');
    const path = join(dir, 'ntpkit.sock');
    const first = await startControlServer(path, fixture);
    await assert.rejects(startControlServer(path, fixture), /another daemon/);
    await first.close();
    // A stale socket file: a listener that was killed without unlinking it.
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [
          '-e',
          `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
        ],
        () => resolve(),
      );
      child.on('error', reject);
    });
    assert.equal(statSync(path).isSocket(), true);
    const second = await startControlServer(path, fixture);
    assert.equal((await requestSnapshot(path)).system.stratum, 3);
    await second.close();
    const file = join(dir, 'file.sock');
    writeFileSync(file, 'x');
    await assert.rejects(startControlServer(file, fixture), /not a socket/);
  });

  it('answers errors for unknown commands and bad JSON', async () => {
    const path = join(base, 'ntpkit-c', 'ntpkit.sock');
    const srv = await startControlServer(path, fixture);
    try {
      const { connect } = await import('node:net');
      const ask = (line: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const s = connect(path);
          let buf = '';
          s.on('connect', () => s.write(line));
          s.on('data', (d) => {
            buf += d.toString();
          });
          s.on('end', () => resolve(buf));
          s.on('error', reject);
        });
      assert.deepEqual(JSON.parse(await ask('{"command":"reboot"}\n')), {
        ok: false,
        code: 'NTPKIT_PROTOCOL',
        error: 'unknown command "reboot"',
      });
      assert.equal(JSON.parse(await ask('nope\n')).ok, false);
      assert.equal(JSON.parse(await ask('{"command":"ping"}\n')).ok, true);
    } finally {
      await srv.close();
    }
  });

  it('default path follows root / XDG_RUNTIME_DIR / tmpdir', () => {
    const p = defaultControlSocketPath();
    assert.ok(p.endsWith('ntpkit.sock'));
    if (process.env.NTPKIT_SOCKET === undefined && process.getuid?.() === 0)
      assert.equal(p, '/run/ntpkit/ntpkit.sock');
  });
});

describe('CLI against a control socket', () => {
  it('another user gets a readable permission error', async (t) => {
    const why = skipReason('root', 'setpriv');
    if (why !== null) return t.skip(why);
    const path = join(base, 'ntpkit-perm', 'ntpkit.sock');
    const srv = await startControlServer(path, fixture);
    try {
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(
          'setpriv',
          [
            '--reuid=nobody',
            '--regid=nogroup',
            '--clear-groups',
            process.execPath,
            MAIN,
            'status',
            '--socket',
            path,
          ],
          { timeout: 15000 },
          (err, _out, stderr) =>
            resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr }),
        );
      });
      if (/setpriv|ENOENT|Cannot find module/.test(r.stderr) && !/ntpkit status/.test(r.stderr)) {
        return t.skip(`cannot run as nobody here: ${r.stderr.trim()}`);
      }
      assert.equal(r.code, 4);
      assert.match(
        r.stderr,
        /permission denied on .*the daemon's user, root and the \[observe\] control-group/,
      );
    } finally {
      await srv.close();
    }
  });

  it('status, sources, source, clients print tables and --json', async () => {
    const path = join(base, 'ntpkit-cli', 'ntpkit.sock');
    const srv = await startControlServer(path, fixture);
    try {
      const st = await cli(['status', '--socket', path]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /^Synchronised\s+: yes$/m);
      assert.match(st.stdout, /^Stratum\s+: 3$/m);
      const so = await cli(['sources', '-v', '--socket', path]);
      assert.equal(so.code, 0, so.stderr);
      assert.match(so.stdout, /^\*\^ localhost \(127\.0\.0\.1:11123\)\s+1 LOCL\s+377/m);
      assert.match(so.stdout, /Selection: \* system peer/);
      const js = await cli(['sources', '--json', '--socket', path]);
      assert.equal(JSON.parse(js.stdout).length, 4);
      const one = await cli(['source', '192.0.2.7', '--socket', path]);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /Clock filter \(newest first\)/);
      const none = await cli(['source', '203.0.113.9', '--socket', path]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no source '203\.0\.113\.9'/);
      const cl = await cli(['clients', '--json', '--socket', path]);
      assert.equal(JSON.parse(cl.stdout).server.requests, 1234);
      const stj = await cli(['status', '--json', '--socket', path]);
      assert.equal(JSON.parse(stj.stdout).system.sourceCount, 4);
    } finally {
      await srv.close();
    }
  });

  it('readable error and exit code 3 when the daemon is not running; 2 on bad usage', async () => {
    const r = await cli(['sources', '--socket', join(base, 'absent', 'ntpkit.sock')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /the ntpkit daemon is not running/);
    assert.equal(r.stdout, '');
    const u = await cli(['status', '--bogus']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown option '--bogus'/);
  });
});
