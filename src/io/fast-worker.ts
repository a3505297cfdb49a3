/**
 * A server worker thread: answers NTP requests on its own SO_REUSEPORT batch sockets.
 *
 * The loop sleeps until datagrams arrive (one socket: in recvmmsg, its receive timeout a second;
 * several: in poll over them and an eventfd the main thread writes after a message or the stop
 * flag, a second at most), answers the
 * client requests of the whole batch from the state the main thread published
 * (src/serve/published.ts) and sends the replies in one sendmmsg, with the basic-mode transmit
 * timestamps read right before it. Its client table, rate limiter and interleaved table are this
 * worker's shard: the kernel sends a client to the same socket every time (by its source address).
 *
 * Interleaved mode (RFC 9769) is answered here too: a reply to a client that asks for it is sent
 * with a request for its kernel transmit stamp (an SO_TIMESTAMPING control message; the kernel
 * numbers the stamped datagrams, OPT_ID), the stamps are read from the error queue in batches
 * right after each sendmmsg (stragglers with the next batch or on the idle timeout), stored with
 * the exchange (src/serve/interleaved-shard.ts), and sent to the client with its next request.
 * Requests with a MAC, and NTS requests when the main thread handed over the cookie master keys
 * (`ntsKeys`, then a 'nts-keys' message after each change), are answered here by the core's code
 * (src/serve/worker-answer.ts). Everything else (other extension fields, other modes, replies to
 * the daemon's own requests, mode 6; interleaved requests too where the kernel refuses transmit
 * stamps) is forwarded to the main thread with its kernel receive time; the main thread answers on
 * the same descriptor.
 *
 * The kernel's stamps (SO_TIMESTAMPNS on receive, SCM_TIMESTAMPING on transmit, CLOCK_REALTIME)
 * are turned into the raw counter by their age, raw = rawNow − (realtimeNow − stamp), with one
 * realtime reading bracketed by two raw ones.
 */
import { randomBytes } from 'node:crypto';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { ServerGuard } from '../serve/guard.js';
import { InterleavedShard, PendingStamps, type StampOwner } from '../serve/interleaved-shard.js';
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
import { SendLatency } from '../serve/send-latency.js';
import { WorkerAnswerer } from '../serve/worker-answer.js';
import { nodeCrypto } from './crypto.js';
import { libc } from './ffi.js';
import { BatchSocket } from './mmsg.js';
import { MAX_BATCH, Poller, WakeFd } from './mmsg-sys.js';
import {
  type Forwarded,
  REASON_SLOT,
  SHARED_COUNTERS,
  type WorkerInit,
  type WorkerMessage,
  type WorkerStats,
} from './worker-protocol.js';

const MODE_CLIENT = 3;
/** What `recordResponse` is told of an interleaved reply (one object, not one per reply). */
const INTERLEAVED_RESPONSE = { interleaved: true };
const BASIC_RESPONSE = { interleaved: false };

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
 * RFC 9769: a request may ask for interleaved mode when its origin is not zero and its receive and
 * transmit timestamps differ (it asks if the origin is one of our receive timestamps). A plain
 * client (origin zero, as chrony's basic requests) never does.
 */
function mayAskInterleaved(d: Uint8Array): boolean {
  let origin = 0;
  for (let k = 24; k < 32; k++) origin |= d[k] ?? 0;
  if (origin === 0) return false;
  for (let k = 32; k < 40; k++) if (d[k] !== d[k + 8]) return true;
  return false;
}

function u32(d: Uint8Array, at: number): number {
  return (((d[at] ?? 0) << 24) | ((d[at + 1] ?? 0) << 16) | ((d[at + 2] ?? 0) << 8) | (d[at + 3] ?? 0)) >>> 0;
}

function run(init: WorkerInit): void {
  const port = parentPort;
  if (port === null) throw new Error('not a worker');
  const control = new Int32Array(init.control);
  const reader = new PublishedReader(init.published);
  const view = emptyView();
  const guard = new ServerGuard({ ...init.guard, random: Math.random });
  const socks = init.sockets.map((s) => BatchSocket.adopt(s.fd, s.family, s.port, s.address));
  // Several sockets: poll over them and, last, the eventfd the main thread wakes this worker with
  // (messages, stop). One socket: the loop blocks in recvmmsg instead (`lone` below).
  const wake = WakeFd.adopt(init.wakeFd);
  const poller = socks.length > 1 ? new Poller([...socks.map((s) => s.fd), wake.fd]) : null;
  const WAKE = socks.length;
  const realtime = clockReaderParts(0);
  const monotonic = clockReaderParts(init.rawClock);
  const rt = { sec: 0, nsec: 0 };
  const mono = { sec: 0, nsec: 0 };
  const txNow = { sec: 0, nsec: 0 };
  const rxStamp: Stamp = { sec: 0, frac: 0 };
  const txStamp: Stamp = { sec: 0, frac: 0 };
  const kernelTx: Stamp = { sec: 0, frac: 0 };
  // Interleaved mode: the table, the stamps awaited per socket, and where the kernel gives them.
  const shard = new InterleavedShard(init.interleavedTableSize);
  const pending = socks.map(() => new PendingStamps());
  const xleave = socks.map((s) => init.interleavedTableSize > 0 && s.enableTxStamps());
  const stampIds = new Uint32Array(64);
  const stampSec = new Float64Array(64);
  const stampNsec = new Float64Array(64);
  const owner: StampOwner = { slot: -1, rxSec: 0, rxFrac: 0 };
  /**
   * The basic replies' send latency: now and then (src/serve/send-latency.ts decides when) the
   * first basic reply of a batch asks for its kernel transmit stamp (owner slot PROBE); the stamp
   * minus the reading that became its transmit timestamp is one sample, and the compensation
   * (a low quantile of the recent ones) is added to the basic replies' readings, as the node:dgram
   * path does. One probe at a time; one not answered within a second is given up.
   */
  const latency = new SendLatency();
  const PROBE = -1;
  let probeAt = -1;
  let probeSince = 0;
  const answerer = new WorkerAnswerer(
    view,
    init.keys,
    nodeCrypto,
    init.interleavedTableSize,
    (k) => new Uint8Array(randomBytes(k)),
  );
  answerer.setNtsKeys(init.ntsKeys);
  const authNow = { sec: 0, nsec: 0 };
  /** CLOCK_REALTIME seconds the stamp windows count nanoseconds from. */
  let rtBase = -1;
  let generation = -1;
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
    txKernel: 0,
    txRejected: 0,
    wakeups: 0,
  };
  let lastStats = 0;
  let lastClients = -1;
  /** `counts.datagrams` at the last statistics message. */
  let statsSeen = -1;
  const shared = new Float64Array(init.counters);
  const I = Object.fromEntries(SHARED_COUNTERS.map((k, i) => [k, i])) as Record<
    (typeof SHARED_COUNTERS)[number],
    number
  >;

  const nts = answerer.ntsStats;
  /** Writes the counters into the shared block (no allocation: it runs after every batch). */
  const writeCounters = () => {
    const st = guard.liveCounters();
    let rejected = 0;
    for (const p of pending) rejected += p.rejected;
    counts.txRejected = rejected;
    let sendErrors = 0;
    for (const x of socks) sendErrors += x.sendErrors;
    const clients = guard.clientCount;
    shared[I.requests] = st.requests;
    shared[I.responses] = st.responses;
    shared[I.interleavedResponses] = st.interleavedResponses;
    shared[I.kodSent] = st.kodSent;
    shared[I.rateLimited] = st.rateLimited;
    shared[I.denied] = st.denied;
    shared[I.dropped] = st.dropped;
    shared[I.clientsTracked] = clients;
    shared[I.batches] = counts.batches;
    shared[I.datagrams] = counts.datagrams;
    shared[I.replies] = counts.replies;
    shared[I.forwarded] = counts.forwarded;
    shared[I.sendErrors] = sendErrors;
    shared[I.rxKernel] = counts.rxKernel;
    shared[I.rxFallback] = counts.rxFallback;
    shared[I.txKernel] = counts.txKernel;
    shared[I.txRejected] = counts.txRejected;
    shared[I.wakeups] = counts.wakeups;
    shared[I.ntsRequests] = nts.requests;
    shared[I.ntsResponses] = nts.responses;
    shared[I.ntsNaks] = nts.naks;
    shared[I.ntsRejected] = nts.rejected;
    const invalid = st.invalid as Record<string, number | undefined>;
    for (const k in invalid) {
      const slot = REASON_SLOT.get(k);
      if (slot !== undefined) shared[slot] = invalid[k] ?? 0;
    }
    return clients;
  };
  /** Estimated time sendmmsg takes per datagram (ns), to stamp each reply for its place in the batch. */
  let perReplyNs = 0;

  const onMessage = (m: WorkerMessage) => {
    if (m.kind === 'reconfigure') {
      guard.reconfigure({ ...m.guard, random: Math.random });
      init.serving = m.serving;
    } else if (m.kind === 'nts-keys') answerer.setNtsKeys(m.keys);
    else if (m.kind === 'crash') throw new Error('asked to end as a crash would');
  };
  port.on('message', onMessage);
  // Before an NTS request is judged: new master keys (posted before the count moves) are read now.
  let ntsChanges = -1;
  answerer.refreshKeys = () => {
    const now = Atomics.load(control, 1);
    if (now === ntsChanges) return;
    ntsChanges = now;
    for (let r = receiveMessageOnPort(port); r !== undefined; r = receiveMessageOnPort(port))
      onMessage(r.message as WorkerMessage);
  };

  const postStats = (nowSec: number) => {
    lastStats = nowSec;
    statsSeen = counts.datagrams;
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

  /** CLOCK_REALTIME bracketed by two raw reads (`mono`: their midpoint): turns stamps into raw. */
  const readPair = () => {
    monotonic(mono);
    realtime(rt);
    monotonic(txNow);
    const half = ((txNow.sec - mono.sec) * 1e9 + (txNow.nsec - mono.nsec)) / 2;
    mono.nsec += Math.round(half);
    if (mono.nsec >= 1e9) {
      mono.nsec -= 1e9;
      mono.sec += 1;
    }
    if (rtBase < 0) rtBase = rt.sec;
  };

  /**
   * Reads socket `si`'s transmit stamps from its error queue and stores each believed one with its
   * exchange, as the published clock's reading at the stamp (needs a fresh `readPair` and view).
   */
  const drainStamps = (si: number) => {
    const sock = socks[si];
    const p = pending[si];
    if (sock === undefined || p === undefined) return;
    for (let round = 0; round < 8; round++) {
      const n = sock.readStamps(stampIds, stampSec, stampNsec);
      for (let j = 0; j < n; j++) {
        const sec = stampSec[j] ?? 0;
        const ns = stampNsec[j] ?? 0;
        if (!p.match(stampIds[j] ?? 0, (sec - rtBase) * 1e9 + ns, owner)) continue;
        const age = (rt.sec - sec) * 1e9 + (rt.nsec - ns);
        if (owner.slot === PROBE) {
          if (probeAt >= 0 && age >= 0 && age < 1e9) {
            latency.add(mono.sec * 1e9 + mono.nsec - age - probeAt);
            const l = latency.stats();
            shared[I.latencySamples] = l.samples;
            shared[I.latencyCompensationNs] = l.compensationNs;
            shared[I.latencyMedianNs] = l.medianNs ?? -1;
          }
          probeAt = -1;
          continue;
        }
        if (!(age >= 0 && age < 1e9) || !view.valid) {
          p.rejected++;
          continue;
        }
        if (owner.slot < -1) {
          // An authenticated reply: the core's responder takes the raw counter at the stamp.
          const at = BigInt(mono.sec) * 1_000_000_000n + BigInt(Math.round(mono.nsec - age));
          answerer.transmitted(-owner.slot - 2, at);
          counts.txKernel++;
          continue;
        }
        clockAt(view, mono.sec, mono.nsec - age, kernelTx);
        if (shard.setTx(owner.slot, owner.rxSec, owner.rxFrac, kernelTx.sec, kernelTx.frac))
          counts.txKernel++;
      }
      if (n < 64) break;
    }
  };

  const serveBatch = (si: number, sock: BatchSocket, n: number) => {
    counts.batches++;
    counts.datagrams += n;
    reader.read(view);
    if (view.generation !== generation) {
      // A clock step: the stored transmit times are on the old clock.
      if (generation !== -1) shard.clear();
      generation = view.generation;
    }
    const now = guard.secondsAt(process.hrtime.bigint());
    readPair();
    const p = pending[si];
    const x = xleave[si] === true && p !== undefined;
    if (x) {
      if (p.outstanding() > 0) drainStamps(si);
      p.begin((rt.sec - rtBase) * 1e9 + rt.nsec);
    }
    let stamped = 0;
    let queued = 0;
    // A send-latency probe in this batch (its first basic reply), when one is due.
    const batchAt = mono.sec * 1e9 + mono.nsec;
    if (probeAt >= 0 && batchAt - probeSince > 1e9) probeAt = -1;
    let probe = x && probeAt < 0 && latency.wantSample(batchAt);
    let probed = false;
    answerer.prepareNts(sock.datagrams, n);
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
      const client = init.serving && view.valid && mode === MODE_CLIENT && version >= 1 && version <= 4;
      const plain = client && d.length === 48 && (x || !mayAskInterleaved(data));
      // NTS of the common shape, not asking for interleaving: cookies opened (prepareNts), answered
      // and sealed (finishNts) in place.
      const nts = client && d.length > 48 && answerer.takesNts(i);
      // A MAC (and no extension field), or other NTS: answered here with the core's responder.
      let signed =
        !nts && client && d.length > 48 && (d.length <= 120 || answerer.nts)
          ? answerer.decode(data.subarray(0, d.length))
          : null;
      if (!plain && !nts && signed === null) {
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
      const decision = guard.checkAt(now, d.from, d.length);
      if (decision.action === 'drop') continue;
      if (decision.action === 'kod') {
        const out = replyViews[si]?.[i];
        if (out === undefined) continue;
        writeKissReply(data, out, 'RATE', init.precision);
        sock.queue(i, 48);
        continue;
      }
      if (nts) {
        monotonic(authNow);
        const out = replyViews[si]?.[i];
        const n =
          out === undefined
            ? 0
            : answerer.answerNts(i, data, d.from, rs, rn, authNow.sec, authNow.nsec, sock.reply(i), out);
        if (n > 0) {
          guard.recordResponse(d.from, BASIC_RESPONSE);
          sock.queue(i, n);
          counts.replies++;
          continue;
        }
        // Not answered in place (an NTS NAK, a drop...): the core's responder decides.
        signed = answerer.decode(data.subarray(0, d.length));
        if (signed === null) continue;
      }
      if (signed !== null) {
        monotonic(authNow);
        const a = answerer.answer(
          signed,
          data.subarray(0, d.length),
          d.from,
          d.to,
          BigInt(rs) * 1_000_000_000n + BigInt(rn),
          BigInt(authNow.sec) * 1_000_000_000n + BigInt(authNow.nsec),
        );
        if (a.kind !== 'reply' || a.bytes === undefined) {
          guard.recordUnanswered(d.from, a.kind === 'none' ? a.reason : 'no-response', false);
          continue;
        }
        if (!a.authenticated && a.bytes.length > d.length) {
          guard.recordUnanswered(d.from, 'amplification', false);
          continue;
        }
        guard.recordResponse(d.from, { interleaved: a.interleaved });
        if (a.nak !== undefined) guard.recordInvalid(a.nak, false);
        sock.reply(i).set(a.bytes);
        const stamp = a.txId !== undefined && x;
        sock.queue(i, a.bytes.length, stamp);
        if (stamp && p !== undefined) {
          p.add(-(a.txId ?? 0) - 2, 0, 0);
          stamped++;
        }
        counts.replies++;
        continue;
      }
      const out = replyViews[si]?.[i];
      if (out === undefined) continue;
      clockAt(view, rs, rn, rxStamp);
      writeBasicReply(view, data, out, rxStamp, ageAt(view, rs, rn));
      counts.replies++;
      if (!x) {
        basic[queued++] = i;
        sock.queue(i, 48);
        continue;
      }
      // RFC 9769: the origin is our receive timestamp of this client's previous request.
      const prev = mayAskInterleaved(data) ? shard.find(d.from.address, u32(data, 24), u32(data, 28)) : -1;
      let interleaved = false;
      if (prev >= 0 && shard.hasTx(prev)) {
        // Interleaved: origin = the request's receive timestamp, transmit = the kernel's transmit
        // time of our previous reply.
        for (let k = 0; k < 8; k++) out.setUint8(24 + k, data[32 + k] ?? 0);
        out.setUint32(40, shard.txSec(prev), false);
        out.setUint32(44, shard.txFrac(prev), false);
        interleaved = true;
        guard.recordResponse(d.from, INTERLEAVED_RESPONSE);
      }
      const slot = shard.save(d.from.address, rxStamp.sec, rxStamp.frac);
      // Only clients that ask for interleaving will want this reply's precise transmit time.
      const stamp = prev >= 0 && slot >= 0;
      const measure = probe && !interleaved && !stamp && queued === 0;
      if (!interleaved) basic[queued++] = i;
      sock.queue(i, 48, stamp || measure);
      if (stamp) {
        p.add(slot, rxStamp.sec, rxStamp.frac);
        stamped++;
      } else if (measure) {
        p.add(PROBE, 0, 0);
        stamped++;
        probe = false;
        probed = true;
      }
    }
    // Counters at once; the client list (a status query sees it) when it grew, at most every
    // 100 ms, else once a second (from the loop).
    answerer.finishNts();
    if (writeCounters() !== lastClients && Date.now() / 1000 - lastStats >= 0.1) postStats(Date.now() / 1000);
    if (sock.pending() === 0) return;
    // Transmit timestamps as late as possible: read now, each advanced by its place in the batch.
    monotonic(txNow);
    if (probed) {
      probeAt = txNow.sec * 1e9 + txNow.nsec;
      probeSince = probeAt;
      latency.begin(probeAt);
    }
    const ahead = x ? latency.compensationNs() : 0;
    for (let k = 0; k < queued; k++) {
      const out = replyViews[si]?.[basic[k] ?? 0];
      if (out === undefined) continue;
      const ns = txNow.nsec + ahead + k * perReplyNs;
      clockAt(view, txNow.sec, ns, txStamp);
      writeTransmit(out, txStamp);
    }
    const sent = sock.pending();
    sock.flush();
    monotonic(mono);
    const took = (mono.sec - txNow.sec) * 1e9 + (mono.nsec - txNow.nsec);
    if (sent > 1 && took > 0) perReplyNs = perReplyNs * 0.9 + (took / sent) * 0.1;
    if (stamped === 0 || p === undefined) return;
    if (sock.stampCountUncertain) {
      // A datagram of the batch failed: the kernel's numbering may have moved past ours.
      p.restart();
      xleave[si] = sock.resetTxStamps();
      return;
    }
    // The stamps of this batch are normally queued by now: read them while they are fresh.
    readPair();
    p.sent((rt.sec - rtBase) * 1e9 + rt.nsec);
    drainStamps(si);
  };

  /** Stamps that came after their batch (a queueing driver), on the idle timeout. */
  const drainLate = (si: number) => {
    if ((pending[si]?.outstanding() ?? 0) === 0) return;
    reader.read(view);
    readPair();
    drainStamps(si);
  };

  const lone = poller === null ? socks[0] : undefined;
  const loop = () => {
    const until = Date.now() + 50;
    while (Atomics.load(control, 0) === 0) {
      if (lone !== undefined) {
        // One socket: block in recvmmsg itself (one system call a batch, as many as poll would
        // add); its receive timeout is the idle wake-up, stop shuts its reading down, and
        // messages are read between rounds (a reload within a second; NTS keys when used).
        const n = lone.receive(true);
        shared[I.wakeups] = ++counts.wakeups;
        if (n > 0) serveBatch(0, lone, n);
        else {
          drainLate(0);
          break;
        }
        if (Date.now() >= until) break;
        continue;
      }
      if (poller === null) return;
      const ready = poller.wait(init.timeoutMs);
      shared[I.wakeups] = ++counts.wakeups;
      if (ready === 0) {
        for (let si = 0; si < socks.length; si++) drainLate(si);
        break;
      }
      for (let si = 0; si < socks.length; si++) {
        const s = socks[si];
        if (s === undefined || !poller.ready(si)) continue;
        let n = s.receive(false);
        if (n === 0) {
          // Readable with nothing to read: the error queue (poll reports it as POLLERR).
          reader.read(view);
          readPair();
          drainStamps(si);
          continue;
        }
        // After a full batch more are likely queued: read on without another poll.
        for (;;) {
          serveBatch(si, s, n);
          if (n < MAX_BATCH) break;
          n = s.receive(false);
          if (n === 0) break;
        }
      }
      if (poller.ready(WAKE)) {
        // A message or the stop flag: back to the event loop, which delivers the messages.
        wake.clear();
        break;
      }
      if (Date.now() >= until) break;
    }
    const nowSec = Date.now() / 1000;
    // The client list again once a second while requests come in (the main thread ages the rows
    // itself), and not at all while none do: an idle worker sends nothing.
    const seen = counts.datagrams;
    if (
      (seen !== statsSeen && nowSec - lastStats >= 1) ||
      (guard.clientCount !== lastClients && nowSec - lastStats >= 0.1)
    )
      postStats(nowSec);
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
