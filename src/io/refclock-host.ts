/**
 * Host side of the reference clocks: opens the driver of a refclock configuration (SHM segment, PPS
 * device, NMEA serial line) and runs the driver polls (every 2^dpoll s), handing each new sample to
 * the engine (`NtpSystem.handleRefclockSample`). This is what the daemon wires in:
 *
 *   const runner = new RefclockRunner(engine, (actions) => daemon.execute(actions));
 *   const { id } = engine.addRefclock(hrtime(), cfg);
 *   const opened = runner.open(id, cfg);        // { ok: false, error } when the device is missing
 *   ...
 *   runner.stop();
 *
 * Samples are placed on process.hrtime (the daemon's raw counter) by `realtimePair()`.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import type { RawTime } from '../clock/types.js';
import { NmeaLineBuffer, nmeaSample, parseNmea } from '../refclock/nmea.js';
import type { RefclockConfig, RefclockSample } from '../refclock/types.js';
import type { Action } from '../system/types.js';
import { openPps, PpsRefclockDriver } from './pps.js';
import { attachShm, ShmRefclockDriver } from './shm.js';

/** What the runner needs from the engine. */
export interface RefclockEngine {
  handleRefclockSample(raw: RawTime, id: string, sample: RefclockSample): Action[];
}

/** A driver: `poll()` returns a new sample or why there is none. */
export interface RefclockDriver {
  poll(): { ok: true; sample: RefclockSample } | { ok: false; error: { code: string } };
  close(): void;
}

export interface RefclockOpenError {
  code: 'ffi-unavailable' | 'shmget' | 'shmat' | 'open' | 'ioctl' | 'bad-parameter';
  message: string;
}

/**
 * NMEA from a serial device (already configured, e.g. `stty -F /dev/ttyS0 9600 raw`): each RMC/ZDA
 * sentence becomes a sample stamped when its line arrived.
 */
export class NmeaRefclockDriver implements RefclockDriver {
  private readonly lines = new NmeaLineBuffer();
  private readonly queue: RefclockSample[] = [];
  private readonly stream: ReadStream;
  errors: Record<string, number> = {};

  constructor(
    path: string,
    private readonly now: () => RawTime = () => process.hrtime.bigint(),
  ) {
    this.stream = createReadStream(path, { encoding: 'latin1' });
    this.stream.on('data', (chunk) => this.push(String(chunk), this.now()));
    this.stream.on('error', (e: NodeJS.ErrnoException) => {
      this.errors[e.code ?? 'read'] = (this.errors[e.code ?? 'read'] ?? 0) + 1;
    });
  }

  /** Feeds received text (separate for tests). */
  push(text: string, raw: RawTime): void {
    for (const line of this.lines.push(text)) {
      const r = parseNmea(line);
      if (!r.ok) {
        if (r.error.code !== 'unsupported') this.errors[r.error.code] = (this.errors[r.error.code] ?? 0) + 1;
        continue;
      }
      this.queue.push(nmeaSample(raw, r.time));
      if (this.queue.length > 16) this.queue.shift();
    }
  }

  poll(): { ok: true; sample: RefclockSample } | { ok: false; error: { code: string } } {
    const s = this.queue.shift();
    return s === undefined ? { ok: false, error: { code: 'no-sentence' } } : { ok: true, sample: s };
  }

  close(): void {
    this.stream.destroy();
  }
}

/** Opens the driver a refclock configuration names. */
export function openRefclockDriver(
  cfg: RefclockConfig,
): { ok: true; driver: RefclockDriver } | { ok: false; error: RefclockOpenError } {
  switch (cfg.driver) {
    case 'SHM': {
      const unit = Number(cfg.parameter);
      if (!Number.isInteger(unit) || unit < 0 || unit > 255)
        return { ok: false, error: { code: 'bad-parameter', message: `SHM unit ${cfg.parameter}` } };
      const a = attachShm(unit, { create: true });
      return a.ok ? { ok: true, driver: new ShmRefclockDriver(a.segment) } : { ok: false, error: a.error };
    }
    case 'PPS': {
      const p = openPps(cfg.parameter);
      return p.ok ? { ok: true, driver: new PpsRefclockDriver(p.device) } : { ok: false, error: p.error };
    }
    case 'NMEA':
      try {
        return { ok: true, driver: new NmeaRefclockDriver(cfg.parameter) };
      } catch (e) {
        return { ok: false, error: { code: 'open', message: String(e) } };
      }
  }
}

/** Runs the driver polls of the open refclocks. */
export class RefclockRunner {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; driver: RefclockDriver }>();
  /** Why polls found no sample, per refclock and code. */
  readonly misses = new Map<string, Record<string, number>>();

  constructor(
    private readonly engine: RefclockEngine,
    private readonly onActions: (actions: Action[]) => void,
    private readonly now: () => RawTime = () => process.hrtime.bigint(),
  ) {}

  /** Starts polling `driver` for refclock `id` every `intervalS` seconds (2^dpoll). */
  add(id: string, driver: RefclockDriver, intervalS: number): void {
    this.remove(id);
    const miss: Record<string, number> = {};
    this.misses.set(id, miss);
    const timer = setInterval(
      () => {
        const r = driver.poll();
        if (r.ok) this.onActions(this.engine.handleRefclockSample(this.now(), id, r.sample));
        else miss[r.error.code] = (miss[r.error.code] ?? 0) + 1;
      },
      Math.max(10, intervalS * 1000),
    );
    timer.unref();
    this.timers.set(id, { timer, driver });
  }

  /** Opens the configured driver and starts it; the error says why not (the refclock stays unreachable). */
  open(id: string, cfg: RefclockConfig): { ok: true } | { ok: false; error: RefclockOpenError } {
    const d = openRefclockDriver(cfg);
    if (!d.ok) return d;
    this.add(id, d.driver, 2 ** cfg.dpoll);
    return { ok: true };
  }

  remove(id: string): void {
    const t = this.timers.get(id);
    if (t === undefined) return;
    clearInterval(t.timer);
    t.driver.close();
    this.timers.delete(id);
  }

  stop(): void {
    for (const id of [...this.timers.keys()]) this.remove(id);
  }
}
