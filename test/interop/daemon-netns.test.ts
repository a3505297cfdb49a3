/**
 * Two network namespaces joined by a veth pair (10.123.5.1 ↔ 10.123.5.2), both on port 123:
 *
 *   ns a: chronyd (local stratum 1) with `peer 10.123.5.2 xleave`; ntpdig
 *   ns b: `ntpkit daemon` (the CLI, as root: binds 123, then drops to nobody) with `[[peer]] xleave`
 *
 * Proves: symmetric active/active between ntpkit and chronyd in interleaved mode (chronyc ntpdata
 * says Interleaved: Yes, ntpkit's snapshot too); ntpkit synchronises to its peer; ntpdig (port 123
 * hard-wired) accepts ntpkit's answers and shows its stratum, leap, root delay and dispersion;
 * privileges are dropped after binding port 123. Namespaces `nkd*`, subnet 10.123.5.0/24.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requestSnapshot } from '../../src/observe/control.js';
import type { DaemonSnapshot } from '../../src/system/snapshot.js';
import {
  type ChronydHandle,
  createNetns,
  type Daemon,
  type NetnsPair,
  skipReason,
  spawnDaemon,
  startChronyd,
  waitFor,
} from '../support/peers.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const why = skipReason('chronyd', 'chronyc', 'setpriv', 'ntpdig', 'ip', 'root');

describe('ntpkit ↔ chronyd symmetric interleaved, ntpdig client (namespaces, port 123)', {
  skip: why ?? false,
}, () => {
  let ns: NetnsPair | null = null;
  let chrony: ChronydHandle | null = null;
  let ntpkit: Daemon | null = null;
  let dir = '';
  let sock = '';
  const snap = async (): Promise<DaemonSnapshot | null> => {
    try {
      return await requestSnapshot(sock, 2000);
    } catch {
      return null;
    }
  };

  before(async () => {
    ns = await createNetns('nkd', { addrA: '10.123.5.1/24', addrB: '10.123.5.2/24' });
    dir = await mkdtemp(join(tmpdir(), 'nkd-netns-'));
    await chmod(dir, 0o755);
    sock = join(dir, 'ctl', 'ntpkit.sock');
    const conf = join(dir, 'ntpkit.toml');
    await writeFile(
      conf,
      `[[peer]]
address = "${ns.addrA}"
xleave = true
# ntpkit polls 4x as often as chronyd: symmetric mode must cope with unequal polls
minpoll = -2
maxpoll = -2
[serve]
listen = ["0.0.0.0"]
port = 123
[clock]
stepout = 2
state-file = "${join(dir, 'state', 'state.json')}"
[observe]
control-socket = "${sock}"
[daemon]
user = "nobody"
`,
    );
    chrony = await startChronyd({
      port: 123,
      netns: ns.a,
      localStratum: 1,
      conf: [`peer ${ns.addrB} xleave minpoll 0 maxpoll 0`],
    });
    ntpkit = spawnDaemon(process.execPath, [MAIN, 'daemon', '--config', conf], { netns: ns.b });
  });

  after(async () => {
    await ntpkit?.stop();
    await chrony?.stop();
    await ns?.cleanup();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('binds port 123 and drops privileges to nobody', async () => {
    const d = ntpkit;
    assert.ok(d !== null);
    const ok = await waitFor(() => /"privileges dropped"/.test(d.output()) || d.exited(), 10_000);
    assert.ok(ok && !d.exited(), d.output());
    assert.match(d.output(), /"msg":"listening".*"port":123/);
    assert.match(d.output(), /"msg":"privileges dropped","user":"nobody","uid":65534/);
  });

  it('symmetric interleaved in both directions; ntpkit synchronises to its peer', async () => {
    const c = chrony;
    assert.ok(c !== null && ns !== null);
    let ntpdata = '';
    let s: DaemonSnapshot | null = null;
    const addrB = ns.addrB;
    const ok = await waitFor(
      async () => {
        ntpdata = await c.chronyc(['ntpdata', addrB]).catch((e: unknown) => String(e));
        s = await snap();
        const src = s?.system.sources[0];
        return (
          /Interleaved\s*:\s*Yes/.test(ntpdata) &&
          src?.interleaved === true &&
          s?.system.synchronised === true
        );
      },
      60_000,
      500,
    );
    const last: DaemonSnapshot | null = s;
    assert.ok(
      ok,
      `chronyc ntpdata:\n${ntpdata}\nntpkit: ${JSON.stringify(last === null ? null : (last as DaemonSnapshot).system)}\n${ntpkit?.output().slice(-2000)}`,
    );
    assert.match(ntpdata, /Mode\s*:\s*Symmetric active/);
    assert.match(ntpdata, /Remote address\s*:\s*10\.123\.5\.2 \(/);
    const src = (last as DaemonSnapshot | null)?.system.sources[0];
    assert.equal(src?.mode, 'peer');
    assert.equal((last as DaemonSnapshot | null)?.system.stratum, 2);
  });

  it("ntpdig accepts ntpkit's answers and reads its stratum and leap", async () => {
    assert.ok(ns !== null);
    const r = await ns.exec(ns.a, 'ntpdig', ['-j', '-t', '2', ns.addrB], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    const s = await snap();
    assert.ok(s !== null);
    // ntpdig drops unsynchronised (leap 3), stratum-0 and malformed answers: a line means it accepted ours.
    assert.equal(j.ip, ns.addrB);
    assert.equal(j.stratum, s.system.stratum);
    assert.equal(j.stratum, 2);
    assert.equal(j.leap, 'no-leap');
    // ntpdig's "precision" is its synchronisation distance |delta/2 + epsilon| of this exchange.
    assert.ok(Number(j.precision) > 0 && Number(j.precision) < 0.05, `distance ${String(j.precision)}`);
    // ntpdig's JSON has no root delay/dispersion (chronyd's ntpdata checks those, daemon-server.test).
    assert.ok(Math.abs(Number(j.offset)) < 0.01, `offset ${String(j.offset)}`);
  });
});
