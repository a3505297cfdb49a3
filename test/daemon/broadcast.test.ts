/**
 * Broadcast server and broadcast client over loopback sockets: A (`[local] stratum 3`) broadcasts
 * mode 5 every 0.25 s to B's port; B calibrates with a few client exchanges, then follows the
 * broadcasts and synchronises (stratum 4). Ports 11251-11252.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/daemon/log.js';
import { waitFor } from '../support/peers.js';

test('broadcast client follows a broadcast server after calibrating', async () => {
  const a = await startDaemon(
    parseConfig(`[local]
stratum = 3
[[broadcast]]
address = "127.0.0.1"
port = 11252
poll = -2
[serve]
listen = ["127.0.0.2"]
port = 11251
[observe]
control-socket = false
`),
    { logger: silentLogger },
  );
  const b = await startDaemon(
    parseConfig(`[[broadcast-client]]
address = "127.0.0.2"
port = 11251
iburst = true
minpoll = -2
maxpoll = -2
[serve]
listen = ["127.0.0.1"]
port = 11252
[clock]
stepout = 2
[observe]
control-socket = false
`),
    { logger: silentLogger },
  );
  try {
    const src = () => b.snapshot().system.sources[0];
    const ok = await waitFor(
      () => {
        const s = src();
        return b.snapshot().system.synchronised && s !== undefined && s.packetsReceived >= s.packetsSent + 12;
      },
      25_000,
      200,
    );
    const s = src();
    assert.ok(ok, JSON.stringify({ ...s, filter: [] }));
    assert.equal(s?.mode, 'broadcast-client');
    assert.equal(b.snapshot().system.stratum, 4);
    // Most packets are broadcasts: the client sent only its calibration exchanges.
    const sent = s?.packetsSent ?? 0;
    await new Promise((r) => setTimeout(r, 1500));
    const later = src();
    assert.ok((later?.packetsReceived ?? 0) >= (s?.packetsReceived ?? 0) + 4, 'broadcasts keep coming');
    assert.ok((later?.packetsSent ?? 0) <= sent + 2, 'no polling while following broadcasts');
  } finally {
    await b.stop();
    await a.stop();
  }
});
