/**
 * `[clock] system-clock` against a model of the Linux kernel clock (src/clock/kernel-model.ts):
 * the host clock is never touched. The model's realtime starts 0.5 s behind; once the daemon is
 * synchronised to a server serving true time, the driver steps the model's clock onto it.
 * Unprivileged, the driver leaves it alone. Port 11256 (server on 127.0.0.2).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KernelClockModel } from '../../src/clock/kernel-model.js';
import { parseConfig } from '../../src/config/parse.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { createLogger, silentLogger } from '../../src/daemon/log.js';
import { modelKernel } from '../../src/io/sysclock.js';
import { waitFor } from '../support/peers.js';

const PORT = 11256;
const CLIENT = `
[[server]]
address = "127.0.0.2"
port = ${PORT}
iburst = true
minpoll = -3
maxpoll = -3
[serve]
enabled = false
listen = ["127.0.0.1"]
[clock]
system-clock = true
stepout = 1
[observe]
control-socket = false
`;

function hostUnixNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

describe('system clock driver (kernel model)', () => {
  let server: Daemon | null = null;
  before(async () => {
    server = await startDaemon(
      parseConfig(
        `[local]\nstratum = 2\n[serve]\nlisten = ["127.0.0.2"]\nport = ${PORT}\n[observe]\ncontrol-socket = false\n`,
      ),
      { logger: silentLogger },
    );
  });
  after(async () => {
    await server?.stop();
  });

  it('steps the (model) kernel clock onto the synchronised software clock', async () => {
    const hw = () => process.hrtime.bigint();
    const model = new KernelClockModel({ hw: hw(), realtime: hostUnixNs() - 500_000_000n, privileged: true });
    const lines: string[] = [];
    const d = await startDaemon(parseConfig(CLIENT), {
      kernel: modelKernel(model, hw),
      logger: createLogger({ level: 'info', format: 'json' }, (l) => lines.push(l)),
    });
    try {
      const before = Number(model.realtime(hw()) - hostUnixNs()) / 1e9;
      assert.ok(Math.abs(before + 0.5) < 0.05, `model starts 0.5 s behind (${before})`);
      const ok = await waitFor(
        () => Math.abs(Number(model.realtime(hw()) - hostUnixNs()) / 1e9) < 0.02,
        20_000,
        100,
      );
      assert.ok(
        ok,
        `model still off by ${Number(model.realtime(hw()) - hostUnixNs()) / 1e9} s\n${lines.join('')}`,
      );
      assert.ok(lines.some((l) => l.includes('"system clock stepped"')));
      assert.ok(lines.some((l) => l.includes('the host clock follows the software clock')));
    } finally {
      await d.stop();
    }
  });

  it('without privileges the kernel clock is left alone', async () => {
    const hw = () => process.hrtime.bigint();
    const model = new KernelClockModel({
      hw: hw(),
      realtime: hostUnixNs() - 500_000_000n,
      privileged: false,
    });
    const lines: string[] = [];
    const d = await startDaemon(parseConfig(CLIENT), {
      kernel: modelKernel(model, hw),
      logger: createLogger({ level: 'info', format: 'json' }, (l) => lines.push(l)),
    });
    try {
      await waitFor(() => d.snapshot().system.synchronised, 15_000, 100);
      await new Promise((r) => setTimeout(r, 1500));
      const off = Number(model.realtime(hw()) - hostUnixNs()) / 1e9;
      assert.ok(Math.abs(off + 0.5) < 0.05, `model moved: ${off}`);
      assert.ok(lines.some((l) => l.includes('not adjusting the host clock')));
    } finally {
      await d.stop();
    }
  });
});
