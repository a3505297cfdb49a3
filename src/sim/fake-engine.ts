/**
 * A tiny stand-in engine for testing the simulator's plumbing without the real NtpSystem: a server
 * that answers mode 3 with mode 4, and a client that polls every 2^poll s and steps its clock by the
 * measured offset ((T2 − T1) + (T3 − T4)) / 2 after every exchange. It implements `NtpEngine` with
 * the NTP header layout (timestamps at bytes 24, 32, 40) written by hand, so it depends on nothing
 * but the contracts.
 */
import type { ClockListener, LocalClock, RawTime } from '../clock/types.js';
import type { Answer } from '../serve/answer.js';
import type { ServeEngine } from '../serve/server.js';
import type { SystemSnapshot } from '../system/snapshot.js';
import type { Action, Endpoint, NtpEngine, SourceConfig } from '../system/types.js';
import { durationToSeconds, type NtpTime, nsToDuration, secondsToDuration } from '../time/ntp-time.js';

/** raw → time0 + (raw − raw0) + offset. */
export class FakeClock implements LocalClock {
  offset: NtpTime = 0n;
  private readonly listeners = new Set<ClockListener>();
  constructor(
    private readonly raw0: RawTime,
    private readonly time0: NtpTime,
  ) {}
  read(raw: RawTime): NtpTime {
    return this.time0 + nsToDuration(raw - this.raw0) + this.offset;
  }
  errorBound(): number {
    return Number.POSITIVE_INFINITY;
  }
  frequencyPpm(): number {
    return 0;
  }
  onChange(l: ClockListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  step(raw: RawTime, offset: number): void {
    this.offset += secondsToDuration(offset);
    for (const l of this.listeners) l({ kind: 'step', raw, offset });
  }
}

function put64(b: Uint8Array, at: number, v: bigint): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(at, BigInt.asUintN(64, v));
}
function get64(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at);
}

export class FakeEngine implements NtpEngine, ServeEngine {
  readonly clock: FakeClock;
  private readonly sources: SourceConfig[] = [];
  private nextPoll: RawTime | null = null;
  private readonly pending = new Map<string, bigint>();
  offsets: number[] = [];
  sent = 0;

  constructor(
    raw0: RawTime,
    time0: NtpTime,
    private readonly pollExp = 4,
    /** Step the clock by each measured offset (false: measure only). */
    private readonly correct = true,
  ) {
    this.clock = new FakeClock(raw0, time0);
  }

  start(raw: RawTime): Action[] {
    this.nextPoll = raw;
    return [{ kind: 'timer', at: raw }];
  }

  addSource(raw: RawTime, cfg: SourceConfig): { id: string; actions: Action[] } {
    this.sources.push(cfg);
    return {
      id: `${cfg.address}:${cfg.port}`,
      actions: this.nextPoll === null ? [] : [{ kind: 'timer', at: raw }],
    };
  }

  removeSource(): Action[] {
    return [];
  }

  handleTimer(raw: RawTime): Action[] {
    const out: Action[] = [];
    for (const s of this.sources) {
      const b = new Uint8Array(48);
      b[0] = (4 << 3) | 3;
      const t1 = this.clock.read(raw);
      put64(b, 40, t1);
      this.pending.set(`${s.address}:${s.port}`, BigInt.asUintN(64, t1));
      out.push({ kind: 'send', to: { address: s.address, port: s.port }, bytes: b });
      this.sent++;
    }
    this.nextPoll = raw + (1_000_000_000n << BigInt(this.pollExp));
    out.push({ kind: 'timer', at: this.nextPoll });
    return out;
  }

  /** The server side (through the simulator's NtpServer): a stratum 1 answer, rx = tx. */
  answerRequest(raw: RawTime, _now: RawTime, _pkt: unknown, bytes: Uint8Array, from: Endpoint): Answer {
    const rx = this.clock.read(raw);
    const r = new Uint8Array(48);
    r[0] = (4 << 3) | 4;
    r[1] = 1;
    put64(r, 24, get64(bytes, 40));
    put64(r, 32, rx);
    put64(r, 40, rx);
    return {
      kind: 'reply',
      send: { kind: 'send', to: from, bytes: r },
      authenticated: false,
      interleaved: false,
    };
  }

  /** No symmetric or broadcast modes. */
  packetTarget(): 'none' {
    return 'none';
  }

  handlePacket(raw: RawTime, bytes: Uint8Array, from: Endpoint): Action[] {
    if (bytes.length < 48) return [];
    const mode = (bytes[0] ?? 0) & 7;
    if (mode === 3) {
      const a = this.answerRequest(raw, raw, null, bytes, from);
      return a.kind === 'reply' ? [a.send] : [];
    }
    if (mode === 4) {
      const key = `${from.address}:${from.port}`;
      const t1 = this.pending.get(key);
      if (t1 === undefined || get64(bytes, 24) !== t1) return [];
      this.pending.delete(key);
      const t4 = BigInt.asUintN(64, this.clock.read(raw));
      const t2 = get64(bytes, 32);
      const t3 = get64(bytes, 40);
      const offset = durationToSeconds(BigInt.asIntN(64, t2 - t1) + BigInt.asIntN(64, t3 - t4)) / 2;
      this.offsets.push(offset);
      if (this.correct) this.clock.step(raw, offset);
    }
    return [];
  }

  handleTransmitted(): Action[] {
    return [];
  }

  snapshot(raw: RawTime): SystemSnapshot {
    return {
      time: 0,
      clock: 'rfc5905',
      clockState: 'FAKE',
      synchronised: this.offsets.length > 0,
      leap: 0,
      stratum: this.sources.length > 0 ? 2 : 1,
      refid: 'FAKE',
      referenceTime: null,
      rootDelay: 0,
      rootDispersion: 0,
      rootDistance: 0,
      offset: this.offsets[this.offsets.length - 1] ?? 0,
      frequencyPpm: 0,
      jitter: 0,
      wander: 0,
      poll: this.pollExp,
      precision: -30,
      errorBound: this.clock.errorBound(),
      sysPeer: null,
      sources: [],
      extra: { raw: Number(raw % 1_000_000n) },
    };
  }
}
