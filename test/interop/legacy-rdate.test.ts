/**
 * Issue 6 proof: rdate and a daytime client read ntpkit's RFC 868 Time and RFC 867 Daytime
 * services. The services run standalone here (startLegacyServices) over a clock deliberately
 * 12,345 s ahead of the host, so the test can tell they serve the clock they are given.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseHostPort } from '../../src/cli/time-client.js';
import { type LegacyServices, startLegacyServices } from '../../src/daemon/legacy.js';
import { unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { parseDaytime } from '../../src/wire/legacy.js';
import { skipReason } from '../support/peers.js';

const pexec = promisify(execFile);
const TIME_PORT = 11500;
const DAYTIME_PORT = 11501;
const OFFSET_S = 12_345;

/** Host Unix seconds of the served clock now. */
const servedUnix = () => Date.now() / 1000 + OFFSET_S;

/** Parses rdate's "Sat Nov 21 15:06:35 2026" (asctime, TZ=UTC) as UTC. */
function parseUtc(text: string): number {
  const m = /([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?: UTC)? (\d{4})/.exec(text);
  if (m !== null) {
    const months = 'JanFebMarAprMayJunJulAugSepOctNovDec';
    const mon = months.indexOf(m[1] as string) / 3;
    return Date.UTC(Number(m[6]), mon, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])) / 1000;
  }
  return Number.NaN;
}

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

/** Runs `ntpkit ARGS` as a child process (exit code and stdout/stderr). */
async function ntpkit(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await pexec(process.execPath, [CLI, ...args], { timeout: 10_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

describe('legacy Time and Daytime services', () => {
  let svc: LegacyServices;
  before(async () => {
    svc = await startLegacyServices(
      {
        time: { port: TIME_PORT, tcp: true, udp: true, address: '127.0.0.1' },
        daytime: { port: DAYTIME_PORT, tcp: true, udp: true, address: '127.0.0.1' },
      },
      () => unixNsToNtpTime(BigInt(Date.now()) * 1_000_000n + BigInt(OFFSET_S) * 1_000_000_000n),
    );
  });
  after(() => svc.close());

  it('binds what was asked', () => {
    const b = svc.bindings.map((x) => `${x.service}/${x.transport}:${x.port}`).sort();
    assert.deepEqual(b, [
      `daytime/tcp:${DAYTIME_PORT}`,
      `daytime/udp:${DAYTIME_PORT}`,
      `time/tcp:${TIME_PORT}`,
      `time/udp:${TIME_PORT}`,
    ]);
  });

  for (const udp of [false, true]) {
    it(`rdate reads the Time service over ${udp ? 'UDP' : 'TCP'}`, async (t) => {
      const why = skipReason('rdate');
      if (why !== null) return t.skip(why);
      const args = ['5', 'rdate', '-p', ...(udp ? ['-u'] : []), '-o', String(TIME_PORT), '127.0.0.1'];
      const { stdout } = await pexec('timeout', args, { env: { ...process.env, TZ: 'UTC' } });
      t.diagnostic(stdout.trim());
      const got = parseUtc(stdout);
      assert.ok(Math.abs(got - servedUnix()) < 2.5, `rdate says ${stdout.trim()}`);
    });
  }

  it('a daytime client (bash /dev/tcp) reads the Daytime service', async (t) => {
    const { stdout } = await pexec('timeout', [
      '5',
      'bash',
      '-c',
      `cat < /dev/tcp/127.0.0.1/${DAYTIME_PORT}`,
    ]);
    t.diagnostic(JSON.stringify(stdout));
    assert.match(stdout, /\r\n$/, 'RFC 867 line ends with CRLF');
    const p = parseDaytime(stdout, BigInt(Date.now()) * 1_000_000n);
    assert.ok(p.ok, `daytime line parses: ${stdout.trim()}`);
    assert.ok(Math.abs(Number(p.unixNs) / 1e9 - servedUnix()) < 2.5, `daytime says ${stdout.trim()}`);
  });

  for (const udp of [false, true]) {
    it(`ntpkit time and ntpkit daytime read them over ${udp ? 'UDP' : 'TCP'}`, async () => {
      const flag = udp ? ['--udp'] : [];
      const time = await ntpkit(['time', `127.0.0.1:${TIME_PORT}`, '--json', ...flag]);
      assert.equal(time.code, 0);
      const j = JSON.parse(time.out) as { unix: number; offset: number; transport: string };
      assert.equal(j.transport, udp ? 'udp' : 'tcp');
      assert.ok(Math.abs(j.unix - servedUnix()) < 2.5);
      assert.ok(Math.abs(j.offset - OFFSET_S) < 1.5, `offset ${j.offset}`);
      const day = await ntpkit(['daytime', `127.0.0.1:${DAYTIME_PORT}`, '--json', ...flag]);
      assert.equal(day.code, 0);
      const d = JSON.parse(day.out) as { daytime: string; offset: number | null; format: string | null };
      assert.equal(d.format, 'rfc867');
      assert.ok(d.offset !== null && Math.abs(d.offset - OFFSET_S) < 1.5, day.out);
    });
  }

  it('counts answers and rate-limits a UDP flood from one source', async () => {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    let replies = 0;
    s.on('message', () => replies++);
    await new Promise<void>((r) => s.bind({ address: '127.0.0.3', port: 0 }, () => r()));
    for (let i = 0; i < 200; i++) s.send(Buffer.alloc(0), TIME_PORT, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 300));
    s.close();
    // Burst of 16, then 4 per second.
    assert.ok(replies >= 16 && replies <= 20, `replies ${replies}`);
    const c = svc.counters()['time/udp'];
    assert.ok(c !== undefined && c.dropped >= 180);
  });

  it('a closed client port makes the client fail cleanly', async () => {
    const r = await ntpkit(['time', '127.0.0.1:11502', '--timeout', '2']);
    assert.equal(r.code, 1);
    assert.match(r.err, /ECONNREFUSED/);
    const u = await ntpkit(['daytime', '[::1]:11502', '--udp', '--timeout', '0.5']);
    assert.equal(u.code, 1);
    assert.match(u.err, /no answer|ECONNREFUSED/);
  });
});

describe('legacy services on the default address (IPv4 and IPv6)', () => {
  it('answers on 127.0.0.1 and ::1 when no address is given', async (t) => {
    const svc = await startLegacyServices({ time: { port: 11503, tcp: true, udp: true } }, () =>
      unixNsToNtpTime(BigInt(Date.now()) * 1_000_000n),
    );
    t.after(() => svc.close());
    const v6 = svc.bindings.every((b) => b.address === '::');
    for (const host of v6 ? ['127.0.0.1', '[::1]'] : ['127.0.0.1']) {
      for (const flag of [[], ['--udp']]) {
        const r = await ntpkit(['time', `${host}:11503`, '--json', ...flag]);
        assert.equal(r.code, 0, r.err);
        const j = JSON.parse(r.out) as { offset: number };
        assert.ok(Math.abs(j.offset) < 1.5, `${host} ${flag.join('')} offset ${j.offset}`);
      }
    }
    const c = svc.counters();
    assert.equal((c['time/tcp']?.answered ?? 0) + (c['time/udp']?.answered ?? 0), v6 ? 4 : 2);
  });

  it('refuses a port that is taken, and closes what it had opened', async () => {
    const a = await startLegacyServices(
      { daytime: { port: 11504, tcp: true, udp: false, address: '127.0.0.1' } },
      () => 0n,
    );
    try {
      await assert.rejects(
        startLegacyServices(
          {
            time: { port: 11505, tcp: true, udp: false, address: '127.0.0.1' },
            daytime: { port: 11504, tcp: true, udp: false, address: '127.0.0.1' },
          },
          () => 0n,
        ),
        /EADDRINUSE/,
      );
      // 11505 was released again: it can be bound now.
      const b = await startLegacyServices(
        { time: { port: 11505, tcp: true, udp: false, address: '127.0.0.1' } },
        () => 0n,
      );
      await b.close();
    } finally {
      await a.close();
    }
  });
});

describe('client argument parsing', () => {
  it('reads HOST, HOST:PORT, [V6]:PORT and bare IPv6', () => {
    assert.deepEqual(parseHostPort('time.example', 37), { host: 'time.example', port: 37 });
    assert.deepEqual(parseHostPort('127.0.0.1:1037', 37), { host: '127.0.0.1', port: 1037 });
    assert.deepEqual(parseHostPort('[::1]:13', 37), { host: '::1', port: 13 });
    assert.deepEqual(parseHostPort('[2001:db8::1]', 13), { host: '2001:db8::1', port: 13 });
    assert.deepEqual(parseHostPort('2001:db8::1', 13), { host: '2001:db8::1', port: 13 });
    assert.throws(() => parseHostPort('host:0', 13), /PORT/);
    assert.throws(() => parseHostPort('host:70000', 13), /PORT/);
    assert.throws(() => parseHostPort(':13', 13));
  });

  it('exits 2 with usage on bad arguments', async () => {
    const r = await ntpkit(['time']);
    assert.equal(r.code, 2);
    assert.match(r.err, /usage: ntpkit time/);
    const h = await ntpkit(['daytime', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /usage: ntpkit daytime/);
    assert.equal((await ntpkit(['daytime', 'x', '--bogus'])).code, 2);
  });
});
