/**
 * Rejected datagrams are counted per sender and reason and logged as rate-limited summaries, never
 * one line per datagram (issue 12 item 7: 437k lines from a mutation campaign).
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { createLogger, type Logger } from '../../src/daemon/log.js';
import { RejectLog } from '../../src/daemon/reject-log.js';
import { emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';

interface Line {
  msg: string;
  level: string;
  from?: string;
  reason?: string;
  count?: number;
  others?: boolean;
  senders?: number;
}

function capture(): { lines: Line[]; logger: Logger } {
  const lines: Line[] = [];
  const logger = createLogger({ level: 'info', format: 'json' }, (l) => lines.push(JSON.parse(l) as Line));
  return { lines, logger };
}

describe('RejectLog', () => {
  it('sums per sender and reason, reports the busiest ones and the rest in one line', () => {
    const { lines, logger } = capture();
    let now = 0;
    const r = new RejectLog(logger, { maxLines: 2, now: () => now });
    for (let i = 0; i < 1000; i++) r.record('192.0.2.1', 'malformed: short');
    for (let i = 0; i < 10; i++) r.record('192.0.2.1', 'no association for mode 4');
    for (let i = 0; i < 30; i++) r.record('192.0.2.2', 'malformed: short');
    for (let i = 0; i < 5; i++) r.record(`192.0.2.${10 + i}`, 'malformed: short');
    assert.equal(lines.length, 0, 'nothing is logged per datagram');
    assert.equal(r.pending(), 1045);
    now = 2500;
    r.close();
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.slice(0, 2).map((l) => [l.msg, l.from, l.reason, l.count]),
      [
        ['rejected datagrams', '192.0.2.1', 'malformed: short', 1000],
        ['rejected datagrams', '192.0.2.2', 'malformed: short', 30],
      ],
    );
    assert.equal(lines[2]?.others, true);
    assert.equal(lines[2]?.count, 15);
    assert.equal(lines[2]?.senders, 6);
    assert.equal(r.pending(), 0);
  });

  it('a full table still counts every rejection', () => {
    const { lines, logger } = capture();
    const r = new RejectLog(logger, { maxEntries: 3, maxLines: 3 });
    for (let i = 0; i < 100; i++) r.record(`198.51.100.${i}`, 'x');
    assert.equal(r.pending(), 100);
    r.close();
    const total = lines.reduce((n, l) => n + (l.count ?? 0), 0);
    assert.equal(total, 100);
    assert.equal(lines.length, 4);
  });

  it('reports on its timer, at most once per interval', async () => {
    const { lines, logger } = capture();
    const r = new RejectLog(logger, { gatherMs: 20, intervalMs: 300 });
    r.record('203.0.113.1', 'a');
    await new Promise((res) => setTimeout(res, 80));
    assert.equal(lines.length, 1, 'first report after the gather delay');
    r.record('203.0.113.1', 'a');
    await new Promise((res) => setTimeout(res, 80));
    assert.equal(lines.length, 1, 'the next report waits for the interval');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(lines.length, 2);
    r.close();
  });
});

describe('daemon: a flood of rejected datagrams', () => {
  it('1000 rejected datagrams from one sender make a summary line, not 1000 lines', async () => {
    const { lines, logger } = capture();
    const d = await startDaemon(
      parseConfig('[serve]\nlisten = ["127.0.0.1"]\nport = 0\n[observe]\ncontrol-socket = false\n'),
      { logger },
    );
    const port = d.endpoints[0]?.port ?? 0;
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const p = emptyPacket();
    p.mode = MODE.SERVER;
    p.version = 4;
    const unsolicited = encodePacket(p);
    p.mode = MODE.SYMMETRIC_PASSIVE;
    const passive = encodePacket(p);
    try {
      for (let i = 0; i < 500; i++) {
        s.send(unsolicited, port, '127.0.0.1');
        s.send(passive, port, '127.0.0.1');
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      s.close();
      await d.stop();
    }
    const about = lines.filter((l) => /reject/.test(l.msg));
    assert.ok(
      about.length <= 4,
      `${about.length} lines about rejections:\n${JSON.stringify(about.slice(0, 5))}`,
    );
    const ours = about.filter((l) => l.from === '127.0.0.1');
    const total = ours.reduce((n, l) => n + (l.count ?? 0), 0);
    assert.ok(total >= 900 && total <= 1000, `counted ${total} of 1000 sent`);
    assert.deepEqual(new Set(ours.map((l) => l.reason)).size, 2, JSON.stringify(ours));
  });
});
