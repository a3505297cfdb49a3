/**
 * Statistics of a clock-error series and of a packet log, with exactly the definitions of ntpkit's
 * simulator (src/sim/simulation.ts): the error (clock − true time, s) is sampled at t = 0, 1, 2, …;
 * RMS, maximum |error| and mean over the samples with t ≥ warmup; the time to stay below the bound
 * is the first t after which every sample has |error| < bound (null when the last one does not).
 * test/bench/clknetsim.test.ts checks that these give ntpkit's own figures on ntpkit's own series.
 */

export interface SeriesStats {
  rmsError: number;
  maxError: number;
  meanError: number;
  timeToSync: number | null;
  samples: number;
}

/**
 * `errors[k]` is the error at t = k·dt (dt = 1 s for clknetsim's log.offset); samples before the
 * node's `start` are skipped, as ntpkit's simulator does.
 */
export function seriesStats(
  errors: ArrayLike<number>,
  o: { warmup: number; bound?: number; dt?: number; start?: number },
): SeriesStats {
  const { warmup, bound = 1e-3, dt = 1, start = 0 } = o;
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let maxAbs = 0;
  let lastBad = -1;
  for (let k = 0; k < errors.length; k++) {
    const e = errors[k]!;
    const t = k * dt;
    if (t < start) continue;
    if (!(Math.abs(e) < bound)) lastBad = t;
    if (t >= warmup) {
      n++;
      sum += e;
      sumSq += e * e;
      if (Math.abs(e) > maxAbs) maxAbs = Math.abs(e);
    }
  }
  const lastT = (errors.length - 1) * dt;
  const timeToSync = errors.length === 0 || lastBad === lastT ? null : lastBad < 0 ? start : lastBad + dt;
  return {
    rmsError: n > 0 ? Math.sqrt(sumSq / n) : Number.NaN,
    maxError: maxAbs,
    meanError: n > 0 ? sum / n : Number.NaN,
    timeToSync,
    samples: n,
  };
}

/** Columns of clknetsim's log.offset: one line per second (t = 0, 1, …), one column per node. */
export function parseOffsetLog(text: string, nodes: number): Float64Array[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const cols = Array.from({ length: nodes }, () => new Float64Array(lines.length));
  lines.forEach((l, k) => {
    const f = l.split('\t');
    if (f.length !== nodes)
      throw new Error(`log.offset line ${k + 1}: ${f.length} columns, expected ${nodes}`);
    for (let i = 0; i < nodes; i++) cols[i]![k] = Number(f[i]);
  });
  return cols;
}

export interface RequestStats {
  /** Requests the node sent over the whole run (lost ones included). */
  sent: number;
  /** … of which at t ≥ warmup. */
  sentInStats: number;
  /** Mean interval between requests to the same destination, both at t ≥ warmup; null if none. */
  meanPoll: number | null;
}

/**
 * Requests per node from clknetsim's log.packets (time, from, to, delay, src port, dst port,
 * subnet, length, type; one line per packet handed to the network, lost or not): a request is a
 * UDP datagram (type 1) to port 123. Replies go to the client's own port, symmetric peers send to
 * 123, as modes 1 and 3 do in ntpkit's count.
 */
export function requestStats(text: string, node: number, warmup: number): RequestStats {
  let sent = 0;
  let inStats = 0;
  let sum = 0;
  let count = 0;
  const last = new Map<string, number>();
  for (const l of text.split('\n')) {
    if (l.length === 0) continue;
    const f = l.split('\t');
    if (f.length < 9) throw new Error(`log.packets: bad line '${l}'`);
    if (Number(f[1]) !== node || f[5] !== '123' || f[8] !== '1') continue;
    const t = Number(f[0]);
    sent++;
    if (t < warmup) continue;
    inStats++;
    const prev = last.get(f[2]!);
    if (prev !== undefined) {
      sum += t - prev;
      count++;
    }
    last.set(f[2]!, t);
  }
  return { sent, sentInStats: inStats, meanPoll: count > 0 ? sum / count : null };
}
