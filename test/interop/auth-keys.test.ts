/**
 * Symmetric-key authentication against real peers, AES-CMAC (RFC 8573) above all, in both directions.
 *
 * chronyd 4.3 on loopback (ports 11860-11864):
 *
 *   ntpkit N (client)  ── key 1 AES128 ──────────────▶ chronyd S :11860
 *                      ── key 1, via relay :11863 ───▶ S   (the relay flips a bit of each reply's MAC)
 *                      ── key 5, wrong value, via relay :11864 (pass-through) ──▶ S
 *   chronyd C (client) ── keys 1 AES128, 4 AES256, 2 MD5, 3 SHA1, 6 SHA256; 5 wrong ──▶ ntpkit N :11861
 *                         (one server address 127.0.0.1..6 per key)
 *
 * Both read one key file in chrony's syntax (`ID AES128 HEX:…`), except key 5, whose value differs.
 *
 * NTPsec 1.2 in two network namespaces (nkm*, 10.123.18.0/24, port 123, which ntpd and ntpdig need):
 *
 *   ns a: ntpkit daemon (the CLI) ── key 1 AES ─────▶ ns b: NTPsec ntpd 10.123.18.2
 *                                 ── key 5 (wrong) ─▶ ntpd's second address 10.123.18.3
 *   ns b: ntpdig -k FILE -a 1 / -a 2 (MD5) / -a 3 (SHA1) ──▶ ntpkit 10.123.18.1; -a 5 (wrong) likewise
 *
 * with key files in NTPsec's syntax (`ID AES hex`), read by both.
 *
 * Proves: requests carry a 16-byte CMAC the peer accepts and the replies verify (the source is
 * reachable, authenticated and gives samples); a reply whose MAC does not verify gives no sample and
 * is counted in the source's `rejected.auth`; a request with the wrong key is answered with a
 * crypto-NAK and counted in `server.invalid["auth-bad-mac"]`, and the peer's client takes no time
 * from it (chronyd: no valid reply; ntpdig: no server). chronyd and NTPsec drop requests made with
 * the wrong key (they send no crypto-NAK), so there the client can only see silence: no reply, no
 * sample. Reference daemons never get CAP_SYS_TIME.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Daemon as NtpkitDaemon, startDaemon } from '../../src/daemon/daemon.js';
import { loadConfigFile } from '../../src/daemon/load.js';
import { silentLogger } from '../../src/daemon/log.js';
import { requestSnapshot } from '../../src/observe/control.js';
import type { DaemonSnapshot, SourceSnapshot } from '../../src/system/snapshot.js';
import {
  type ChronydHandle,
  createNetns,
  type Daemon,
  type NetnsPair,
  type NtpsecHandle,
  skipReason,
  spawnDaemon,
  startChronyd,
  startNtpsec,
  waitFor,
} from '../support/peers.js';

const S_PORT = 11860;
const N_PORT = 11861;
const TAMPER_PORT = 11863;
const PASS_PORT = 11864;

const K1 = '000102030405060708090a0b0c0d0e0f'; // AES128
const K2 = '5a5b5c5d5e5f60616263646566676869'; // MD5
const K3 = '0f0e0d0c0b0a09080706050403020100aabbccdd'; // SHA1
const K4 = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf'; // AES256
const K6 = '00112233445566778899aabbccddeeff'; // SHA256
const K5_PEER = 'c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0';
const K5_NTPKIT = 'c1c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0';

function chronyKeys(k5: string): string {
  return `1 AES128 HEX:${K1}\n2 MD5 HEX:${K2}\n3 SHA1 HEX:${K3}\n4 AES256 HEX:${K4}\n5 AES128 HEX:${k5}\n6 SHA256 HEX:${K6}\n`;
}

function ntpsecKeys(k5: string): string {
  return `# NTPsec syntax\n1 AES ${K1}\n2 MD5 ${K2}\n3 SHA1 ${K3}\n5 AES ${k5}\n`;
}

/** `Name : value` lines of `chronyc ntpdata`. */
function field(text: string, name: string): string | undefined {
  return new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
}

interface Relay {
  requests: number;
  replies: number;
  close(): void;
}

/** A UDP relay for one client: forwards to `target`, passing each reply through `edit`. */
async function startRelay(port: number, target: number, edit: (b: Buffer) => Buffer): Promise<Relay> {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: dgram.RemoteInfo | null = null;
  const r: Relay = {
    requests: 0,
    replies: 0,
    close() {
      front.close();
      back.close();
    },
  };
  front.on('message', (m, rinfo) => {
    client = rinfo;
    r.requests++;
    back.send(m, target, '127.0.0.1');
  });
  back.on('message', (m) => {
    r.replies++;
    if (client !== null) front.send(edit(Buffer.from(m)), client.port, client.address);
  });
  await Promise.all([
    new Promise<void>((res) => front.bind(port, '127.0.0.1', () => res())),
    new Promise<void>((res) => back.bind(0, '127.0.0.1', () => res())),
  ]);
  return r;
}

function source(
  s: DaemonSnapshot | ReturnType<NtpkitDaemon['snapshot']>,
  port: number,
): SourceSnapshot | undefined {
  return s.system.sources.find((x) => x.port === port);
}

const chronyWhy = skipReason('chronyd', 'chronyc', 'setpriv', 'root');

describe('symmetric keys with chronyd (loopback): AES128, AES256, MD5, SHA1, SHA256, a wrong key', {
  skip: chronyWhy ?? false,
}, () => {
  let dir = '';
  let server: ChronydHandle | null = null;
  let client: ChronydHandle | null = null;
  let daemon: NtpkitDaemon | null = null;
  const relays: Relay[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nkm-keys-'));
    await chmod(dir, 0o755);
    const peerKeys = join(dir, 'peer.keys');
    const ourKeys = join(dir, 'ntpkit.keys');
    await writeFile(peerKeys, chronyKeys(K5_PEER));
    await writeFile(ourKeys, chronyKeys(K5_NTPKIT));
    server = await startChronyd({ port: S_PORT, localStratum: 1, conf: [`keyfile ${peerKeys}`] });
    relays.push(
      await startRelay(TAMPER_PORT, S_PORT, (b) => {
        if (b.length > 48) b[b.length - 1] = (b[b.length - 1] ?? 0) ^ 0x01;
        return b;
      }),
      await startRelay(PASS_PORT, S_PORT, (b) => b),
    );
    const conf = join(dir, 'ntpkit.toml');
    const src = (port: number, key: number) =>
      `[[server]]\naddress = "127.0.0.1"\nport = ${port}\nkey = ${key}\niburst = true\nminpoll = -2\nmaxpoll = -2\n`;
    await writeFile(
      conf,
      `${src(S_PORT, 1)}${src(TAMPER_PORT, 1)}${src(PASS_PORT, 5)}
[serve]
listen = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
port = ${N_PORT}
[local]
stratum = 8
[keys]
file = "ntpkit.keys"
[observe]
control-socket = false
`,
    );
    daemon = await startDaemon(await loadConfigFile(conf), { logger: silentLogger });
    client = await startChronyd({
      port: 0,
      conf: [
        `keyfile ${peerKeys}`,
        ...[
          ['127.0.0.1', 1],
          ['127.0.0.2', 5],
          ['127.0.0.3', 4],
          ['127.0.0.4', 2],
          ['127.0.0.5', 3],
          ['127.0.0.6', 6],
        ].map(([a, k]) => `server ${a} port ${N_PORT} key ${k} iburst minpoll -2 maxpoll -2`),
      ],
    });
  });

  after(async () => {
    await client?.stop();
    await daemon?.stop();
    for (const r of relays) r.close();
    await server?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('ntpkit → chronyd with an AES128 key: authenticated samples; a bad MAC or a wrong key gets none', async () => {
    const d = daemon;
    assert.ok(d !== null);
    const ok = await waitFor(
      () => {
        const s = d.snapshot();
        const good = source(s, S_PORT);
        const bad = source(s, TAMPER_PORT);
        return (good?.filter.length ?? 0) >= 4 && (bad?.rejected.auth ?? 0) >= 4;
      },
      30_000,
      250,
    );
    const s = d.snapshot();
    const good = source(s, S_PORT);
    const tampered = source(s, TAMPER_PORT);
    const wrong = source(s, PASS_PORT);
    assert.ok(ok, JSON.stringify(s.system.sources.map((x) => ({ ...x, filter: x.filter.length }))));
    assert.equal(good?.auth, 'ok');
    assert.equal(good?.authMethod, 'symmetric');
    assert.equal(good?.keyId, 1);
    assert.equal(good?.rejected.auth ?? 0, 0);
    // chronyd answered every request through the tampering relay, signed; ntpkit rejected each one.
    assert.ok((relays[0]?.replies ?? 0) >= 4);
    assert.equal(tampered?.auth, 'failed');
    assert.equal(tampered?.filter.length, 0);
    assert.equal(tampered?.reach, 0);
    assert.ok((tampered?.rejected.auth ?? 0) >= (relays[0]?.replies ?? 0) - 1);
    // Key 5 has another value at chronyd: it drops every request (no reply, so no sample).
    assert.ok((relays[1]?.requests ?? 0) >= 4, `${relays[1]?.requests} requests`);
    assert.equal(relays[1]?.replies, 0);
    assert.equal(wrong?.filter.length, 0);
    assert.equal(wrong?.reach, 0);
    const stats = (await server?.chronyc(['serverstats'])) ?? '';
    assert.ok(Number(/Authenticated NTP packets\s*:\s*(\d+)/.exec(stats)?.[1]) >= 8, stats);
  });

  it('chronyd → ntpkit with AES128, AES256, MD5, SHA1 and SHA256 keys; the wrong key is rejected both ends', async () => {
    const c = client;
    const d = daemon;
    assert.ok(c !== null && d !== null);
    const good = ['127.0.0.1', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
    const data = new Map<string, string>();
    const ok = await waitFor(
      async () => {
        for (const a of [...good, '127.0.0.2']) data.set(a, await c.chronyc(['ntpdata', a]).catch(String));
        return (
          good.every((a) => Number(field(data.get(a) ?? '', 'Total valid RX')) >= 4) &&
          Number(field(data.get('127.0.0.2') ?? '', 'Total RX')) >= 3
        );
      },
      40_000,
      500,
    );
    assert.ok(ok, [...data.values()].join('\n'));
    for (const a of good) {
      const t = data.get(a) ?? '';
      assert.equal(field(t, 'Authenticated'), 'Yes', `${a}:\n${t}`);
      assert.equal(field(t, 'Total RX'), field(t, 'Total valid RX'), `${a}: every reply valid\n${t}`);
    }
    const wrong = data.get('127.0.0.2') ?? '';
    assert.ok(
      Number(field(wrong, 'Total RX')) >= 3,
      `ntpkit answers the wrong key (a crypto-NAK):\n${wrong}`,
    );
    assert.equal(field(wrong, 'Total valid RX'), '0', wrong);
    const inv = d.snapshot().server.invalid;
    assert.ok((inv['auth-bad-mac'] ?? 0) >= 3, JSON.stringify(inv));
    // chronyd lists each source's key: symmetric (SK), key ID, type (4.3 prints its number, 13 and 14
    // for AES128 and AES256 CMAC) and the key length in bits.
    const auth = await c.chronyc(['authdata']);
    assert.match(auth, /^127\.0\.0\.1\s+SK\s+1\s+13\s+128\b/m, auth);
    assert.match(auth, /^127\.0\.0\.3\s+SK\s+4\s+14\s+256\b/m, auth);
  });
});

const ntpsecWhy = skipReason('ntpsec', 'ntpdig', 'setpriv', 'ip', 'root');
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');

describe('symmetric keys with NTPsec (namespaces, port 123): AES, MD5, SHA1, a wrong key', {
  skip: ntpsecWhy ?? false,
}, () => {
  let ns: NetnsPair | null = null;
  let ntpd: NtpsecHandle | null = null;
  let ntpkit: Daemon | null = null;
  let dir = '';
  let sock = '';
  let peerKeys = '';
  const SECOND = '10.123.18.3';
  const snap = (): Promise<DaemonSnapshot | null> => requestSnapshot(sock, 2000).catch(() => null);

  before(async () => {
    ns = await createNetns('nkm', { addrA: '10.123.18.1/24', addrB: '10.123.18.2/24' });
    const r = await ns.exec(ns.b, 'ip', ['addr', 'add', `${SECOND}/24`, 'dev', `v${ns.b}`]);
    assert.equal(r.code, 0, r.stderr);
    dir = await mkdtemp(join(tmpdir(), 'nkm-ntpsec-'));
    await chmod(dir, 0o755);
    peerKeys = join(dir, 'peer.keys');
    await writeFile(peerKeys, ntpsecKeys(K5_PEER));
    await writeFile(join(dir, 'ntpkit.keys'), ntpsecKeys(K5_NTPKIT));
    ntpd = await startNtpsec({
      netns: ns.b,
      conf: [`keys ${peerKeys}`, 'trustedkey 1 2 3 5'],
      waitForAddress: SECOND,
    });
    sock = join(dir, 'ntpkit.sock');
    const conf = join(dir, 'ntpkit.toml');
    await writeFile(
      conf,
      `[[server]]
address = "${ns.addrB}"
key = 1
iburst = true
minpoll = -1
maxpoll = -1
[[server]]
address = "${SECOND}"
key = 5
iburst = true
minpoll = -1
maxpoll = -1
[serve]
listen = ["${ns.addrA}"]
port = 123
[local]
stratum = 8
[keys]
file = "ntpkit.keys"
[observe]
control-socket = "${sock}"
`,
    );
    ntpkit = spawnDaemon(process.execPath, [MAIN, 'daemon', '--config', conf], { netns: ns.a });
    const d = ntpkit;
    const up = await waitFor(async () => d.exited() || (await snap()) !== null, 10_000);
    assert.ok(up && !d.exited(), d.output());
  });

  after(async () => {
    await ntpkit?.stop();
    await ntpd?.stop();
    await ns?.cleanup();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('ntpkit → NTPsec ntpd with an AES key: authenticated samples; NTPsec ignores the wrong key', async () => {
    let s: DaemonSnapshot | null = null;
    const ok = await waitFor(
      async () => {
        s = await snap();
        const good = s?.system.sources.find((x) => x.address === ns?.addrB);
        const bad = s?.system.sources.find((x) => x.address === SECOND);
        return (good?.filter.length ?? 0) >= 3 && (bad?.packetsSent ?? 0) >= 6;
      },
      40_000,
      500,
    );
    const last = s as DaemonSnapshot | null;
    assert.ok(ok, `${JSON.stringify(last?.system.sources)}\n${ntpd?.daemon.output().slice(-2000)}`);
    const good = last?.system.sources.find((x) => x.address === ns?.addrB);
    const bad = last?.system.sources.find((x) => x.address === SECOND);
    assert.equal(good?.auth, 'ok');
    assert.equal(good?.keyId, 1);
    assert.equal(good?.rejected.auth ?? 0, 0);
    // NTPsec, like chronyd, drops a request it cannot authenticate: no reply, no sample.
    assert.equal(bad?.packetsReceived, 0);
    assert.equal(bad?.filter.length, 0);
    assert.equal(bad?.reach, 0);
  });

  it('ntpdig -k -a → ntpkit with AES, MD5 and SHA1 keys; with the wrong key ntpdig gets no answer', async () => {
    const n = ns;
    assert.ok(n !== null);
    const dig = (key: number) =>
      n.exec(n.b, 'ntpdig', ['-j', '-t', '2', '-k', peerKeys, '-a', String(key), n.addrA], {
        timeoutMs: 15_000,
      });
    // ntpkit must be synchronised (or at its local stratum): ntpdig drops leap-3 answers.
    for (const key of [1, 2, 3]) {
      const r = await dig(key);
      assert.equal(r.code, 0, `key ${key}: ${r.stderr}${r.stdout}`);
      const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
      assert.equal(j.ip, n.addrA, `key ${key}: ${r.stdout}`);
      assert.ok(Math.abs(Number(j.offset)) < 0.05, `key ${key}: offset ${String(j.offset)}`);
    }
    const before = (await snap())?.server.invalid['auth-bad-mac'] ?? 0;
    const r = await dig(5);
    assert.notEqual(r.code, 0, `ntpdig accepted an answer to the wrong key: ${r.stdout}`);
    assert.doesNotMatch(r.stdout, /"ip"\s*:\s*"10\.123\.18\.1"/);
    const after = (await snap())?.server.invalid['auth-bad-mac'] ?? 0;
    assert.ok(after > before, `auth-bad-mac ${before} → ${after}`);
  });
});
