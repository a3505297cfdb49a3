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
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
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

/**
 * One CSV file, written through a descriptor opened at start: the daemon may drop root right after
 * starting, and an open descriptor stays writable. Rotation needs write access to the directory;
 * when it fails the error is reported once and writing goes on into the current file.
 */
class CsvFile {
  private fd: number | null = null;
  private size = 0;
  private day: string | null = null;
  private rotateFailed = false;
  constructor(
    private readonly path: string,
    private readonly header: string,
    private readonly rotate: Required<StatsRotate>,
    private readonly onError: (message: string) => void,
  ) {}

  open(): string {
    if (this.fd === null) {
      const fd = openSync(this.path, 'a', 0o644);
      const st = fstatSync(fd);
      this.fd = fd;
      this.size = st.size;
      if (st.size === 0) this.append(`${this.header}\n`);
      else if (this.day === null) this.day = utcDay(st.mtimeMs / 1000);
    }
    return this.path;
  }

  write(unix: number, lines: string[]): void {
    if (lines.length === 0) return;
    this.open();
    const body = `${lines.join('\n')}\n`;
    const today = utcDay(unix);
    const hasData = this.size > this.header.length + 1;
    if (this.rotate.daily && this.day !== null && this.day !== today && hasData) {
      const day = this.day;
      this.rotateWith(() => renameSync(this.path, `${this.path}.${day}`));
    }
    this.day = today;
    if (this.rotate.maxBytes > 0 && hasData && this.size + Buffer.byteLength(body) > this.rotate.maxBytes) {
      this.rotateWith(() => this.shift());
    }
    this.append(body);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private append(text: string): void {
    if (this.fd === null) return;
    const b = Buffer.from(text);
    writeSync(this.fd, b);
    this.size += b.length;
  }

  private rotateWith(move: () => void): void {
    try {
      move();
    } catch (e) {
      if (!this.rotateFailed) {
        this.onError(
          `cannot rotate ${this.path} (still writing to it): ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      this.rotateFailed = true;
      return;
    }
    this.rotateFailed = false;
    this.close();
    this.open();
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

  constructor(
    dir: string,
    rotateOpt: StatsRotate | 'daily' | 'none' = {},
    onError: (message: string) => void = (m) => process.stderr.write(`ntpkit: ${m}\n`),
  ) {
    mkdirSync(dir, { recursive: true });
    const rotate: StatsRotate =
      rotateOpt === 'daily'
        ? { daily: true }
        : rotateOpt === 'none'
          ? { maxBytes: 0, daily: false }
          : rotateOpt;
    const r: Required<StatsRotate> = {
      maxBytes: rotate.maxBytes ?? 10 * 1024 * 1024,
      keep: rotate.keep ?? 5,
      daily: rotate.daily ?? false,
    };
    this.loop = new CsvFile(join(dir, 'loopstats.csv'), LOOPSTATS_HEADER, r, onError);
    this.peer = new CsvFile(join(dir, 'peerstats.csv'), PEERSTATS_HEADER, r, onError);
    // Open now, while the daemon may still be root.
    this.loop.open();
    this.peer.open();
  }

  /** The two files (created with their header if missing). */
  files(): string[] {
    return [this.loop.open(), this.peer.open()];
  }

  close(): void {
    this.loop.close();
    this.peer.close();
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
