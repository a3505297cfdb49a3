/**
 * NTPsec's ntpq (its own code) against ntpkit's mode 6 answers over UDP: sysstats, monstats,
 * iostats, authinfo and mrulist, including an MRU list too long for one answer (continued by ntpq
 * from the entries it has). Port 12520 on loopback; ntpq's port 123 is mapped in its process.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { handleMode6 } from '../../src/observe/mode6.js';
import type { ClientSnapshot, DaemonSnapshot } from '../../src/system/snapshot.js';
import { fixture } from '../observe/fixture.js';
import { ntpqOnPort } from '../support/ntpq.js';
import { skipReason } from '../support/peers.js';

const PORT = 12520;

const ntpq = (args: string[]) => ntpqOnPort(PORT, args);

describe('ntpq sysstats, monstats, iostats, authinfo, mrulist', {
  skip: skipReason('ntpsec', '/usr/bin/python3') ?? false,
}, () => {
  let sock: dgram.Socket;
  let snapshot: () => DaemonSnapshot = fixture;
  before(async () => {
    sock = dgram.createSocket('udp4');
    sock.on('message', (m, r) => {
      const out = handleMode6(new Uint8Array(m), { address: r.address, port: r.port }, snapshot, {
        allowRemote: false,
      });
      for (const p of out ?? []) sock.send(p, r.port, r.address);
    });
    await new Promise<void>((res) => sock.bind(PORT, '127.0.0.1', () => res()));
  });
  after(() => sock.close());

  it('sysstats: every line with a value, none "???"', async () => {
    const r = await ntpq(['-n', '-c', 'sysstats', '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /\?\?\?|Unknown variable/);
    assert.match(r.stdout, /^uptime:\s+01:02:05$/m);
    assert.match(r.stdout, /^control requests:\s+57$/m);
    assert.match(r.stdout, /^rate limited:\s+21\s+21\s/m);
    assert.match(r.stdout, /^KoD responses:\s+9\s+9\s/m);
    assert.match(r.stdout, /^processed for time:\s+1200\s+1200\s/m);
    assert.match(r.stdout, /^bad length or format:\s+4\s+4\s/m);
  });

  it('monstats, iostats, authinfo', async () => {
    const m = await ntpq(['-n', '-c', 'monstats', '127.0.0.1']);
    assert.equal(m.code, 0, m.stderr);
    assert.doesNotMatch(m.stdout + m.stderr, /\?\?\?|Unknown variable/);
    assert.match(m.stdout, /^addresses in use:\s+2$/m);
    assert.match(m.stdout, /^age of oldest slot:\s+00:01:15$/m);
    const io = await ntpq(['-n', '-c', 'iostats', '127.0.0.1']);
    assert.equal(io.code, 0, io.stderr);
    assert.doesNotMatch(io.stdout + io.stderr, /\?\?\?|Unknown variable/);
    assert.match(io.stdout, /^dropped packets:\s+25\s/m);
    const a = await ntpq(['-n', '-c', 'authinfo', '127.0.0.1']);
    assert.equal(a.code, 0, a.stderr);
    assert.doesNotMatch(a.stdout + a.stderr, /\?\?\?|Unknown variable/);
    assert.match(a.stdout, /^time since reset:\s+01:02:05$/m);
  });

  it('mrulist lists the client table, newest first', async () => {
    const r = await ntpq(['-n', '-c', 'mrulist', '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s+\d+/.test(l));
    assert.equal(rows.length, 2, r.stdout);
    // lstint avgint rstr r m v count score drop rport remote
    assert.match(rows[0] ?? '', /^\s*1\s+1\.02\s+0 \. 3 4\s+1100\s+-\s+-\s+0 127\.0\.0\.1$/);
    assert.match(rows[1] ?? '', /^\s*75\s+16\s+0 \. 3 4\s+134\s+-\s+-\s+0 10\.123\.6\.2$/);
  });

  it('mrulist continues over several requests when the table does not fit in one answer', async () => {
    const base = fixture();
    const clients: ClientSnapshot[] = [];
    for (let i = 0; i < 600; i++)
      clients.push({
        address: `10.${(i >> 8) & 255}.${i & 255}.9`,
        port: 40000 + i,
        requests: 2 + (i % 5),
        lastSeen: i,
        interval: 8,
        kodSent: 0,
        dropped: 0,
        interleaved: false,
      });
    snapshot = () => ({ ...base, clients, server: { ...base.server, clientsTracked: clients.length } });
    try {
      const r = await ntpq(['-n', '-c', 'mrulist', '127.0.0.1']);
      assert.equal(r.code, 0, r.stderr);
      const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s+\d+.*\s10\.\d+\.\d+\.9\s*$/.test(l));
      assert.equal(rows.length, 600, `${rows.length} rows:\n${r.stdout.slice(0, 2000)}\n${r.stderr}`);
      assert.equal(new Set(rows.map((l) => l.trim().split(/\s+/).at(-1))).size, 600);
    } finally {
      snapshot = fixture;
    }
  });
});
