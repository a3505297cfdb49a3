/**
 * Independent measurement for interop tests: exchanges made by the test itself, stamped with the
 * daemon's clock (`d.now()`), so they do not rely on the engine's own measurement.
 */
import * as dgram from 'node:dgram';
import type { Daemon } from '../../src/daemon/daemon.js';
import { diffTimestamps, durationToSeconds, toTimestamp } from '../../src/time/ntp-time.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { sleep } from './peers.js';

export /** Offset of the server at 127.0.0.1:`port` relative to the daemon's clock (s), best of `n` by delay. */
async function measureServer(d: Daemon, port: number, n: number): Promise<{ offset: number; delay: number }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  let best = { offset: 0, delay: Number.POSITIVE_INFINITY };
  try {
    for (let i = 0; i < n; i++) {
      const p = emptyPacket();
      p.mode = MODE.CLIENT;
      p.transmitTimestamp = BigInt(i + 1) << 20n;
      const got = new Promise<{ bytes: Buffer; t4: bigint } | null>((res) => {
        const t = setTimeout(() => res(null), 1000);
        s.once('message', (m) => {
          const t4 = toTimestamp(d.now());
          clearTimeout(t);
          res({ bytes: m, t4 });
        });
      });
      const t1 = toTimestamp(d.now());
      s.send(encodePacket(p), port, '127.0.0.1');
      const r = await got;
      if (r === null) continue;
      const dec = decodePacket(new Uint8Array(r.bytes));
      if (!dec.ok) continue;
      const t2 = dec.packet.receiveTimestamp;
      const t3 = dec.packet.transmitTimestamp;
      const offset =
        (durationToSeconds(diffTimestamps(t2, t1)) + durationToSeconds(diffTimestamps(t3, r.t4))) / 2;
      const delay = durationToSeconds(diffTimestamps(r.t4, t1)) - durationToSeconds(diffTimestamps(t3, t2));
      if (delay < best.delay) best = { offset, delay };
      await sleep(20);
    }
  } finally {
    s.close();
  }
  return best;
}
