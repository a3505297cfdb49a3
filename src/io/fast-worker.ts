/**
 * A server worker thread: answers NTP requests on its own SO_REUSEPORT batch sockets.
 *
 * The loop sleeps in recvmmsg (one socket) or poll (several) until datagrams arrive, answers the
 * basic-mode client requests of the whole batch from the state the main thread published
 * (src/serve/published.ts) and sends the replies in one sendmmsg, with the transmit timestamp read
 * right before it. Its client table and rate limiter are this worker's shard: the kernel sends a
 * client's 4-tuple to the same socket every time. Everything else (MACs, NTS, extension fields,
 * requests that may ask for interleaved mode, other modes, replies to the daemon's own requests,
 * mode 6) is forwarded to the main thread with its kernel receive time; the main thread answers on
 * the same descriptor.
 *
 * The receive timestamps are the kernel's (SO_TIMESTAMPNS, CLOCK_REALTIME), turned into the raw
 * counter by their age, read once per batch: raw = rawNow − (realtimeNow − stamp).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type GuardConfig, ServerGuard } from '../serve/guard.js';
import {
  ageAt,
  clockAt,
  emptyView,
  PublishedReader,
  type Stamp,
  writeBasicReply,
  writeKissReply,
  writeTransmit,
} from '../serve/published.js';
import { libc } from './ffi.js';
import { BatchSocket } from './mmsg.js';
import { Poller } from './mmsg-sys.js';

export interface WorkerSocket {
  fd: number;
  family: 4 | 6;
  port: number;
  address: string;
}

/** The counters a worker keeps current in its shared block (Float64, in this order) after each batch. */
export const SHARED_COUNTERS = [
  'requests',
  'responses',
  'interleavedResponses',
  'kodSent',
  'rateLimited',
  'denied',
  'dropped',
  'clientsTracked',
  'batches',
  'datagrams',
  'replies',
  'forwarded',
  'sendErrors',
  'rxKernel',
  'rxFallback',
] as const;

export interface WorkerInit {
  index: number;
  sockets: WorkerSocket[];
  published: SharedArrayBuffer;
  /** Int32: [0] stop flag. */
  control: SharedArrayBuffer;
  /** Float64 × SHARED_COUNTERS.length: this worker's counters, read by the main thread at any time. */
  counters: SharedArrayBuffer;
  guard: GuardConfig;
  precision: number;
  /** Serve mode 3 at all (else everything is forwarded). */
  serving: boolean;
  /** POSIX clock id of the daemon's raw counter (the published clock line and forwarded `rx`). */
  rawClock: number;
  timeoutMs: number;
}

/** A datagram handed to the main thread. */
export interface Forwarded {
  kind: 'forward';
  worker: number;
  socket: number;
  bytes: Uint8Array;
  from: { address: string; port: number };
  to: { address: string; port: number };
  /** Raw counter (ns) at the kernel's receive time. */
  rx: bigint;
}

/** A worker's own counters (besides its guard's). */
export interface WorkerCounts {
  batches: number;
  datagrams: number;
  replies: number;
  forwarded: number;
  sendErrors: number;
  rxKernel: number;
  rxFallback: number;
}

export interface WorkerStats extends WorkerCounts {
  kind: 'stats';
  worker: number;
  stats: ReturnType<ServerGuard['stats']>;
  clients: ReturnType<ServerGuard['clients']>;
}

const MODE_CLIENT = 3;

function clockReaderParts(clock: number): (out: { sec: number; nsec: number }) => void {
  const c = libc();
  if (c === null) throw new Error('no FFI');
  const gettime = c.func<(clk: number, ts: Uint8Array) => number>(
    'int clock_gettime(int clk, _Out_ uint8_t *ts)',
  );
  const buf = new Uint8Array(16);
  const v = new DataView(buf.buffer);
  return (out) => {
    gettime(clock, buf);
    out.sec = v.getUint32(0, true) + v.getInt32(4, true) * 4294967296;
    out.nsec = v.getUint32(8, true);
  };
}

/**
 * RFC 9769: a request asks for interleaved mode with one of our receive timestamps as its origin
 * (and receive ≠ transmit). Those go to the main thread, whose server keeps the interleaved table
 * and the precise transmit times; a plain client (origin zero, as chrony's basic requests) stays
 * here.
 */
function mayAskInterleaved(d: Uint8Array): boolean {
  let origin = 0;
  for (let k = 24; k < 32; k++) origin |= d[k] ?? 0;
  if (origin === 0) return false;
  for (let k = 32; k < 40; k++) if (d[k] !== d[k + 8]) return true;
  return false;
}

function run(init: WorkerInit): void {
  const port = parentPort;
  if (port === null) throw new Error('not a worker');
  const control = new Int32Array(init.control);
  const reader = new PublishedReader(init.published);
  const view = emptyView();
  const guard = new ServerGuard({ ...init.guard, random: Math.random });
  const socks = init.sockets.map((s) => BatchSocket.adopt(s.fd, s.family, s.port, s.address));
  const poller = socks.length > 1 ? new Poller(socks.map((s) => s.fd)) : null;
  const realtime = clockReaderParts(0);
  const monotonic = clockReaderParts(init.rawClock);
  const rt = { sec: 0, nsec: 0 };
  const mono = { sec: 0, nsec: 0 };
  const txNow = { sec: 0, nsec: 0 };
  const rxStamp: Stamp = { sec: 0, frac: 0 };
  const txStamp: Stamp = { sec: 0, frac: 0 };
  const replyViews = socks.map((s) =>
    Array.from({ length: 64 }, (_, i) => new DataView(s.reply(i).buffer, s.reply(i).byteOffset, 48)),
  );
  /** Slot numbers of the basic replies queued in this batch (their transmit stamp is written last). */
  const basic = new Int32Array(64);
  const counts = {
    batches: 0,
    datagrams: 0,
    replies: 0,
    forwarded: 0,
    rxKernel: 0,
    rxFallback: 0,
  };
  let lastStats = 0;
  let lastClients = -1;
  const shared = new Float64Array(init.counters);
  const writeCounters = () => {
    const st = guard.stats();
    const all: Record<(typeof SHARED_COUNTERS)[number], number> = {
      ...counts,
      requests: st.requests,
      responses: st.responses,
      interleavedResponses: st.interleavedResponses,
      kodSent: st.kodSent,
      rateLimited: st.rateLimited,
      denied: st.denied,
      dropped: st.dropped,
      clientsTracked: st.clientsTracked,
      sendErrors: socks.reduce((a, x) => a + x.sendErrors, 0),
    };
    SHARED_COUNTERS.forEach((k, i) => {
      shared[i] = all[k];
    });
    return st.clientsTracked;
  };
  /** Estimated time sendmmsg takes per datagram (ns), to stamp each reply for its place in the batch. */
  let perReplyNs = 0;

  port.on('message', (m: { kind: string; guard?: GuardConfig; serving?: boolean }) => {
    if (m.kind === 'reconfigure' && m.guard !== undefined) {
      guard.reconfigure({ ...m.guard, random: Math.random });
      if (m.serving !== undefined) init.serving = m.serving;
    }
  });

  const postStats = (nowSec: number) => {
    lastStats = nowSec;
    lastClients = writeCounters();
    const raw = process.hrtime.bigint();
    const msg: WorkerStats = {
      kind: 'stats',
      worker: init.index,
      stats: guard.stats(),
      clients: guard.clients(raw),
      sendErrors: socks.reduce((a, s) => a + s.sendErrors, 0),
      ...counts,
    };
    port.postMessage(msg);
  };

  const serveBatch = (si: number, sock: BatchSocket, n: number) => {
    counts.batches++;
    counts.datagrams += n;
    reader.read(view);
    const rawBig = process.hrtime.bigint();
    // CLOCK_REALTIME bracketed by two monotonic reads: the pair that turns stamps into raw.
    monotonic(mono);
    realtime(rt);
    monotonic(txNow);
    const half = ((txNow.sec - mono.sec) * 1e9 + (txNow.nsec - mono.nsec)) / 2;
    mono.nsec += Math.round(half);
    if (mono.nsec >= 1e9) {
      mono.nsec -= 1e9;
      mono.sec += 1;
    }
    let queued = 0;
    for (let i = 0; i < n; i++) {
      const d = sock.datagrams[i];
      if (d === undefined) continue;
      // The raw counter at the kernel's receive time, from the stamp's age.
      let rs = mono.sec;
      let rn = mono.nsec;
      if (d.rxSec >= 0) {
        const age = (rt.sec - d.rxSec) * 1e9 + (rt.nsec - d.rxNsec);
        if (age >= 0 && age < 1e9) {
          rn -= age;
          while (rn < 0) {
            rn += 1e9;
            rs -= 1;
          }
          counts.rxKernel++;
        } else counts.rxFallback++;
      } else counts.rxFallback++;
      const data = d.data;
      const b0 = data[0] ?? 0;
      const mode = b0 & 7;
      const version = (b0 >> 3) & 7;
      if (d.length === 0) continue;
      const plain =
        init.serving &&
        view.valid &&
        mode === MODE_CLIENT &&
        version >= 1 &&
        version <= 4 &&
        d.length === 48 &&
        !mayAskInterleaved(data);
      if (!plain) {
        // The main thread's server decides (its guard, its interleaved table, MACs, NTS...).
        counts.forwarded++;
        const f: Forwarded = {
          kind: 'forward',
          worker: init.index,
          socket: si,
          bytes: data.slice(0, d.length),
          from: { address: d.from.address, port: d.from.port },
          to: { address: d.to.address, port: d.to.port },
          rx: BigInt(rs) * 1_000_000_000n + BigInt(rn),
        };
        port.postMessage(f);
        continue;
      }
      const decision = guard.check(rawBig, d.from, d.length);
      if (decision.action === 'drop') continue;
      if (decision.action === 'kod') {
        const out = replyViews[si]?.[i];
        if (out === undefined) continue;
        writeKissReply(data, out, 'RATE', init.precision);
        sock.queue(i, 48);
        continue;
      }
      const out = replyViews[si]?.[i];
      if (out === undefined) continue;
      clockAt(view, rs, rn, rxStamp);
      writeBasicReply(view, data, out, rxStamp, ageAt(view, rs, rn));
      basic[queued++] = i;
      sock.queue(i, 48);
      counts.replies++;
    }
    // Counters at once; the client list when it grew, or once a second (a status query sees it).
    if (writeCounters() !== lastClients || Date.now() / 1000 - lastStats >= 1) postStats(Date.now() / 1000);
    if (sock.pending() === 0) return;
    // Transmit timestamps as late as possible: read now, each advanced by its place in the batch.
    monotonic(txNow);
    for (let k = 0; k < queued; k++) {
      const out = replyViews[si]?.[basic[k] ?? 0];
      if (out === undefined) continue;
      const ns = txNow.nsec + k * perReplyNs;
      clockAt(view, txNow.sec, ns, txStamp);
      writeTransmit(out, txStamp);
    }
    const sent = sock.pending();
    sock.flush();
    monotonic(mono);
    const took = (mono.sec - txNow.sec) * 1e9 + (mono.nsec - txNow.nsec);
    if (sent > 1 && took > 0) perReplyNs = perReplyNs * 0.9 + (took / sent) * 0.1;
  };

  const loop = () => {
    const until = Date.now() + 50;
    while (Atomics.load(control, 0) === 0) {
      if (poller === null) {
        const sock = socks[0];
        if (sock === undefined) return;
        const n = sock.receive(true);
        if (n > 0) serveBatch(0, sock, n);
        else break;
      } else {
        if (poller.wait(init.timeoutMs) === 0) break;
        socks.forEach((s, si) => {
          if (!poller.ready(si)) return;
          const n = s.receive(false);
          if (n > 0) serveBatch(si, s, n);
        });
      }
      if (Date.now() >= until) break;
    }
    const nowSec = Date.now() / 1000;
    if (nowSec - lastStats >= 1) postStats(nowSec);
    if (Atomics.load(control, 0) !== 0) {
      // The main thread closes the descriptors once every worker has stopped.
      postStats(nowSec);
      port.close();
      return;
    }
    // Let messages from the main thread in, then go on.
    setImmediate(loop);
  };
  port.postMessage({ kind: 'ready', worker: init.index });
  loop();
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object') {
  run(workerData as WorkerInit);
}
