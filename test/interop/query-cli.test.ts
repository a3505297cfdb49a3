/**
 * `ntpkit query` command line: argument validation, and plain-word failures against small fake
 * servers on loopback (silent, refusing, kiss-o'-death, forged origin, unsynchronized, garbage).
 * Ports 11120-11129.
 */

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { parseQueryArgs } from '../../src/cli/query.js';
import { parseTarget } from '../../src/io/udp-query.js';
import { kissCodeToRefid } from '../../src/wire/kiss.js';
import { decodePacket, encodePacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { runCommand } from '../support/peers.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

function cli(args: string[]) {
  return runCommand(process.execPath, [CLI, 'query', ...args], { timeoutMs: 15_000 });
}

/** A fake NTP server answering each request with `reply(request)` (null = stay silent). */
async function fakeServer(port: number, reply: (req: NtpPacket) => Uint8Array | null): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    const r = decodePacket(new Uint8Array(msg));
    if (!r.ok) return;
    const out = reply(r.packet);
    if (out !== null) s.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => s.bind(port, '127.0.0.1', resolve));
  return s;
}

function answer(req: NtpPacket, change: Partial<NtpPacket> = {}): Uint8Array {
  const now = req.transmitTimestamp + (1n << 32n);
  return encodePacket({
    ...req,
    mode: MODE.SERVER,
    stratum: 2,
    referenceId: 0x0a000001,
    originTimestamp: req.transmitTimestamp,
    receiveTimestamp: now,
    transmitTimestamp: now + 100n,
    referenceTimestamp: now - (10n << 32n),
    ...change,
  });
}

test('argument parsing: defaults, forms of HOST[:PORT], and plain-word rejections', () => {
  const ok = parseQueryArgs(['pool.example.org']);
  assert.ok(typeof ok === 'object' && 'options' in ok);
  assert.equal(ok.options.port, 123);
  assert.equal(ok.options.samples, 1);
  assert.equal(ok.options.timeoutMs, 2000);
  assert.equal(ok.json, false);
  const full = parseQueryArgs(['--json', '-n', '5', '--timeout=0.5', '-6', '[2001:db8::1]:1123']);
  assert.ok(typeof full === 'object' && 'options' in full);
  assert.deepEqual(
    {
      host: full.options.host,
      port: full.options.port,
      samples: full.options.samples,
      t: full.options.timeoutMs,
      f: full.options.family,
    },
    { host: '2001:db8::1', port: 1123, samples: 5, t: 500, f: 6 },
  );
  assert.deepEqual(parseTarget('::1'), { host: '::1', port: 123 });
  assert.deepEqual(parseTarget('localhost:11123'), { host: 'localhost', port: 11123 });
  assert.equal(parseQueryArgs(['-h']), 'help');
  const rejects: [string[], RegExp][] = [
    [[], /no server given/],
    [['a', 'b'], /only one server/],
    [['-n', '0', 'h'], /--samples must be a whole number from 1 to 64/],
    [['-n', 'x', 'h'], /not 'x'/],
    [['-t', '-1', 'h'], /--timeout/],
    [['--port', '70000', 'h'], /--port/],
    [['h:5', '--port', '6'], /two different ports/],
    [['h:99999'], /port '99999'/],
    [['[nothost]:5'], /not an IPv6 address/],
    [['1:2:3'], /not a host/],
    [['bad_host!'], /not a valid host name/],
    [['--frobnicate', 'h'], /unknown option/],
    [['-4', '-6', 'h'], /exclude each other/],
  ];
  for (const [args, re] of rejects) {
    const r = parseQueryArgs(args);
    assert.ok(typeof r === 'object' && 'error' in r, args.join(' '));
    assert.match(r.error, re, args.join(' '));
  }
});

test('usage errors exit 2 with a message', async () => {
  const r = await cli(['--samples', 'many', '127.0.0.1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--samples must be/);
});

test('a good fake server: text and JSON output carry every field', async (t) => {
  const s = await fakeServer(11120, (req) =>
    answer(req, { rootDelay: 0x00008000, rootDispersion: 0x00004000 }),
  );
  t.after(() => s.close());
  const txt = await cli(['127.0.0.1:11120']);
  assert.equal(txt.code, 0, txt.stderr);
  for (const label of [
    'offset',
    'delay',
    'stratum',
    'refid',
    'leap',
    'version',
    'precision',
    'root delay',
    'root dispersion',
    'root distance',
    'reference time',
    'origin time',
    'receive time',
    'transmit time',
  ]) {
    assert.match(txt.stdout, new RegExp(`^${label} `, 'm'), label);
  }
  assert.match(txt.stdout, /^refid\s+10\.0\.0\.1$/m);
  const js = await cli(['--json', 'localhost', '--port', '11120', '-4']);
  assert.equal(js.code, 0, js.stderr);
  const j = JSON.parse(js.stdout) as Record<string, unknown>;
  for (const k of [
    'offset',
    'delay',
    'stratum',
    'refid',
    'leap',
    'rootDelay',
    'rootDispersion',
    'rootDistance',
  ])
    assert.ok(k in j, k);
  assert.ok(Math.abs((j.offset as number) - 1) < 0.05, `offset ${j.offset}`);
  assert.equal(j.rootDelay, 0.5);
  assert.equal(j.rootDispersion, 0.25);
  assert.ok((j.rootDistance as number) >= 0.5);
});

test('silent server: timeout with a clear message and exit 1', async (t) => {
  const s = await fakeServer(11121, () => null);
  t.after(() => s.close());
  const r = await cli(['127.0.0.1:11121', '-t', '0.3', '-n', '2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no reply from 127\.0\.0\.1:11121 within 0\.3 s \(2 requests sent\)/);
});

test('nothing listening: refused, exit 1', async () => {
  const r = await cli(['127.0.0.1:11129', '-t', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refused|no reply/);
});

test('unknown host name: clear message, exit 1', async () => {
  const r = await cli(['no-such-host.invalid', '-t', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot resolve 'no-such-host\.invalid'/);
});

test('rejections are explained in plain words', async (t) => {
  const cases: [number, (req: NtpPacket) => Uint8Array, RegExp][] = [
    [
      11122,
      (req) => answer(req, { stratum: 0, leap: 3, referenceId: kissCodeToRefid('RATE') }),
      /kiss-o'-death with code RATE/,
    ],
    [
      11123,
      (req) => answer(req, { originTimestamp: req.transmitTimestamp ^ 0xffn }),
      /does not echo our transmit timestamp/,
    ],
    [11124, (req) => answer(req, { stratum: 16 }), /not synchronized \(stratum 16\)/],
    [11125, (req) => answer(req, { mode: MODE.CLIENT }), /mode 3, not 4/],
    [11126, (req) => answer(req, { transmitTimestamp: 0n }), /no transmit timestamp/],
    [11127, () => new Uint8Array([1, 2, 3]), /not a valid NTP packet: packet has 3 bytes/],
  ];
  for (const [port, fn, re] of cases) {
    const s = await fakeServer(port, fn);
    t.after(() => s.close());
    const r = await cli([`127.0.0.1:${port}`, '-t', '0.3']);
    assert.equal(r.code, 1, `port ${port}: ${r.stdout}`);
    assert.match(r.stderr, re);
  }
  // --json on failure still prints one JSON object naming the error
  const r = await cli(['--json', '127.0.0.1:11122', '-t', '0.3']);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout) as { error: string; rejections: { code: string }[] };
  assert.match(j.error, /RATE/);
  assert.equal(j.rejections[0]?.code, 'KISS_OF_DEATH');
});

test('--samples picks the lowest-delay reply', async (t) => {
  let n = 0;
  const slow = dgram.createSocket('udp4');
  slow.on('message', (msg, rinfo) => {
    const r = decodePacket(new Uint8Array(msg));
    if (!r.ok) return;
    const out = answer(r.packet);
    const wait = n++ === 2 ? 0 : 60; // only the third request is answered quickly
    setTimeout(() => slow.send(out, rinfo.port, rinfo.address), wait);
  });
  await new Promise<void>((resolve) => slow.bind(11128, '127.0.0.1', resolve));
  t.after(() => slow.close());
  const r = await cli(['--json', '127.0.0.1:11128', '-n', '4', '-i', '0.01']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { delay: number; samples: { delay: number }[] };
  assert.equal(j.samples.length, 4);
  assert.equal(j.delay, Math.min(...j.samples.map((s) => s.delay)));
  assert.ok(j.delay < 0.03, `best delay ${j.delay}`);
  assert.ok(Math.max(...j.samples.map((s) => s.delay)) > 0.05);
});

test('a kiss-o-death after a valid reply stops sampling and is listed with the result', async (t) => {
  let n = 0;
  const s = await fakeServer(11119, (req) =>
    n++ === 0 ? answer(req) : answer(req, { stratum: 0, referenceId: kissCodeToRefid('RATE') }),
  );
  t.after(() => s.close());
  const r = await cli(['--json', '127.0.0.1:11119', '-n', '5', '-i', '0.01']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    samplesSent: number;
    samples: unknown[];
    rejections: { code: string }[];
  };
  assert.equal(j.samples.length, 1);
  assert.equal(j.samplesSent, 2);
  assert.equal(j.rejections[0]?.code, 'KISS_OF_DEATH');
});
