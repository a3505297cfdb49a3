/**
 * Re-captures the test vectors in this directory from real chronyd and NTPsec, with tshark's own
 * decoding stored next to each packet (an independent reference for the field-by-field checks).
 *
 *   npx tsc -p . && NTPKIT_CAPTURE_VECTORS=1 node dist/test/vectors/capture.js
 *
 * Needs root, chronyd, tshark, openssl, ntpdig, sntp and the unpacked NTPsec. Uses ports 11160–11169
 * on loopback and namespaces `nkq*` (10.123.1.0/24). Does nothing unless NTPKIT_CAPTURE_VECTORS=1
 * (node --test loads every .js under test/).
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCert } from '../nts/responder.js';
import {
  createNetns,
  type Daemon,
  freeTempDir,
  removeDir,
  sleep,
  spawnDaemon,
  startChronyd,
  startNtpsec,
  waitFor,
} from '../support/peers.js';

/** tshark fields stored with each packet, in this order. */
export const TSHARK_FIELDS = [
  'ntp.flags.li',
  'ntp.flags.vn',
  'ntp.flags.mode',
  'ntp.stratum',
  'ntp.ppoll',
  'ntp.precision',
  'ntp.rootdelay',
  'ntp.rootdispersion',
  'ntp.refid',
  'ntp.reftime',
  'ntp.org',
  'ntp.rec',
  'ntp.xmt',
  'ntp.keyid',
  'ntp.mac',
  'ntp.ext.type',
  'ntp.ext.length',
] as const;

export interface VectorPacket {
  hex: string;
  /** "request" (to the server port) or "response". */
  direction: 'request' | 'response';
  tshark: Record<string, string>;
}

export interface VectorFile {
  name: string;
  description: string;
  peer: string;
  captured: string;
  packets: VectorPacket[];
}

const HERE = join(fileURLToPath(new URL('.', import.meta.url)), '../../../test/vectors');

async function tshark(port: number, opts: { iface?: string; netns?: string } = {}): Promise<Daemon> {
  const args = [
    '-l',
    '-n',
    '-i',
    opts.iface ?? 'lo',
    '-f',
    `udp port ${port}`,
    '-d',
    `udp.port==${port},ntp`,
  ];
  args.push('-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const f of ['udp.dstport', 'udp.payload', ...TSHARK_FIELDS]) args.push('-e', f);
  const d = spawnDaemon('tshark', args, { netns: opts.netns });
  await waitFor(() => /Capturing on/.test(d.output()), 10_000, 50);
  await sleep(300);
  return d;
}

async function collect(d: Daemon, serverPort: number): Promise<VectorPacket[]> {
  await sleep(500);
  await d.stop();
  const out: VectorPacket[] = [];
  for (const line of d.output().split('\n')) {
    const cols = line.split('|');
    if (cols.length !== TSHARK_FIELDS.length + 2 || !/^[0-9a-f]+$/.test(cols[1] ?? '')) continue;
    const tshark: Record<string, string> = {};
    TSHARK_FIELDS.forEach((f, i) => {
      tshark[f] = cols[i + 2] ?? '';
    });
    out.push({
      hex: cols[1] ?? '',
      direction:
        tshark['ntp.flags.mode'] === '3' ||
        (tshark['ntp.flags.mode'] !== '4' && Number(cols[0]) === serverPort)
          ? 'request'
          : 'response',
      tshark,
    });
  }
  return out;
}

/** Keeps the first `pairs` request/response pairs (requests and responses alternate on loopback). */
function firstPairs(p: VectorPacket[], pairs: number): VectorPacket[] {
  const req = p.filter((x) => x.direction === 'request').slice(0, pairs);
  const res = p.filter((x) => x.direction === 'response').slice(0, pairs);
  return req.flatMap((r, i) => (res[i] === undefined ? [r] : [r, res[i] as VectorPacket]));
}

async function save(v: Omit<VectorFile, 'captured'>): Promise<void> {
  if (v.packets.length === 0) {
    process.stderr.write(`capture: no packets for ${v.name}\n`);
    return;
  }
  const file: VectorFile = { ...v, captured: new Date().toISOString() };
  await writeFile(join(HERE, `${v.name}.json`), `${JSON.stringify(file, null, 2)}\n`);
  process.stdout.write(`capture: ${v.name}: ${v.packets.length} packets\n`);
}

async function chronyPair(
  name: string,
  description: string,
  port: number,
  serverConf: string[],
  clientLine: string,
  clientConf: string[] = [],
  pairs = 2,
  wait = 2500,
) {
  const cap = await tshark(port);
  const srv = await startChronyd({ port, conf: serverConf });
  const cli = await startChronyd({ port: 0, conf: [clientLine, ...clientConf] });
  await sleep(wait);
  await cli.stop();
  await srv.stop();
  await save({ name, description, peer: 'chrony 4.3', packets: firstPairs(await collect(cap, port), pairs) });
}

async function main(): Promise<void> {
  const dir = await freeTempDir('ntpkit-vec-');
  try {
    const keys = join(dir, 'keys');
    await writeFile(
      keys,
      [
        '1 MD5 HEX:000102030405060708090a0b0c0d0e0f',
        '2 SHA1 HEX:0f0e0d0c0b0a09080706050403020100aabbccdd',
        '3 SHA256 HEX:00112233445566778899aabbccddeeff',
      ].join('\n'),
    );
    const poll = 'iburst minpoll -2 maxpoll -2';
    await chronyPair(
      'chrony-basic',
      'chronyd client ↔ chronyd server (local stratum 1)',
      11160,
      [],
      `server 127.0.0.1 port 11160 ${poll}`,
    );
    await chronyPair(
      'chrony-md5',
      'symmetric key 1 (MD5): 20-byte MAC',
      11161,
      [`keyfile ${keys}`],
      `server 127.0.0.1 port 11161 key 1 ${poll}`,
      [`keyfile ${keys}`],
    );
    await chronyPair(
      'chrony-sha1',
      'symmetric key 2 (SHA1): 24-byte MAC',
      11162,
      [`keyfile ${keys}`],
      `server 127.0.0.1 port 11162 key 2 ${poll}`,
      [`keyfile ${keys}`],
    );
    await chronyPair(
      'chrony-sha256',
      'symmetric key 3 (SHA256): chrony falls back to NTPv3 to send the full 36-byte MAC',
      11163,
      [`keyfile ${keys}`],
      `server 127.0.0.1 port 11163 key 3 ${poll}`,
      [`keyfile ${keys}`],
    );
    await chronyPair(
      'chrony-xleave',
      'interleaved mode (xleave) client and server',
      11165,
      [],
      `server 127.0.0.1 port 11165 xleave ${poll}`,
      [],
      4,
      3000,
    );
    {
      // A stratum-2 server (chronyd synchronized to another chronyd): non-zero root delay/dispersion.
      const top = await startChronyd({ port: 11168 });
      const mid = await startChronyd({
        port: 11169,
        localStratum: null,
        conf: [`server 127.0.0.1 port 11168 ${poll}`],
      });
      await waitFor(
        async () => /^[^,]*,127\.0\.0\.1,2,/m.test(await mid.chronyc(['-c', 'tracking'])),
        15_000,
        250,
      );
      const cap = await tshark(11169);
      const cli = await startChronyd({ port: 0, conf: [`server 127.0.0.1 port 11169 ${poll}`] });
      await sleep(2000);
      await cli.stop();
      await mid.stop();
      await top.stop();
      await save({
        name: 'chrony-stratum2',
        description: 'chronyd client ↔ chronyd stratum-2 server (refid = upstream IPv4 address)',
        peer: 'chrony 4.3',
        packets: firstPairs(await collect(cap, 11169), 2),
      });
    }
    // NTS: extension fields (unique identifier, cookie, authenticator).
    const made = await makeCert(dir).catch(() => null);
    if (made !== null) {
      const { keyPath: key, certPath: cert } = made;
      await chronyPair(
        'chrony-nts',
        'NTS-protected client/server exchange (RFC 8915 extension fields)',
        11166,
        [`ntsserverkey ${key}`, `ntsservercert ${cert}`, 'ntsport 11167', `ntsdumpdir ${dir}`],
        `server localhost port 11166 nts ntsport 11167 ${poll}`,
        [`ntstrustedcerts ${cert}`],
        2,
        4000,
      );
    }
    // NTPsec in a namespace pair: server in b, client ntpd / ntpdig / sntp in a.
    const ns = await createNetns('nkq', { addrA: '10.123.1.1/24', addrB: '10.123.1.2/24' });
    try {
      const ntpsecKeys = join(dir, 'ntp.keys');
      await writeFile(
        ntpsecKeys,
        '1 MD5 000102030405060708090a0b0c0d0e0f\n2 SHA1 0f0e0d0c0b0a09080706050403020100aabbccdd\n',
      );
      const keyConf = [`keys ${ntpsecKeys}`, 'trustedkey 1 2'];
      const srv = await startNtpsec({ netns: ns.b, conf: keyConf, waitForAddress: ns.addrB });
      try {
        const iface = `v${ns.b}`;
        // ntpd drops the very first request after start-up: warm it up.
        await ns.exec(ns.a, 'ntpdig', ['-t', '1', ns.addrB], { timeoutMs: 5000 });
        await sleep(1000);
        for (const [name, desc, cmd, args] of [
          ['ntpsec-ntpdig', 'ntpdig (NTPsec) request and NTPsec ntpd reply', 'ntpdig', ['-t', '2', ns.addrB]],
          ['ntpsec-sntp', 'sntp (ntp.org) request and NTPsec ntpd reply', 'sntp', ['-t', '2', ns.addrB]],
          [
            'ntpsec-ntpdig-md5',
            'ntpdig with MD5 key 1 and NTPsec reply',
            'ntpdig',
            ['-t', '2', '-k', ntpsecKeys, '-a', '1', ns.addrB],
          ],
          [
            'ntpsec-ntpdig-sha1',
            'ntpdig with SHA1 key 2 and NTPsec reply',
            'ntpdig',
            ['-t', '2', '-k', ntpsecKeys, '-a', '2', ns.addrB],
          ],
        ] as const) {
          const cap = await tshark(123, { iface, netns: ns.b });
          await ns.exec(ns.a, cmd, [...args], { timeoutMs: 8000 });
          await save({
            name,
            description: desc,
            peer: 'NTPsec 1.2.2',
            packets: firstPairs(await collect(cap, 123), 1),
          });
        }
        // NTPsec ntpd as a client (in namespace a) of the NTPsec server.
        const cap = await tshark(123, { iface, netns: ns.b });
        const client = await startNtpsec({
          netns: ns.a,
          conf: [`server ${ns.addrB} iburst minpoll 3 maxpoll 3`],
          waitForAddress: ns.addrA,
        });
        await waitFor(() => false, 5000);
        await client.stop();
        await save({
          name: 'ntpsec-client',
          description: 'NTPsec ntpd as a client (iburst) of an NTPsec ntpd server',
          peer: 'NTPsec 1.2.2',
          packets: firstPairs(await collect(cap, 123), 2),
        });
      } finally {
        await srv.stop();
      }
    } finally {
      await ns.cleanup();
    }
  } finally {
    await removeDir(dir);
  }
}

if (process.env.NTPKIT_CAPTURE_VECTORS === '1') {
  main().catch((err: unknown) => {
    process.stderr.write(`capture failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
