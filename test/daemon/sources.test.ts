/**
 * Source management of the daemon on loopback: pools (several addresses, unreachable members
 * replaced), DNS failures retried, SIGHUP-style reload keeping unchanged sources' state, and
 * mode 6 routed to the ntpq handler. A second in-process daemon with `[local] stratum` plays the
 * reachable server on 127.0.0.2; 127.0.0.3/4 answer nothing. Port 11250.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { createLogger, silentLogger } from '../../src/daemon/log.js';
import { sleep, waitFor } from '../support/peers.js';

const PORT = 11250;
const CLIENT = `
[serve]
listen = ["127.0.0.1"]
port = 0
[observe]
control-socket = false
`;

function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', format: 'json' }, (l) => {
    lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { lines, logger };
}

describe('daemon source management', () => {
  let server: Daemon | null = null;
  before(async () => {
    server = await startDaemon(
      parseConfig(
        `[local]\nstratum = 3\n[serve]\nlisten = ["127.0.0.2"]\nport = ${PORT}\n[observe]\ncontrol-socket = false\n`,
      ),
      { logger: silentLogger },
    );
  });
  after(async () => {
    await server?.stop();
  });

  it('a pool uses max-sources addresses and replaces an unreachable one', async () => {
    const { lines, logger } = capture();
    const d = await startDaemon(
      parseConfig(`${CLIENT}
[[pool]]
address = "pool.test"
port = ${PORT}
max-sources = 2
iburst = true
minpoll = -3
maxpoll = -3
unreachable-polls = 3
`),
      { logger, resolve: async () => ['127.0.0.2', '127.0.0.3', '127.0.0.4'], housekeepingInterval: 0.5 },
    );
    try {
      const ids = () =>
        d
          .snapshot()
          .system.sources.map((s) => s.address)
          .sort();
      assert.deepEqual(ids(), ['127.0.0.2', '127.0.0.3']);
      const replaced = await waitFor(() => ids().includes('127.0.0.4'), 10_000, 100);
      assert.ok(replaced, `sources ${ids().join(', ')}`);
      assert.deepEqual(ids(), ['127.0.0.2', '127.0.0.4']);
      const r = lines.find((l) => l.msg === 'pool source replaced');
      assert.equal(r?.address, '127.0.0.3');
      assert.equal(r?.reason, 'unreachable');
      const good = () => d.snapshot().system.sources.find((s) => s.address === '127.0.0.2');
      assert.ok(await waitFor(() => (good()?.reach ?? 0) > 0, 5000, 50), 'the reachable member answers');
      assert.ok(good() !== undefined, 'and is kept');
    } finally {
      await d.stop();
    }
  });

  it('a name that does not resolve is retried', async () => {
    let calls = 0;
    const d = await startDaemon(
      parseConfig(`${CLIENT}\n[[server]]\naddress = "later.test"\nport = ${PORT}\n`),
      {
        logger: silentLogger,
        housekeepingInterval: 0.2,
        resolve: async () => {
          calls++;
          if (calls < 3) throw Object.assign(new Error('ENOTFOUND later.test'), { code: 'ENOTFOUND' });
          return ['127.0.0.2'];
        },
      },
    );
    try {
      assert.equal(d.snapshot().system.sources.length, 0);
      assert.ok(await waitFor(() => d.snapshot().system.sources.length === 1, 5000, 50));
      assert.equal(d.snapshot().system.sources[0]?.name, 'later.test');
      assert.ok(calls >= 3);
    } finally {
      await d.stop();
    }
  });

  it('reload keeps the state of unchanged sources, drops removed ones, adds new ones', async () => {
    const src = (addr: string, extra = '') =>
      `[[server]]\naddress = "${addr}"\nport = ${PORT}\niburst = true\nminpoll = -3\nmaxpoll = -3\n${extra}\n`;
    const d = await startDaemon(parseConfig(`${CLIENT}${src('127.0.0.2')}${src('127.0.0.3')}`), {
      logger: silentLogger,
    });
    try {
      const get = (a: string) => d.snapshot().system.sources.find((s) => s.address === a);
      assert.ok(await waitFor(() => (get('127.0.0.2')?.packetsReceived ?? 0) >= 3, 10_000, 50));
      const before = get('127.0.0.2');
      assert.ok(before !== undefined);
      await d.reload(parseConfig(`${CLIENT}${src('127.0.0.2')}${src('127.0.0.4')}`));
      const afterReload = get('127.0.0.2');
      assert.equal(afterReload?.id, before.id);
      assert.ok((afterReload?.packetsReceived ?? 0) >= before.packetsReceived, 'counters not reset');
      assert.ok((afterReload?.reach ?? 0) !== 0, 'reach kept');
      assert.equal(get('127.0.0.3'), undefined);
      assert.ok(get('127.0.0.4') !== undefined);
      // A changed option is a different source: it restarts from scratch.
      assert.ok(await waitFor(() => (get('127.0.0.2')?.packetsReceived ?? 0) >= 12, 10_000, 50));
      await d.reload(parseConfig(`${CLIENT}${src('127.0.0.2', 'noselect = true')}${src('127.0.0.4')}`));
      await sleep(50);
      const changed = get('127.0.0.2');
      assert.equal(changed?.noselect, true);
      assert.ok((changed?.packetsReceived ?? 0) < 12, 'counters restart');
    } finally {
      await d.stop();
    }
  });

  it('mode 6 (ntpq) packets go to the control handler, not the engine', async () => {
    const d = await startDaemon(parseConfig(CLIENT), { logger: silentLogger });
    const s = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      const reply = new Promise<Buffer | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 2000);
        s.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
      });
      // READSTAT (opcode 1), sequence 7, association 0, no data.
      const req = Buffer.from([0x16, 0x01, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0]);
      s.send(req, d.endpoints[0]!.port, '127.0.0.1');
      const m = await reply;
      assert.ok(m !== null, 'no mode 6 reply');
      assert.equal(m[0]! & 7, 6);
      assert.equal(m[1]! & 0x80, 0x80, 'response bit');
      assert.equal(m.readUInt16BE(2), 7, 'sequence echoed');
      assert.equal(d.snapshot().server.requests, 0, 'not counted as an NTP request');
    } finally {
      s.close();
      await d.stop();
    }
  });
});
