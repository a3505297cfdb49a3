/**
 * A paced NTP request generator in Node (for the flood test and as the fallback load generator of
 * the server benchmark). Runs as a worker thread (`workerData`: LoadgenOptions, posts a
 * LoadgenResult) or in-process through `runLoadgen`.
 *
 * Every request is a 48-byte NTPv4 mode 3 packet whose transmit timestamp carries a sequence
 * number, so each reply is matched to its request (origin timestamp) and classified: a normal
 * response, a KoD (stratum 0) with its code, or anything else. Bounded: `count` requests at most,
 * stopping after `maxSeconds`.
 */
import * as dgram from 'node:dgram';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface LoadgenOptions {
  host: string;
  port: number;
  /** Source addresses to send from (round robin), e.g. 127.0.1.x. Default: one unbound socket. */
  sources?: string[];
  count: number;
  /** Requests per second (0: as fast as possible). */
  rate: number;
  /** Hard limit on the sending time. */
  maxSeconds: number;
  /** How long to wait for late replies after the last send, ms. Default 300. */
  drainMs?: number;
  /** SO_RCVBUF / SO_SNDBUF for the generator's sockets. Default 4 MiB. */
  bufferBytes?: number;
}

export interface LoadgenResult {
  sent: number;
  replies: number;
  normal: number;
  kod: number;
  kodCodes: Record<string, number>;
  unmatched: number;
  /** Seconds spent sending. */
  sendSeconds: number;
  sendErrors: number;
}

const MAGIC = 0x6e6b6c67; // 'nklg' in the seconds field of the transmit timestamp

export async function runLoadgen(o: LoadgenOptions): Promise<LoadgenResult> {
  const family = o.host.includes(':') ? 'udp6' : 'udp4';
  const sources = o.sources !== undefined && o.sources.length > 0 ? o.sources : [undefined];
  const buf = o.bufferBytes ?? 4 * 1024 * 1024;
  const result: LoadgenResult = {
    sent: 0,
    replies: 0,
    normal: 0,
    kod: 0,
    kodCodes: {},
    unmatched: 0,
    sendSeconds: 0,
    sendErrors: 0,
  };
  const seen = new Uint8Array(o.count);
  const socks: dgram.Socket[] = [];
  for (const src of sources) {
    const s = dgram.createSocket({ type: family, recvBufferSize: buf, sendBufferSize: buf });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: src, port: 0 }, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('message', (m: Buffer) => {
      result.replies++;
      if (m.length < 48 || m.readUInt32BE(24) !== MAGIC) {
        result.unmatched++;
        return;
      }
      const seq = m.readUInt32BE(28);
      if (seq >= o.count || seen[seq] === 1) {
        result.unmatched++;
        return;
      }
      seen[seq] = 1;
      if (m[1] === 0) {
        result.kod++;
        const code = m.toString('latin1', 12, 16).replace(/\0+$/, '');
        result.kodCodes[code] = (result.kodCodes[code] ?? 0) + 1;
      } else result.normal++;
    });
    s.on('error', () => {
      result.sendErrors++;
    });
    socks.push(s);
  }
  const packet = (seq: number): Buffer => {
    const b = Buffer.alloc(48);
    b[0] = (0 << 6) | (4 << 3) | 3;
    b[2] = 6;
    b.writeUInt32BE(MAGIC, 40);
    b.writeUInt32BE(seq, 44);
    return b;
  };
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(o.maxSeconds * 1e9));
  let inflight = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = process.hrtime.bigint();
      if (now > deadline) return resolve();
      const due = o.rate > 0 ? Math.min(o.count, Math.floor((Number(now - t0) / 1e9) * o.rate) + 1) : o.count;
      // Keep the send queue short so pacing stays honest.
      let budget = 512 - inflight;
      while (result.sent < due && budget-- > 0) {
        const seq = result.sent++;
        const s = socks[seq % socks.length] as dgram.Socket;
        inflight++;
        s.send(packet(seq), o.port, o.host, (err) => {
          inflight--;
          if (err) result.sendErrors++;
        });
      }
      if (result.sent >= o.count) return resolve();
      setImmediate(tick);
    };
    tick();
  });
  result.sendSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => setTimeout(r, o.drainMs ?? 300));
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return result;
}

if (!isMainThread && parentPort !== null && workerData !== undefined) {
  const port = parentPort;
  runLoadgen(workerData as LoadgenOptions).then(
    (r) => port.postMessage({ ok: true, result: r }),
    (e: unknown) => port.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
}
