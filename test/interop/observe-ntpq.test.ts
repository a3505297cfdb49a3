/**
 * NTPsec's ntpq, unmodified, on its hard-wired port 123 against `ntpkit daemon` running in a network
 * namespace (synchronised to chronyd in the same namespace). From a second namespace (a remote
 * address) mode 6 is refused by default.
 *
 * Namespaces nko*, addresses 10.123.6.1/24 and 10.123.6.2/24, chronyd on port 11450.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { handleMode6 } from '../../src/observe/mode6.js';
import { fixture } from '../observe/fixture.js';
import { ntpqOnPort } from '../support/ntpq.js';
import {
  type ChronydHandle,
  createNetns,
  type Daemon,
  type NetnsPair,
  ntpsecDir,
  runCommand,
  skipReason,
  spawnDaemon,
  startChronyd,
  waitFor,
} from '../support/peers.js';

const FIXTURE_PORT = 11455;

describe('ntpq renders every selection state (synthetic snapshot, mode 6 over UDP)', {
  skip: skipReason('ntpsec', '/usr/bin/python3') ?? false,
}, () => {
  it('tally codes, refids, reach in octal, IPv6 sources and the association list', async () => {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (m, r) => {
      const out = handleMode6(new Uint8Array(m), { address: r.address, port: r.port }, fixture, {
        allowRemote: false,
      });
      for (const p of out ?? []) sock.send(p, r.port, r.address);
    });
    await new Promise<void>((res) => sock.bind(FIXTURE_PORT, '127.0.0.1', () => res()));
    try {
      const p = await ntpqOnPort(FIXTURE_PORT, ['-n', '-p', '127.0.0.1']);
      assert.equal(p.code, 0, p.stderr);
      const rows = p.stdout.trimEnd().split('\n').slice(2);
      assert.equal(rows.length, 4, p.stdout);
      assert.match(rows[0] ?? '', /^\*127\.0\.0\.1\s+\.LOCL\.\s+1 u .* 377\s+0\.4500\s+0\.1230\s+0\.0340$/);
      assert.match(
        rows[1] ?? '',
        /^\+192\.0\.2\.7\s+192\.0\.2\.1\s+2 u .* 177\s+31\.2000\s+-2\.1100\s+0\.8100$/,
      );
      assert.match(rows[2] ?? '', /^x2001:db8::5\s+192\.0\.2\.1\s+2 s .* 376 /);
      assert.match(rows[3] ?? '', /^ 198\.51\.100\.9\s+\.INIT\.\s+16 u\s+-\s+64\s+0 /);
      const as = await ntpqOnPort(FIXTURE_PORT, ['-n', '-c', 'as', '127.0.0.1']);
      assert.equal(as.code, 0, as.stderr);
      assert.match(as.stdout, /sys\.peer/);
      assert.match(as.stdout, /candidate/);
      assert.match(as.stdout, /falsetick/);
      assert.match(as.stdout, /^\s+3\s+3\s+f1\d\d\s+yes\s+yes\s+ok\s+falsetick/m);
    } finally {
      sock.close();
    }
  });
});

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
const CHRONY_PORT = 11450;
const why = skipReason('root', 'ip', 'chronyd', 'setpriv', 'ntpsec');

describe('ntpq -p against ntpkit on port 123 (network namespace)', { skip: why ?? false }, () => {
  let ns: NetnsPair | null = null;
  let chrony: ChronydHandle | null = null;
  let daemon: Daemon | null = null;
  const tmp = mkdtempSync(join(tmpdir(), 'ntpkit-obsns-'));
  const ntpq = (): string => join(ntpsecDir() ?? '', 'usr/bin/ntpq');
  const runNtpq = (where: string, args: string[]) =>
    runCommand('/usr/bin/python3', [ntpq(), ...args], {
      netns: where,
      timeoutMs: 20000,
      env: { ...process.env, PYTHONPATH: '' },
    });

  before(async () => {
    ns = await createNetns('nko', { addrA: '10.123.6.1/24', addrB: '10.123.6.2/24' });
    chrony = await startChronyd({ port: CHRONY_PORT, netns: ns.a, bindaddress: '127.0.0.1' });
    const conf = join(tmp, 'ntpkit.toml');
    writeFileSync(
      conf,
      `[[server]]
address = "127.0.0.1"
port = ${CHRONY_PORT}
iburst = true
minpoll = 0
maxpoll = 0

[serve]
listen = ["0.0.0.0"]
port = 123

[observe]
control-socket = "${join(tmp, 'ctl', 'ntpkit.sock')}"
`,
    );
    daemon = spawnDaemon('ip', [
      'netns',
      'exec',
      ns.a,
      process.execPath,
      MAIN,
      'daemon',
      '--config',
      conf,
      '--no-drop-privileges',
    ]);
    const a = ns.a;
    const ok = await waitFor(
      async () => {
        if (daemon?.exited()) return true;
        const r = await runNtpq(a, ['-n', '-p', '127.0.0.1']);
        return /^\*127\.0\.0\.1 /m.test(r.stdout);
      },
      30_000,
      1000,
    );
    assert.ok(ok && daemon.exited() === false, `daemon synchronised and answering ntpq:\n${daemon.output()}`);
  });

  after(async () => {
    await daemon?.stop();
    await chrony?.stop();
    await ns?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('ntpq -p lists the source with its tally code, reach and poll', async () => {
    assert.ok(ns !== null);
    const r = await runNtpq(ns.a, ['-n', '-p', '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    assert.match(lines[0] ?? '', /remote\s+refid\s+st t when poll reach\s+delay\s+offset\s+jitter/);
    assert.match(
      lines[2] ?? '',
      /^\*127\.0\.0\.1\s+\S+\s+1 u\s+\S+\s+1\s+[0-7]+\s+[\d.]+\s+-?[\d.]+\s+[\d.]+$/,
    );
  });

  it('ntpq -c rv and -c as work', async () => {
    assert.ok(ns !== null);
    const r = await runNtpq(ns.a, ['-n', '-c', 'rv', '-c', 'as', '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /version="ntpkit [\d.]+"/);
    assert.match(r.stdout, /stratum=2,/);
    assert.match(r.stdout, /^\s+1\s+\d+\s+96\d\d\s+yes\s+yes\s+none\s+sys\.peer/m);
  });

  it('a remote address gets no mode 6 answer by default', async () => {
    assert.ok(ns !== null);
    const r = await runNtpq(ns.b, ['-n', '-c', 'timeout 300', '-c', 'rv', ns.addrA]);
    assert.doesNotMatch(r.stdout, /stratum=/);
    assert.match(`${r.stdout}${r.stderr}`, /timed out|Request timed out/i);
  });
});
