/**
 * Hostile or damaged files (issue 12 item 7): every read is bounded and names the file (config
 * errors FILE:LINE); temporary files of killed state writes are removed at start; a truncated or
 * corrupt state file is warned about, kept as `.corrupt-TIME` and then overwritten; an NTS key file
 * with a bad key ID is a warning naming file and entry, not a crash.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ConfigError, parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { loadConfigFile } from '../../src/daemon/load.js';
import { createLogger, type Logger } from '../../src/daemon/log.js';
import { BoundedReadError, readFileBounded } from '../../src/io/bounded-read.js';
import { removeStaleTemps, writeFileAtomic } from '../../src/io/state-file.js';
import { certFixture } from '../nts/responder.js';

const pexec = promisify(execFile);
const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

interface Line {
  msg: string;
  level: string;
  file?: string;
  reason?: string;
  keptAs?: string;
  stale?: string[];
}

function capture(): { lines: Line[]; logger: Logger } {
  const lines: Line[] = [];
  return {
    lines,
    logger: createLogger({ level: 'debug', format: 'json' }, (l) => lines.push(JSON.parse(l) as Line)),
  };
}

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ntpkit-files-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const BASE = '[serve]\nlisten = ["127.0.0.1"]\nport = 0\n[observe]\ncontrol-socket = false\n';

describe('bounded reads', () => {
  it('/dev/zero is refused after the limit, naming the file, without reading it all', async () => {
    const rss0 = process.memoryUsage().rss;
    await assert.rejects(readFileBounded('/dev/zero', 1 << 20), (e: unknown) => {
      assert.ok(e instanceof BoundedReadError);
      assert.equal(e.code, 'FILE_TOO_LARGE');
      assert.equal(e.message, '/dev/zero: a character device, larger than the 1 MiB limit');
      return true;
    });
    assert.ok(process.memoryUsage().rss - rss0 < 64 << 20, 'no memory growth');
  });

  it('a regular file over the limit is refused from its size; one within is read whole', async () => {
    const f = join(dir, 'big.txt');
    await writeFile(f, 'x'.repeat(5000));
    await assert.rejects(readFileBounded(f, 4096), /big\.txt: 5000 bytes, larger than the 4 KiB limit/);
    assert.equal((await readFileBounded(f, 5000)).length, 5000);
    await assert.rejects(readFileBounded(join(dir, 'nope'), 10), /nope: no such file/);
    await assert.rejects(readFileBounded(dir, 10), /is a directory/);
  });

  it('[keys] file = "/dev/zero": loading the config fails with FILE:LINE and the key file', async () => {
    const conf = join(dir, 'zero-keys.toml');
    await writeFile(conf, '[[server]]\naddress = "127.0.0.1"\nkey = 1\n\n[keys]\nfile = "/dev/zero"\n');
    await assert.rejects(loadConfigFile(conf), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${conf}:6: keys.file: /dev/zero: a character device, larger than the 1 MiB limit`,
      );
      return true;
    });
  });

  it('`ntpkit config check` on it exits 1 quickly with that message', async () => {
    const conf = join(dir, 'zero-keys.toml');
    const t0 = Date.now();
    const r = await pexec(process.execPath, [CLI, 'config', 'check', conf, '/dev/zero'], {
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /zero-keys\.toml:6: keys\.file: \/dev\/zero: a character device, larger than/);
    assert.match(r.stderr, /^\/dev\/zero: a character device, larger than the 1 MiB limit$/m);
    assert.ok(Date.now() - t0 < 15_000);
  });
});

describe('state file', () => {
  it('temporary files of killed writes are removed at start; others are left alone', async () => {
    const sub = await mkdtemp(join(dir, 'tmp-'));
    const file = join(sub, 'state.json');
    const dead = join(sub, '.state.json.999999999.0123456789ab.tmp'); // no such pid
    const old = join(sub, `.state.json.${process.ppid}.aabbccddeeff.tmp`); // alive, but an hour old
    const fresh = join(sub, `.state.json.${process.ppid}.ffeeddccbbaa.tmp`); // alive and new: in flight
    const other = join(sub, '.other.json.999999999.0123456789ab.tmp');
    for (const f of [dead, old, fresh, other]) await writeFile(f, '{"frequencyPpm": 1');
    await utimes(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const { lines, logger } = capture();
    const d = await startDaemon(parseConfig(`${BASE}[clock]\nstate-file = "${file}"\n`), { logger });
    await d.stop();
    const left = (await readdir(sub)).sort();
    assert.deepEqual(
      left,
      [
        '.other.json.999999999.0123456789ab.tmp',
        `.state.json.${process.ppid}.ffeeddccbbaa.tmp`,
        'state.json',
      ].sort(),
    );
    const msg = lines.find((l) => l.msg === 'removed temporary files of interrupted state writes');
    assert.deepEqual(
      msg?.stale?.sort(),
      ['.state.json.999999999.0123456789ab.tmp', `.state.json.${process.ppid}.aabbccddeeff.tmp`].sort(),
    );
    assert.deepEqual(await removeStaleTemps(file), [], 'nothing stale left');
  });

  it('a truncated state file is warned about, kept as .corrupt-TIME, then overwritten', async () => {
    const sub = await mkdtemp(join(dir, 'trunc-'));
    const file = join(sub, 'state.json');
    const torn = '{\n  "version": 1,\n  "discipline": "rfc5905",\n  "frequencyPpm": 12.';
    await writeFile(file, torn);
    const { lines, logger } = capture();
    const d = await startDaemon(parseConfig(`${BASE}[clock]\nstate-file = "${file}"\n`), { logger });
    await d.stop();
    const w = lines.find((l) => l.level === 'warn' && l.file === file);
    assert.ok(w !== undefined, JSON.stringify(lines.filter((l) => l.level !== 'debug')));
    assert.match(w.msg, /state file unusable/);
    assert.match(w.reason ?? '', /not JSON/);
    assert.match(w.keptAs ?? '', /state\.json\.corrupt-\d{8}T\d{6}Z$/);
    assert.equal(await readFile(w.keptAs ?? '', 'utf8'), torn, 'the copy holds what was there');
    const now = JSON.parse(await readFile(file, 'utf8')) as { version: number; frequencyPpm: number };
    assert.equal(now.version, 1, 'overwritten with a good state');
    assert.equal(typeof now.frequencyPpm, 'number');
  });

  it('an atomic write never replaces something that is not a regular file', async () => {
    const sock = join(dir, 'state.sock');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(sock, () => r()));
    try {
      await assert.rejects(writeFileAtomic(sock, '{}'), /state\.sock: not a regular file; not replacing it/);
      assert.ok((await stat(sock)).isSocket(), 'still the socket');
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.endsWith('.tmp')),
        [],
        'no temporary file left',
      );
    } finally {
      srv.close();
    }
  });
});

describe('NTS master key file', () => {
  for (const id of ['1.5', '-7', '1e20']) {
    it(`a key ID of ${id}: warning naming file and entry, copy kept, new key, daemon runs`, async (t) => {
      const fx = await certFixture(t);
      if (fx === null) return;
      const keyFile = join(fx.dir, 'nts-keys.json');
      const bad = `{"version":1,"rotated":0,"keys":[{"id":${id},"key":"${'ab'.repeat(32)}"}]}\n`;
      await writeFile(keyFile, bad);
      const { lines, logger } = capture();
      const d = await startDaemon(
        parseConfig(
          `${BASE}[nts]\nserver-cert = "${fx.certPath}"\nserver-key = "${fx.keyPath}"\nke-port = 0\nke-listen = ["127.0.0.1"]\nkey-file = "${keyFile}"\n`,
        ),
        { logger },
      );
      try {
        const w = lines.find((l) => l.msg === 'nts: key file unusable; starting with a new key');
        assert.ok(w !== undefined, JSON.stringify(lines));
        assert.equal(w.file, keyFile);
        assert.match(w.reason ?? '', /^keys\[0\]\.id .* is not a key ID/);
        assert.equal(await readFile(w.keptAs ?? '', 'utf8'), bad);
        const fresh = JSON.parse(await readFile(keyFile, 'utf8')) as { keys: { id: number }[] };
        assert.ok(fresh.keys.length >= 1 && fresh.keys.every((k) => Number.isInteger(k.id)));
      } finally {
        await d.stop();
      }
    });
  }
});
