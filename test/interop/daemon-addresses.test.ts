/**
 * Replies leave from the address the request came to, on a host with several addresses on one
 * interface while ntpkit listens on the wildcard (issue 12 item 3):
 *
 *   ns a (10.124.1.1): chronyd with `server 10.124.1.3` and `peer 10.124.1.4`
 *   ns b (10.124.1.2, .3, .4 on one veth; .5 added later): `ntpkit daemon`, listen 0.0.0.0:12020
 *
 * chronyd drops an answer from another address than the one it asked. With wildcard sockets only,
 * the kernel sends every answer from the primary address 10.124.1.2 and chronyd's sources stay at
 * reach 0. On the node:dgram path (`workers = 0`) per-address sockets beside the wildcard fix it,
 * and follow address changes: 10.124.1.5 added while the daemon runs gets its socket at the next
 * look at the addresses. The batched server (the default workers) reads each request's
 * destination and sets the reply's source with IP_PKTINFO, its main thread's sends too: run twice.
 * Namespaces `nks*`, subnet 10.124.1.0/24, port 12020 (engineer `server`).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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
const why = skipReason('chronyd', 'chronyc', 'ip', 'root');
const PORT = 12020;

/** Reach (octal, as chronyc prints it) of chronyd's source `address`, -1 when not listed. */
async function reach(c: ChronydHandle, address: string): Promise<number> {
  const out = await c.chronyc(['-c', 'sources']).catch(() => '');
  for (const line of out.split('\n')) {
    const f = line.split(',');
    if (f[2] === address) return Number.parseInt(f[5] ?? '', 8);
  }
  return -1;
}

for (const workers of [0, null] as const)
  describe(`replies from the address the request came to (two addresses on one interface, chronyd; ${workers === 0 ? 'workers = 0' : 'default workers'})`, {
    skip: why ?? false,
  }, () => {
    let ns: NetnsPair | null = null;
    let chrony: ChronydHandle | null = null;
    let ntpkit: Daemon | null = null;
    let dir = '';

    before(async () => {
      ns = await createNetns('nks', { addrA: '10.124.1.1/24', addrB: '10.124.1.2/24' });
      for (const a of ['10.124.1.3/24', '10.124.1.4/24']) {
        const r = await ns.exec(ns.b, 'ip', ['addr', 'add', a, 'dev', `v${ns.b}`]);
        assert.equal(r.code, 0, r.stderr);
      }
      dir = await mkdtemp(join(tmpdir(), 'nks-addr-'));
      const conf = join(dir, 'ntpkit.toml');
      await writeFile(
        conf,
        `[local]
stratum = 3
[serve]
listen = ["0.0.0.0"]
port = ${PORT}
${workers === 0 ? 'workers = 0' : ''}
[observe]
control-socket = false
`,
      );
      ntpkit = spawnDaemon(process.execPath, [MAIN, 'daemon', '--config', conf, '--no-drop-privileges'], {
        netns: ns.b,
      });
      const d = ntpkit;
      assert.ok(await waitFor(() => /"msg":"daemon started"/.test(d.output()) || d.exited(), 10_000));
      assert.ok(!d.exited(), d.output());
      chrony = await startChronyd({
        // A symmetric peer needs chronyd's NTP socket: a port of its own, no local reference.
        port: PORT + 1,
        localStratum: null,
        netns: ns.a,
        conf: [
          `server 10.124.1.3 port ${PORT} iburst minpoll 0 maxpoll 0`,
          `peer 10.124.1.4 port ${PORT} minpoll 0 maxpoll 0`,
        ],
      });
    });

    after(async () => {
      await chrony?.stop();
      await ntpkit?.stop();
      await ns?.cleanup();
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    });

    it('chronyd as client and as active peer of secondary addresses reaches 377', async () => {
      const c = chrony;
      assert.ok(c !== null);
      let r3 = -1;
      let r4 = -1;
      const ok = await waitFor(
        async () => {
          r3 = await reach(c, '10.124.1.3');
          r4 = await reach(c, '10.124.1.4');
          return r3 === 0o377 && r4 === 0o377;
        },
        40_000,
        500,
      );
      assert.ok(
        ok,
        `reach server ${r3.toString(8)}, peer ${r4.toString(8)}\n${await c.chronyc(['ntpdata']).catch(String)}\n${ntpkit?.output().slice(-1500)}`,
      );
    });

    it('an address added while the daemon runs is served from itself', async () => {
      const c = chrony;
      assert.ok(c !== null && ns !== null);
      const r = await ns.exec(ns.b, 'ip', ['addr', 'add', '10.124.1.5/24', 'dev', `v${ns.b}`]);
      assert.equal(r.code, 0, r.stderr);
      await c.chronyc(['add', 'server', '10.124.1.5', 'port', String(PORT), 'minpoll', '0', 'maxpoll', '0']);
      let r5 = -1;
      // The daemon looks at the host's addresses every 10 s; then every answer counts.
      const ok = await waitFor(
        async () => {
          r5 = await reach(c, '10.124.1.5');
          return (r5 & 0o17) === 0o17;
        },
        30_000,
        500,
      );
      assert.ok(ok, `reach ${r5.toString(8)}\n${ntpkit?.output().slice(-1500)}`);
    });
  });
