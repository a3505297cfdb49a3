/**
 * Statistics files, like ntpd's loopstats and peerstats but CSV with a header line:
 *
 *   loopstats.csv  one line per clock update (when the reference time changes)
 *     time,offset_s,frequency_ppm,jitter_s,wander_ppm,poll,error_bound_s,stratum,state,sys_peer
 *   peerstats.csv  one line per valid packet of a source (when its received count grows)
 *     time,source,verdict,stratum,reach,offset_s,delay_s,dispersion_s,jitter_s,root_distance_s
 *
 * `time` is Unix seconds with microsecond digits. Rotation: by size (the file is renamed NAME.1,
 * older ones shift up to NAME.<keep>) and/or daily (renamed NAME.YYYYMMDD at the first write of a
 * new UTC day, ntpd style).
 */
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { DaemonSnapshot } from '../system/snapshot.js';

export interface StatsRotate {
  /** Rotate a file when it would grow beyond this many bytes (default 10 MiB; 0 = never). */
  maxBytes?: number;
  /** Rotated generations kept by size rotation (default 5). */
  keep?: number;
  /** Rotate at UTC midnight into NAME.YYYYMMDD (default false). */
  daily?: boolean;
}

export const LOOPSTATS_HEADER =
  'time,offset_s,frequency_ppm,jitter_s,wander_ppm,poll,error_bound_s,stratum,state,sys_peer';
export const PEERSTATS_HEADER =
  'time,source,verdict,stratum,reach,offset_s,delay_s,dispersion_s,jitter_s,root_distance_s';

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function num(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(9))) : '';
}

function utcDay(unix: number): string {
  const d = new Date(unix * 1000);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

class CsvFile {
  private day: string | null = null;
  constructor(
    private readonly path: string,
    private readonly header: string,
    private readonly rotate: Required<StatsRotate>,
  ) {}

  write(unix: number, lines: string[]): void {
    if (lines.length === 0) return;
    const body = `${lines.join('\n')}\n`;
    const today = utcDay(unix);
    if (this.rotate.daily && existsSync(this.path)) {
      const fileDay = this.day ?? utcDay(statSync(this.path).mtimeMs / 1000);
      if (fileDay !== today) renameSync(this.path, `${this.path}.${fileDay}`);
    }
    this.day = today;
    if (this.rotate.maxBytes > 0 && existsSync(this.path)) {
      const size = statSync(this.path).size;
      if (size + Buffer.byteLength(body) > this.rotate.maxBytes) this.shift();
    }
    if (!existsSync(this.path)) appendFileSync(this.path, `${this.header}\n`, { mode: 0o644 });
    appendFileSync(this.path, body);
  }

  touch(): string {
    if (!existsSync(this.path)) appendFileSync(this.path, `${this.header}\n`, { mode: 0o644 });
    return this.path;
  }

  private shift(): void {
    const keep = Math.max(1, this.rotate.keep);
    const oldest = `${this.path}.${keep}`;
    if (existsSync(oldest)) unlinkSync(oldest);
    for (let i = keep - 1; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
  }
}

export class StatsWriter {
  private readonly loop: CsvFile;
  private readonly peer: CsvFile;
  private lastRef: number | null = null;
  private readonly received = new Map<string, number>();

  constructor(dir: string, rotateOpt: StatsRotate | 'daily' | 'none' = {}) {
    mkdirSync(dir, { recursive: true });
    const rotate: StatsRotate =
      rotateOpt === 'daily' ? { daily: true } : rotateOpt === 'none' ? { maxBytes: 0, daily: false } : rotateOpt;
    const r: Required<StatsRotate> = {
      maxBytes: rotate.maxBytes ?? 10 * 1024 * 1024,
      keep: rotate.keep ?? 5,
      daily: rotate.daily ?? false,
    };
    this.loop = new CsvFile(join(dir, 'loopstats.csv'), LOOPSTATS_HEADER, r);
    this.peer = new CsvFile(join(dir, 'peerstats.csv'), PEERSTATS_HEADER, r);
  }

  /** Create both files (with their header) if missing, and return their paths. */
  files(): string[] {
    return [this.loop.touch(), this.peer.touch()];
  }

  /** Record what changed since the previous sample. */
  sample(snap: DaemonSnapshot): void {
    const sys = snap.system;
    const t = sys.time.toFixed(6);
    if (sys.referenceTime !== null && sys.referenceTime !== this.lastRef) {
      this.lastRef = sys.referenceTime;
      this.loop.write(sys.time, [
        [
          t,
          num(sys.offset),
          num(sys.frequencyPpm),
          num(sys.jitter),
          num(sys.wander),
          String(sys.poll),
          num(sys.errorBound),
          String(sys.stratum),
          csvField(sys.clockState),
          csvField(sys.sysPeer ?? ''),
        ].join(','),
      ]);
    }
    const lines: string[] = [];
    for (const s of sys.sources) {
      const before = this.received.get(s.id);
      this.received.set(s.id, s.packetsReceived);
      if (s.packetsReceived === before || s.when === null) continue;
      lines.push(
        [
          t,
          csvField(`${s.address}:${s.port}`),
          s.verdict,
          String(s.stratum),
          (s.reach & 0xff).toString(8),
          num(s.offset),
          num(s.delay),
          num(s.dispersion),
          num(s.jitter),
          num(s.rootDistance),
        ].join(','),
      );
    }
    this.peer.write(sys.time, lines);
  }
}
