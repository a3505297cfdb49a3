// Logs an operator can use: steps logged with size and reason, repeated per-source warnings limited
// with a count, errno names, a missing configuration file named plainly.
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { loadConfigFile } from '../../src/daemon/load.js';
import { createLogger, type Logger } from '../../src/daemon/log.js';
import { LogLimiter } from '../../src/daemon/log-limiter.js';
import { describeIoError, errnoName, errnoText } from '../../src/io/errno.js';
import { openPps } from '../../src/io/pps.js';
import { formatStatus } from '../../src/observe/format.js';
import { prometheusText } from '../../src/observe/metrics.js';
import { associationIds, systemVariables } from '../../src/observe/mode6.js';
import { unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';

const FAKE_PORT = 12510;

/** A server whose clock is `shift` seconds ahead of the host's (its upstream 192.0.2.1, not us: no loop): answers every mode-3 request. */
async function shiftedServer(port: number, shift: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    const d = decodePacket(new Uint8Array(m));
    if (!d.ok || d.packet.mode !== MODE.CLIENT) return;
    const now = unixNsToNtpTime(BigInt(Date.now()) * 1_000_000n) + (BigInt(shift) << 32n);
    const p = emptyPacket();
    Object.assign(p, { leap: 0, version: 4, mode: MODE.SERVER, stratum: 2, poll: d.packet.poll });
    Object.assign(p, { precision: -20, rootDelay: 0.001, rootDispersion: 0.001, referenceId: 0xc0000201 });
    p.referenceTimestamp = now - (1n << 32n);
    p.originTimestamp = d.packet.transmitTimestamp;
    p.receiveTimestamp = now;
    p.transmitTimestamp = now;
    s.send(encodePacket(p), r.port, r.address);
  });
  await new Promise<void>((res) => s.bind(port, '127.0.0.1', () => res()));
  return s;
}

test('a clock step is logged with its size and reason; the host clock offset is shown after it', async () => {
  const srv = await shiftedServer(FAKE_PORT, 5);
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', format: 'json' }, (l) => lines.push(l));
  const cfg = parseConfig(
    `[[server]]\naddress = "127.0.0.1"\nport = ${FAKE_PORT}\niburst = true\nminpoll = 0\nmaxpoll = 1\n` +
      '[serve]\nenabled = false\n[observe]\ncontrol-socket = false\n',
  );
  const d = await startDaemon(cfg, { logger });
  try {
    const deadline = Date.now() + 20_000;
    let step: Record<string, unknown> | undefined;
    while (step === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      step = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((o) => o.reason !== undefined && /^clock stepped/.test(String(o.msg)));
    }
    assert.ok(step !== undefined, `no step logged:\n${lines.join('')}`);
    assert.equal(step.level, 'warn');
    assert.ok(Math.abs(Number(step.offset) - 5) < 0.1, `offset ${step.offset}`);
    assert.match(String(step.msg), /^clock stepped by \+[45]\.\d{6} s: /);
    assert.equal(typeof step.reason, 'string');
    // The host clock is now ~5 s slow of ntpkit's: status, JSON, metrics and mode 6 say so.
    const snap = d.snapshot();
    const host = snap.system.hostClockOffset ?? Number.NaN;
    assert.ok(Math.abs(host - 5) < 0.1, `hostClockOffset ${host}`);
    assert.match(formatStatus(snap), /^System time\s+: [45]\.\d{9} seconds slow of ntpkit time$/m);
    assert.match(prometheusText(snap), /^ntpkit_host_clock_offset_seconds [45]\.\d+/m);
    const vars = new Map(systemVariables(snap, associationIds(snap.system.sources)));
    assert.ok(Math.abs(Number(vars.get('hostoffset')) - 5000) < 100, `hostoffset ${vars.get('hostoffset')}`);
  } finally {
    await d.stop();
    srv.close();
  }
});

test('LogLimiter: one line per source and message per interval, then the count held back', () => {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const sink: Logger = {
    debug: (msg, f = {}) => lines.push({ level: 'debug', msg, fields: f }),
    info: (msg, f = {}) => lines.push({ level: 'info', msg, fields: f }),
    warn: (msg, f = {}) => lines.push({ level: 'warn', msg, fields: f }),
    error: (msg, f = {}) => lines.push({ level: 'error', msg, fields: f }),
  };
  let now = 0;
  const lim = new LogLimiter(() => sink, { intervalMs: 60_000, now: () => now });
  for (let i = 0; i < 10; i++) {
    lim.for('a').warn('cannot resolve source; will retry', { host: 'a' });
    now += 1000;
  }
  lim.for('b').warn('cannot resolve source; will retry', { host: 'b' });
  assert.equal(lines.length, 2, 'one line for a, one for b');
  now = 61_000;
  lim.for('a').warn('cannot resolve source; will retry', { host: 'a' });
  assert.equal(lines.length, 3);
  assert.equal(lines[2]?.fields.repeated, 9);
  assert.equal(lines[2]?.fields.repeatedSeconds, 61);
  lim.for('a').warn('cannot resolve source; will retry');
  lim.clear('a');
  assert.equal(lines.at(-1)?.msg, 'repeated warnings ended');
  assert.equal(lines.at(-1)?.fields.repeated, 1);
  lim.for('a').warn('cannot resolve source; will retry');
  assert.equal(lines.at(-1)?.msg, 'cannot resolve source; will retry', 'cleared: written at once');
});

test('errno names and messages instead of numbers', async () => {
  assert.equal(errnoName(2), 'ENOENT');
  assert.equal(errnoText(13), 'EACCES (permission denied)');
  assert.equal(errnoText(99999), 'errno 99999');
  const missing = '/dev/nko-no-such-pps';
  const r = openPps(missing);
  if (r.ok) {
    r.device.close();
    assert.fail('a missing PPS device opened');
  }
  if (r.error.code === 'open')
    assert.match(r.error.message, /cannot open \/dev\/nko-no-such-pps: ENOENT \(no such file or directory\)/);
  await assert.rejects(loadConfigFile('/nonexistent/nko.toml'), (e: Error) => {
    assert.match(
      e.message,
      /\/nonexistent\/nko\.toml: cannot read the configuration file: no such file or directory \(ENOENT\)/,
    );
    return true;
  });
  assert.equal(describeIoError(new Error('plain')), 'plain');
});
