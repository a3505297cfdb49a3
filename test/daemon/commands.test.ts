// The runtime commands through the CLI against running daemons: a client daemon whose source is an
// ntpkit server daemon on loopback, every command, its exit code, and the refusals for other users.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/index.js';
import { createLogger, silentLogger } from '../../src/daemon/log.js';
import type { SourceSnapshot } from '../../src/system/snapshot.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const SERVER_PORT = 12501;
const SERVER2_PORT = 12502;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], asNobody = false, group = 'nogroup'): Promise<Run> {
  const argv = asNobody
    ? ['--reuid=nobody', `--regid=${group}`, '--clear-groups', process.execPath, MAIN, ...args]
    : [MAIN, ...args];
  return new Promise((resolve) => {
    execFile(asNobody ? 'setpriv' : process.execPath, argv, { timeout: 30000 }, (err, stdout, stderr) =>
      resolve({
        code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1,
        stdout,
        stderr,
      }),
    );
  });
}

function serverConfig(port: number): string {
  return `[serve]\nlisten = ["127.0.0.1"]\nport = ${port}\n[local]\nstratum = 5\n[observe]\ncontrol-socket = false\n`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runtime commands against a running daemon', () => {
  let dir = '';
  let sock = '';
  let roSock = '';
  let cfgFile = '';
  let s1: Daemon;
  let s2: Daemon;
  let client: Daemon;
  let ro: Daemon;
  const logs: string[] = [];
  const source = (id: string): SourceSnapshot | undefined =>
    client.snapshot().system.sources.find((s) => s.id === id);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nko-cmd-'));
    await chmod(dir, 0o755);
    sock = join(dir, 'ntpkit-client', 'ntpkit.sock');
    roSock = join(dir, 'ntpkit-ro', 'ntpkit.sock');
    s1 = await startDaemon(parseConfig(serverConfig(SERVER_PORT)), { logger: silentLogger });
    s2 = await startDaemon(parseConfig(serverConfig(SERVER2_PORT)), { logger: silentLogger });
    cfgFile = join(dir, 'client.toml');
    const text =
      `[[server]]\naddress = "127.0.0.1"\nport = ${SERVER_PORT}\niburst = true\nminpoll = 4\n` +
      `[serve]\nenabled = false\n[observe]\ncontrol-socket = "${sock}"\n`;
    await writeFile(cfgFile, text);
    const logger = createLogger({ level: 'info', format: 'json' }, (l) => logs.push(l));
    client = await startDaemon(parseConfig(text, cfgFile), { logger });
    ro = await startDaemon(
      parseConfig(
        `[serve]\nenabled = false\n[observe]\ncontrol-socket = "${roSock}"\ncontrol-group = "nogroup"\n`,
      ),
      { logger: silentLogger },
    );
  });

  after(async () => {
    await Promise.all([client?.stop(), ro?.stop(), s1?.stop(), s2?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('offline stops polling with the state kept; online resumes', async () => {
    const id = `127.0.0.1:${SERVER_PORT}`;
    const off = await run(['offline', id, '--socket', sock]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, new RegExp(`offline: ${id}`));
    const sent = source(id)?.packetsSent ?? -1;
    assert.equal(source(id)?.offline, true);
    await sleep(2500);
    assert.equal(source(id)?.packetsSent, sent, 'an offline source sent requests');
    const on = await run(['online', '--json', '--socket', sock]);
    assert.equal(on.code, 0, on.stderr);
    assert.deepEqual(JSON.parse(on.stdout).sources, [id]);
    assert.equal(source(id)?.offline, undefined);
    assert.ok(logs.some((l) => /"msg":"control: offline"/.test(l)));
  });

  it('burst sends requests now', async () => {
    const id = `127.0.0.1:${SERVER_PORT}`;
    await sleep(3000); // let the resumed poll settle
    const before = source(id)?.packetsSent ?? 0;
    const r = await run(['burst', '127.0.0.1', '--socket', sock]);
    assert.equal(r.code, 0, r.stderr);
    await sleep(2500);
    assert.ok((source(id)?.packetsSent ?? 0) >= before + 2, `sent ${source(id)?.packetsSent} vs ${before}`);
    const none = await run(['burst', '198.51.100.1', '--socket', sock]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no source matches '198\.51\.100\.1'/);
  });

  it('add and delete a server; an added source does not survive reload', async () => {
    const id = `127.0.0.1:${SERVER2_PORT}`;
    const bad = await run(['add', 'server', `127.0.0.1:${SERVER2_PORT}`, 'minpoll', '99', '--socket', sock]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /minpoll/);
    const add = await run(['add', 'server', `127.0.0.1:${SERVER2_PORT}`, 'iburst', '--socket', sock]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /added 127\.0\.0\.1:12502 \(kept until the next reload/);
    assert.ok(source(id) !== undefined);
    const del = await run(['delete', id, '--socket', sock]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(source(id), undefined);
    assert.equal((await run(['delete', id, '--socket', sock])).code, 1);
    assert.equal((await run(['add', 'server', `127.0.0.1:${SERVER2_PORT}`, '--socket', sock])).code, 0);
    const rl = await run(['reload', '--socket', sock]);
    assert.equal(rl.code, 0, rl.stderr);
    assert.match(rl.stdout, /configuration reloaded from .*client\.toml/);
    assert.equal(source(id), undefined, 'the added source survived a reload without it');
    assert.ok(source(`127.0.0.1:${SERVER_PORT}`) !== undefined);
  });

  it('makestep, log-level, reset-clients, rotate-keys', async () => {
    const ms = await run(['makestep', '--json', '--socket', sock]);
    assert.equal(ms.code, 0, ms.stderr);
    assert.equal(typeof JSON.parse(ms.stdout).offset, 'number');
    assert.equal((await run(['log-level', 'debug', '--socket', sock])).code, 0);
    const badLevel = await run(['log-level', 'loud', '--socket', sock]);
    assert.equal(badLevel.code, 1);
    assert.match(badLevel.stderr, /level must be one of debug, info, warn, error/);
    assert.equal((await run(['log-level', 'info', '--socket', sock])).code, 0);
    const rc = await run(['reset-clients', '--json', '--socket', sock]);
    assert.equal(rc.code, 0, rc.stderr);
    assert.equal(JSON.parse(rc.stdout).cleared, 0);
    const rk = await run(['rotate-keys', '--socket', sock]);
    assert.equal(rk.code, 1);
    assert.match(rk.stderr, /serves no NTS-KE/);
  });

  it('usage errors exit 2, an absent daemon 3', async () => {
    assert.equal((await run(['add', 'router', '127.0.0.1', '--socket', sock])).code, 2);
    assert.equal((await run(['delete', '--socket', sock])).code, 2);
    assert.equal((await run(['makestep', 'now', '--socket', sock])).code, 2);
    const absent = await run(['burst', '--socket', join(dir, 'none', 'ntpkit.sock')]);
    assert.equal(absent.code, 3);
    assert.match(absent.stderr, /not running/);
    const help = await run(['add', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit status: 0 done/);
  });

  it('other users: refused on an owner-only socket; the control group reads but cannot change', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to run the CLI as nobody');
    const denied = await run(['burst', '--socket', sock], true);
    if (/setpriv: /.test(denied.stderr)) return t.skip(`cannot run as nobody: ${denied.stderr.trim()}`);
    assert.equal(denied.code, 4, denied.stderr);
    assert.match(denied.stderr, /permission denied/);
    assert.equal((await run(['status', '--socket', sock], true)).code, 4);
    const read = await run(['status', '--json', '--socket', roSock], true);
    assert.equal(read.code, 0, read.stderr);
    assert.equal(typeof JSON.parse(read.stdout).system.stratum, 'number');
    const change = await run(['log-level', 'debug', '--socket', roSock], true);
    assert.equal(change.code, 4);
    assert.match(change.stderr, /'log-level' changes the daemon: only its owner \(uid 0\) or root/);
    assert.equal((await run(['log-level', 'debug', '--socket', roSock])).code, 0, 'root was refused');
  });
});
