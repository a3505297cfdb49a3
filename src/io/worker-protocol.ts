/**
 * What the main thread and a server worker thread (src/io/fast-worker.ts) exchange: the worker's
 * start-up data and messages, the datagrams it forwards, and the layout of its shared counter block.
 */
import type { SymmetricKey } from '../assoc/config.js';
import type { MasterKey } from '../nts/cookie.js';
import type { GuardConfig, ServerGuard } from '../serve/guard.js';
import { REJECT_REASONS } from '../serve/reasons.js';

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
  'txKernel',
  'txRejected',
  'wakeups',
  'ntsRequests',
  'ntsResponses',
  'ntsNaks',
  'ntsRejected',
  /** The basic replies' send latency (src/serve/send-latency.ts): samples, compensation, median (ns). */
  'latencySamples',
  'latencyCompensationNs',
  'latencyMedianNs',
] as const;

/**
 * After SHARED_COUNTERS in the shared block: the refusals by reason (REJECT_REASONS order), current
 * like the others, so `ntpkit status` does not wait for the worker's next report.
 */
export const SHARED_SIZE = SHARED_COUNTERS.length + REJECT_REASONS.length;
export const REASON_SLOT = new Map<string, number>(
  REJECT_REASONS.map((r, i) => [r, SHARED_COUNTERS.length + i]),
);

export interface WorkerInit {
  index: number;
  sockets: WorkerSocket[];
  published: SharedArrayBuffer;
  /** Int32: [0] stop flag, [1] NTS key changes the main thread posted so far. */
  control: SharedArrayBuffer;
  /** Float64 × SHARED_SIZE: this worker's counters, read by the main thread at any time. */
  counters: SharedArrayBuffer;
  guard: GuardConfig;
  precision: number;
  /** Serve mode 3 at all (else everything is forwarded). */
  serving: boolean;
  /** POSIX clock id of the daemon's raw counter (the published clock line and forwarded `rx`). */
  rawClock: number;
  /** The longest sleep in poll (ms): stragglers of the error queue and the statistics wait this long. */
  timeoutMs: number;
  /** An eventfd the main thread writes to after a message or the stop flag (src/io/mmsg-sys.ts WakeFd). */
  wakeFd: number;
  /** Slots of this worker's interleaved table (0: interleaved requests go to the main thread). */
  interleavedTableSize: number;
  /** The symmetric keys (`[[key]]`), for requests with a MAC. */
  keys: SymmetricKey[];
  /** The NTS cookie master keys, oldest first (null: NTS requests are forwarded). */
  ntsKeys: MasterKey[] | null;
}

/** What the main thread tells a worker after start. */
export type WorkerMessage =
  | { kind: 'reconfigure'; guard: GuardConfig; serving: boolean }
  | { kind: 'nts-keys'; keys: MasterKey[] | null }
  /** Tests: end with an uncaught exception, as a crash would (`FastServer.crashWorker`). */
  | { kind: 'crash' };

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
  /** Kernel transmit stamps stored for interleaved replies / not believed. */
  txKernel: number;
  txRejected: number;
  /** Returns from poll: datagrams, a message, or the once-a-second timeout (idle cost). */
  wakeups: number;
}

export interface WorkerStats extends WorkerCounts {
  kind: 'stats';
  worker: number;
  stats: ReturnType<ServerGuard['stats']>;
  clients: ReturnType<ServerGuard['clients']>;
}
