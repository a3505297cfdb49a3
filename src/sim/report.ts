/**
 * Output formatting: the text table (like chrony's simulator summary), CSV of the time series, and an
 * SVG plot of clock error against time. Pure string functions.
 */
import type { SeriesPoint, SimResult } from './types.js';

/** Formats seconds with an SI prefix: 1.23e-4 → "123.0us". */
export function fmtSeconds(s: number | null): string {
  if (s === null || Number.isNaN(s)) return '-';
  const a = Math.abs(s);
  if (a === 0) return '0';
  if (a < 1e-6) return `${(s * 1e9).toFixed(1)}ns`;
  if (a < 1e-3) return `${(s * 1e6).toFixed(1)}us`;
  if (a < 1) return `${(s * 1e3).toFixed(3)}ms`;
  return `${s.toFixed(3)}s`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

export function formatResult(r: SimResult): string {
  const lines: string[] = [];
  lines.push(
    `scenario ${r.scenario}  seed ${r.seed}  ${r.duration} s simulated, statistics after ${r.warmup} s, ${r.events} events`,
  );
  const head = [
    'node',
    'clock',
    'rms err',
    'max err',
    'mean err',
    'rms freq',
    'sync at',
    'packets',
    'mean poll',
    'steps',
  ];
  const rows = r.clients.map((c) => [
    c.node,
    c.clock,
    fmtSeconds(c.rmsError),
    fmtSeconds(c.maxError),
    fmtSeconds(c.meanError),
    Number.isNaN(c.rmsFreqError) ? '-' : `${c.rmsFreqError.toFixed(4)}ppm`,
    c.timeToSync === null ? 'never' : `${c.timeToSync.toFixed(0)}s`,
    String(c.packetsSent),
    c.meanPoll === null ? '-' : `${c.meanPoll.toFixed(1)}s`,
    String(c.steps),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  lines.push(head.map((h, i) => pad(h, widths[i] ?? 0)).join('  '));
  for (const row of rows) lines.push(row.map((v, i) => pad(v, widths[i] ?? 0)).join('  '));
  for (const c of r.clients) {
    const f = c.final;
    lines.push(
      `  ${c.node}: final ${f.clockState}${f.synchronised ? ' synchronised' : ' unsynchronised'} stratum ${f.stratum}, root delay ${fmtSeconds(f.rootDelay)}, root dispersion ${fmtSeconds(f.rootDispersion)}, poll 2^${f.poll}, freq ${f.frequencyPpm.toFixed(3)} ppm`,
    );
    if (f.sources.length > 0) {
      const srcs = f.sources.map(
        (x) => `${x.address} ${x.verdict}${x.interleaved ? ' interleaved' : ''} reach ${x.reach.toString(8)}`,
      );
      lines.push(`    sources: ${srcs.join('; ')}`);
    }
  }
  const n = r.network;
  lines.push(
    `network: ${n.sent} packets, ${n.lost} lost, ${n.duplicated} duplicated, ${n.reordered} reordered, ${n.unroutable} unroutable`,
  );
  return lines.join('\n');
}

/** JSON-safe result (NaN → null). */
export function resultToJson(r: SimResult): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

export function seriesToCsv(points: SeriesPoint[]): string {
  const out = ['time_s,node,error_s,freq_error_ppm'];
  for (const p of points) {
    out.push(
      `${p.t},${p.node},${p.error.toExponential(6)},${Number.isNaN(p.freqError) ? '' : p.freqError.toFixed(6)}`,
    );
  }
  return `${out.join('\n')}\n`;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3.5 ? 2 : n < 7.5 ? 5 : 10) * mag;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * An SVG line plot of clock error (µs) against time for each node. `from` hides the start (e.g. the
 * initial 0.1 s offset) so the steady state is readable; points are decimated to ~2000 per node.
 */
export function seriesToSvg(points: SeriesPoint[], title: string, from = 0): string {
  const W = 900;
  const H = 420;
  const L = 80;
  const R = 20;
  const T = 40;
  const B = 50;
  const byNode = new Map<string, SeriesPoint[]>();
  for (const p of points) {
    if (p.t < from) continue;
    let a = byNode.get(p.node);
    if (a === undefined) {
      a = [];
      byNode.set(p.node, a);
    }
    a.push(p);
  }
  let tMin = Number.POSITIVE_INFINITY;
  let tMax = Number.NEGATIVE_INFINITY;
  let yMin = Number.POSITIVE_INFINITY;
  let yMax = Number.NEGATIVE_INFINITY;
  for (const a of byNode.values()) {
    for (const p of a) {
      tMin = Math.min(tMin, p.t);
      tMax = Math.max(tMax, p.t);
      yMin = Math.min(yMin, p.error * 1e6);
      yMax = Math.max(yMax, p.error * 1e6);
    }
  }
  if (!Number.isFinite(tMin)) {
    tMin = 0;
    tMax = 1;
    yMin = -1;
    yMax = 1;
  }
  if (tMax === tMin) tMax = tMin + 1;
  if (yMax === yMin) {
    yMax += 1;
    yMin -= 1;
  }
  const ys = niceStep(yMax - yMin, 8);
  yMin = Math.floor(yMin / ys) * ys;
  yMax = Math.ceil(yMax / ys) * ys;
  const ts = niceStep(tMax - tMin, 10);
  const x = (t: number) => L + ((t - tMin) / (tMax - tMin)) * (W - L - R);
  const y = (v: number) => T + (1 - (v - yMin) / (yMax - yMin)) * (H - T - B);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`);
  for (let v = yMin; v <= yMax + ys / 2; v += ys) {
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${L}" y1="${yy}" x2="${W - R}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${L - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${+v.toPrecision(6)}</text>`,
    );
  }
  for (let t = Math.ceil(tMin / ts) * ts; t <= tMax; t += ts) {
    const xx = x(t).toFixed(1);
    parts.push(`<line x1="${xx}" y1="${T}" x2="${xx}" y2="${H - B}" stroke="#eee"/>`);
    parts.push(`<text x="${xx}" y="${H - B + 16}" text-anchor="middle">${+t.toPrecision(6)}</text>`);
  }
  parts.push(
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`,
  );
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">true time (s)</text>`);
  parts.push(
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">clock error (µs)</text>`,
  );
  let i = 0;
  for (const [node, a] of byNode) {
    const stride = Math.max(1, Math.ceil(a.length / 2000));
    const pts: string[] = [];
    for (let k = 0; k < a.length; k += stride) {
      const p = a[k]!;
      pts.push(`${x(p.t).toFixed(1)},${y(p.error * 1e6).toFixed(1)}`);
    }
    const color = COLORS[i % COLORS.length]!;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1" points="${pts.join(' ')}"/>`);
    parts.push(`<text x="${L + 10}" y="${T + 16 + 14 * i}" fill="${color}">${escapeXml(node)}</text>`);
    i++;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
