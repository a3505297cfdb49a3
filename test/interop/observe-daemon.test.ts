/**
 * Monitoring of a real ntpkit daemon synchronised to chronyd on loopback: CLI golden output,
 * NTPsec's ntpq (its real code, pointed at our port), Prometheus text parsed by two parsers, and
 * the dashboard in headless Chromium.
 *
 * Ports 11440-11444. chronyd runs without the right to set the clock; the daemon is in-process and
 * disciplines only its own software clock.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { requestSnapshot } from '../../src/observe/control.js';
import { LOOPSTATS_HEADER } from '../../src/observe/stats.js';
import { emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { checkDashboard, chromiumAvailable } from '../observe/browser.js';
import { assertMatchesTemplate } from '../observe/golden-template.js';
import { parsePrometheus } from '../observe/prom-parse.js';
import { ntpqOnPort } from '../support/ntpq.js';
import { type ChronydHandle, skipReason, startChronyd, waitFor } from '../support/peers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = join(HERE, '..', '..', 'src', 'cli', 'main.js');
const REPO = join(HERE, '..', '..', '..');
const CHRONY_PORT = 11440;
const NTP_PORT = 11441;
const METRICS = 11442;
const DASHBOARD = 11443;

const why = skipReason('chronyd', 'setpriv', 'root');
const tmp = mkdtempSync(join(tmpdir(), 'ntpkit-obsd-'));
const SOCK = join(tmp, 'ctl', 'ntpkit.sock');
let chrony: ChronydHandle | null = null;
let daemon: Daemon | null = null;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args, '--socket', SOCK],
      { timeout: 15000 },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      },
    );
  });
}

async function sendClientRequests(n: number): Promise<number> {
  const s = dgram.createSocket('udp4');
  let replies = 0;
  s.on('message', () => replies++);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < n; i++) {
    const p = emptyPacket();
    p.mode = MODE.CLIENT;
    p.version = 4;
    p.transmitTimestamp = 0x1234_5678_0000_0000n + BigInt(i);
    s.send(encodePacket(p), NTP_PORT, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 120));
  }
  await new Promise((r) => setTimeout(r, 200));
  s.close();
  return replies;
}

describe('monitoring a daemon synchronised to chronyd', { skip: why ?? false }, () => {
  before(async () => {
    chrony = await startChronyd({ port: CHRONY_PORT });
    const config = parseConfig(`
[[server]]
address = "127.0.0.1"
port = ${CHRONY_PORT}
iburst = true
minpoll = -2
maxpoll = -2

[serve]
listen = ["127.0.0.1"]
port = ${NTP_PORT}

[observe]
control-socket = "${SOCK}"
metrics = "127.0.0.1:${METRICS}"
dashboard = "127.0.0.1:${DASHBOARD}"
stats-dir = "${join(tmp, 'stats')}"
`);
    daemon = await startDaemon(config, { logger: silentLogger, dropPrivileges: false });
    let last = '';
    const ok = await waitFor(
      async () => {
        try {
          const s = await requestSnapshot(SOCK);
          last = JSON.stringify(s.system);
          const src = s.system.sources[0];
          return (
            s.system.synchronised &&
            src?.verdict === 'sys-peer' &&
            src.reach === 0o377 &&
            src.filter.length === 8
          );
        } catch {
          return false;
        }
      },
      30_000,
      250,
    );
    assert.ok(ok, `the daemon synchronises to chronyd within 30 s; last snapshot: ${last}`);
    assert.equal(await sendClientRequests(5), 5, 'the daemon answers clients');
  });

  after(async () => {
    await daemon?.stop();
    await chrony?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('ntpkit sources / status / source / clients match their golden templates', async () => {
    const vars = { port: String(CHRONY_PORT) };
    const so = await cli(['sources']);
    assert.equal(so.code, 0, so.stderr);
    assertMatchesTemplate('live-sources.txt', so.stdout, vars);
    const st = await cli(['status']);
    assert.equal(st.code, 0, st.stderr);
    assertMatchesTemplate('live-status.txt', st.stdout, vars);
    const one = await cli(['source', `127.0.0.1:${CHRONY_PORT}`]);
    assert.equal(one.code, 0, one.stderr);
    assertMatchesTemplate('live-source.txt', one.stdout, vars);
    const cl = await cli(['clients']);
    assert.equal(cl.code, 0, cl.stderr);
    assertMatchesTemplate('live-clients.txt', cl.stdout, vars);
  });

  it('--json output is the snapshot and agrees with chronyc', async () => {
    const js = await cli(['sources', '--json']);
    const sources = JSON.parse(js.stdout) as {
      address: string;
      port: number;
      stratum: number;
      offset: number;
    }[];
    assert.equal(sources.length, 1);
    assert.equal(sources[0]?.port, CHRONY_PORT);
    assert.equal(sources[0]?.stratum, 1);
    // chronyd serves our host's own clock: the offset measured over loopback is small.
    assert.ok(Math.abs(sources[0]?.offset ?? 1) < 0.1, `offset ${sources[0]?.offset}`);
    const st = JSON.parse((await cli(['status', '--json'])).stdout) as { system: { stratum: number } };
    assert.equal(st.system.stratum, 2);
  });

  it("NTPsec's ntpq -p, -c rv and -c as work against the daemon", {
    skip: skipReason('ntpsec') ?? false,
  }, async () => {
    const p = await ntpqOnPort(NTP_PORT, ['-n', '-p', '127.0.0.1']);
    assert.equal(p.code, 0, p.stderr);
    const lines = p.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^\s+remote\s+refid\s+st t when poll reach\s+delay\s+offset\s+jitter$/);
    assert.match(
      lines[2] ?? '',
      /^\*127\.0\.0\.1\s+\S+\s+1 u\s+\S+\s+1\s+[0-7]+\s+[\d.]+\s+-?[\d.]+\s+[\d.]+$/,
    );
    assert.equal(lines.length, 3);
    const rv = await ntpqOnPort(NTP_PORT, ['-n', '-c', 'rv', '127.0.0.1']);
    assert.equal(rv.code, 0, rv.stderr);
    assert.match(rv.stdout, /status=06\d\d leap_none, sync_ntp/);
    assert.match(rv.stdout, /stratum=2,/);
    assert.match(rv.stdout, /refid=127\.0\.0\.1,/);
    const as = await ntpqOnPort(NTP_PORT, ['-n', '-c', 'as', '127.0.0.1']);
    assert.equal(as.code, 0, as.stderr);
    assert.match(as.stdout, /^\s+1\s+\d+\s+96\d\d\s+yes\s+yes\s+none\s+sys\.peer/m);
    const pv = await ntpqOnPort(NTP_PORT, ['-n', '-c', 'rv &1 srcadr,srcport,reach', '127.0.0.1']);
    assert.equal(pv.code, 0, pv.stderr);
    assert.match(pv.stdout, new RegExp(`srcadr=127\\.0\\.0\\.1, srcport=${CHRONY_PORT}, reach=[0-7]+`));
  });

  it('Prometheus metrics parse (strict parser and the Python client) and match the snapshot', async () => {
    const text = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    const f = parsePrometheus(text);
    const v = (n: string): number | undefined => f.get(n)?.samples[0]?.value;
    assert.equal(v('ntpkit_system_synchronised'), 1);
    assert.equal(v('ntpkit_system_stratum'), 2);
    assert.ok((v('ntpkit_source_reach_register') ?? 0) > 0);
    assert.equal(
      f.get('ntpkit_source_offset_seconds')?.samples[0]?.labels.source,
      `127.0.0.1:${CHRONY_PORT}`,
    );
    assert.ok((v('ntpkit_server_requests_total') ?? 0) >= 5);
    const py = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\nprint(sum(len(f.samples) for f in p(sys.stdin.read())))',
      ],
      { input: text, encoding: 'utf8' },
    );
    if (py.status === 0) {
      const total = [...f.values()].reduce((n, fam) => n + fam.samples.length, 0);
      assert.equal(Number(py.stdout.trim()), total);
    }
  });

  it('the dashboard shows the source and charts with data points in headless Chromium', async (t) => {
    const reason = await chromiumAvailable();
    if (reason !== null) return t.skip(reason);
    const shot =
      process.env.NTPKIT_DASHBOARD_PNG === '1'
        ? join(REPO, 'docs', 'dashboard.png')
        : join(tmp, 'dashboard.png');
    const r = await checkDashboard(`http://127.0.0.1:${DASHBOARD}/`, 2, shot);
    assert.deepEqual(r.rows, ['127.0.0.1']);
    for (const name of ['offset', 'delay', 'jitter', 'clock']) {
      const c = r.charts[name];
      assert.ok(c !== undefined && c.x >= 2, `${name} chart has points`);
      assert.ok((c.y[0] ?? 0) >= 2, `${name} first series has points`);
    }
    assert.ok(existsSync(shot));
  });

  it('statistics files record the source and the clock updates', () => {
    const peer = readFileSync(join(tmp, 'stats', 'peerstats.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    assert.ok(peer.length > 3, `${peer.length} peerstats lines`);
    assert.match(
      peer[peer.length - 1] ?? '',
      new RegExp(`^\\d+\\.\\d+,127\\.0\\.0\\.1:${CHRONY_PORT},sys-peer,1,[0-7]+,`),
    );
    const loop = readFileSync(join(tmp, 'stats', 'loopstats.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    assert.ok(loop.length >= 2, `${loop.length} loopstats lines`);
    assert.equal(loop[0], LOOPSTATS_HEADER);
  });
});
