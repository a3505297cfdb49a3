import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/daemon/log.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const linux = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');

test('basic-mode replies carry a transmit time advanced by the measured send latency', {
  skip: linux ? false : 'kernel transmit stamps: Linux x64/arm64 only',
}, async () => {
  const d = await startDaemon(
    parseConfig(`
[serve]
listen = ["127.0.0.1"]
port = 0
# The node:dgram path's send-latency measurement (the batched workers stamp right before sendmmsg).
workers = 0
[local]
stratum = 1
[observe]
control-socket = false
`),
    { logger: silentLogger },
  );
  try {
    const port = d.endpoints[0]?.port ?? 0;
    // A separate process, so the client's event loop does not share the daemon's. Its requests
    // are basic mode; it stamps its own sends and receipts in the kernel (src/io/udp-query.ts).
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'query', '--json', '127.0.0.1', '-p', String(port), '-n', '40', '-i', '0.03', '-t', '1'],
      { timeout: 30_000 },
    );
    const j = JSON.parse(stdout) as { samples: { delay: number }[] };
    const ts = d.snapshot().timestamping;
    const sl = ts?.sendLatency;
    assert.ok(sl !== undefined && sl.samples >= 8 && sl.median !== null, JSON.stringify(ts));
    assert.ok(sl.compensation > 0 && sl.compensation <= (sl.median ?? 0), JSON.stringify(sl));
    // Without the compensation every T3 is early by the send latency, so the round trip the client
    // measures exceeds that latency; with it, only the spread above the lower quartile is left.
    const delays = j.samples.map((s) => s.delay).sort((a, b) => a - b);
    const median = delays[delays.length >> 1] ?? 1;
    assert.ok(
      median < (sl.median ?? 0),
      `median delay ${(median * 1e6).toFixed(1)} µs, median send latency ${((sl.median ?? 0) * 1e6).toFixed(1)} µs`,
    );
  } finally {
    await d.stop();
  }
});
