/**
 * Text tables of the daemon snapshot for the CLI (`ntpkit status|sources|source|clients`), shaped so
 * that an ntpq or chronyc user reads them at a glance. Pure functions of the snapshot: ages are
 * computed from the snapshot itself, so the output is reproducible (golden tests).
 */

import { leapListText } from '../system/leap-control.js';
import type { ClientSnapshot, DaemonSnapshot, SelectionVerdict, SourceSnapshot } from '../system/snapshot.js';

/** Selection symbol per verdict (chronyc sources / ntpq -p tally codes). */
export const VERDICT_SYMBOL: Record<SelectionVerdict, string> = {
  'sys-peer': '*',
  combined: '+',
  outlier: '-',
  falseticker: 'x',
  jittery: '~',
  excess: '.',
  unreachable: '?',
  'bad-distance': '?',
  unsynchronised: '?',
  'bad-stratum': '?',
  loop: '?',
  noselect: ' ',
  pending: '?',
};

export const MODE_SYMBOL: Record<SourceSnapshot['mode'], string> = {
  server: '^',
  peer: '=',
  passive: 'P',
  'broadcast-client': 'B',
  refclock: '#',
};

/** Signed interval with an adaptive unit, e.g. "+12.3us", "-1.234ms", "+2.500s". */
export function fmtSigned(s: number): string {
  if (!Number.isFinite(s)) return '-';
  const sign = s < 0 ? '-' : '+';
  return sign + fmtAbs(Math.abs(s));
}

/** Unsigned interval with an adaptive unit: "12.3us", "1.234ms", "2.500s". */
export function fmtAbs(s: number): string {
  if (!Number.isFinite(s)) return '-';
  const a = Math.abs(s);
  if (a < 1e-6 && a !== 0) return `${(a * 1e9).toFixed(0)}ns`;
  if (a < 1e-3) return `${(a * 1e6).toFixed(1)}us`;
  if (a < 1) return `${(a * 1e3).toFixed(3)}ms`;
  return `${a.toFixed(3)}s`;
}

/** Age like ntpq's "when": seconds, then m/h/d. */
export function fmtAge(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  const r = Math.max(0, Math.round(s));
  if (r <= 2048) return String(r);
  if (r < 300 * 60) return `${Math.round(r / 60)}m`;
  if (r < 96 * 3600) return `${Math.round(r / 3600)}h`;
  return `${Math.round(r / 86400)}d`;
}

export function fmtPoll(exp: number): string {
  const s = 2 ** exp;
  return s >= 1 ? fmtAge(s) : s.toFixed(2);
}

export function reachOctal(r: number): string {
  return (r & 0xff).toString(8).padStart(3, '0');
}

function isoUtc(unix: number): string {
  return new Date(Math.round(unix * 1000)).toISOString().replace('T', ' ').replace('Z', ' UTC');
}

function sourceLabel(s: SourceSnapshot): string {
  const base =
    s.port === 123
      ? s.address
      : s.address.includes(':')
        ? `[${s.address}]:${s.port}`
        : `${s.address}:${s.port}`;
  return s.name !== null && s.name !== s.address ? `${s.name} (${base})` : base;
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => ((align[i] ?? 'l') === 'l' ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join(' ')
      .trimEnd();
  const out = [line(header), '='.repeat(line(header).length)];
  for (const r of rows) out.push(line(r));
  return out;
}

// ---------------------------------------------------------------------------------------------

/** chronyc's wording: "2.500012 seconds slow of ntpkit time" (host clock behind ours). */
export function hostClockText(offset: number): string {
  return `${Math.abs(offset).toFixed(9)} seconds ${offset >= 0 ? 'slow' : 'fast'} of ntpkit time`;
}

/**
 * "insert second at 2016-12-31T23:59:60Z (3 of 4 sources, leap list agrees)", or what is served
 * when no leap is scheduled (none / unsynchronised), with the leap mode when it is not 'step'.
 */
export function leapStatusText(s: DaemonSnapshot['system']): string {
  const p = s.leapPending;
  const mode =
    s.leapMode !== undefined && s.leapMode !== 'step'
      ? `; ${s.leapMode} mode${s.smearing === true ? ', smearing now' : ''}`
      : '';
  if (p !== undefined && p !== null) {
    const list = leapListText(p.list);
    return `${p.kind} second at ${p.at} (${p.votes} of ${p.sources} sources, ${list}${mode})`;
  }
  const base = ['none', 'insert second', 'delete second', 'unsynchronised'][s.leap & 3] ?? String(s.leap);
  return `${base}${mode}`;
}

export function formatStatus(snap: DaemonSnapshot): string {
  const s = snap.system;
  const peer = s.sources.find((x) => x.id === s.sysPeer) ?? null;
  const leap = leapStatusText(s);
  const rows: [string, string][] = [
    ['Synchronised', s.synchronised ? 'yes' : 'no'],
    ['Clock', `${s.clock} (${s.clockState})`],
    ['System peer', peer === null ? '-' : sourceLabel(peer)],
    ['Reference ID', s.refid],
    ['Stratum', String(s.stratum)],
    ['Leap status', leap],
    ...(s.taiUtc === undefined
      ? []
      : ([['TAI-UTC', s.taiUtc === null ? '-' : `${s.taiUtc} s`]] as [string, string][])),
    ...(s.orphan === undefined || s.orphan === null
      ? []
      : ([
          [
            'Orphan mode',
            `stratum ${s.orphan.stratum}, ${s.orphan.active ? `active (parent ${s.orphan.parent ?? 'us'})` : 'standing by'}`,
          ],
        ] as [string, string][])),
    [
      'Ref time (UTC)',
      s.referenceTime === null
        ? '-'
        : `${isoUtc(s.referenceTime)} (${fmtAge(s.time - s.referenceTime)} s ago)`,
    ],
    ['Last offset', `${fmtSigned(s.offset)} (positive: our clock was behind)`],
    ...(s.hostClockOffset === undefined
      ? []
      : [['System time', hostClockText(s.hostClockOffset)] as [string, string]]),
    ['Frequency', `${s.frequencyPpm >= 0 ? '+' : ''}${s.frequencyPpm.toFixed(3)} ppm`],
    ['Jitter', fmtAbs(s.jitter)],
    ['Wander', `${s.wander.toFixed(4)} ppm`],
    ['Root delay', fmtAbs(s.rootDelay)],
    ['Root dispersion', fmtAbs(s.rootDispersion)],
    ['Root distance', fmtAbs(s.rootDistance)],
    [
      'Error bound',
      Number.isFinite(s.errorBound) ? `+/- ${fmtAbs(s.errorBound)}` : 'unbounded (never synchronised)',
    ],
    ['Poll interval', `${fmtPoll(s.poll)} s (2^${s.poll})`],
    ['Precision', `2^${s.precision} (${fmtAbs(2 ** s.precision)})`],
    ['Sources', `${s.sources.length} (${s.sources.filter((x) => x.reach !== 0).length} reachable)`],
    [
      'Server',
      `${snap.server.requests} requests, ${snap.server.kodSent} KoD, ${snap.server.dropped + snap.server.rateLimited + snap.server.denied} dropped, ${snap.server.clientsTracked} clients`,
    ],
    ['Daemon', `ntpkit ${snap.version}, up ${fmtUptime(snap.uptime)}`],
  ];
  const ts = snap.timestamping;
  if (ts !== undefined)
    rows.splice(rows.length - 1, 0, [
      'Timestamping',
      `${ts.mode} (receive: ${ts.rxKernel} kernel, ${ts.rxUser} user; transmit: ${ts.txKernel} kernel, ${ts.txUser} user)`,
    ]);
  const tr = snap.transport;
  if (tr !== undefined)
    rows.splice(rows.length - 1, 0, [
      'Transport',
      tr.kind === 'batched'
        ? `batched (recvmmsg/sendmmsg), ${tr.workers} worker${tr.workers === 1 ? '' : 's'}; ${tr.datagrams} datagrams in ${tr.batches} batches, ${tr.forwarded} forwarded, ${tr.sendErrors} send errors${tr.nts === undefined ? '' : `; NTS in the workers: ${tr.nts.responses} replies, ${tr.nts.naks} NAKs`}`
        : `node:dgram (${tr.reason})`,
    ]);
  const sl = ts?.sendLatency;
  if (sl !== undefined)
    rows.splice(rows.length - 1, 0, [
      'Send latency',
      sl.samples === 0 || sl.median === null
        ? 'not measured yet (no basic-mode replies sent)'
        : `${fmtAbs(sl.median)} median of recent sends; basic replies' transmit time +${fmtAbs(sl.compensation)}`,
    ]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return `${rows.map(([k, v]) => `${k.padEnd(w)} : ${v}`).join('\n')}\n`;
}

function fmtUptime(s: number): string {
  const t = Math.max(0, Math.floor(s));
  const d = Math.floor(t / 86400);
  const h = Math.floor((t % 86400) / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m ${sec}s` : `${m}m ${sec}s`;
}

export const SOURCES_LEGEND = [
  '.-- Selection: * system peer, + combined, - outlier (not clustered), x falseticker,',
  '|               ~ too jittery, . excess (beyond maxclock), ? unusable (see the reasons below)',
  '|.-- Mode: ^ server, = symmetric peer, P passive peer, B broadcast',
  '||   Reach: the last 8 polls as an octal shift register (377 = all answered)',
  '||   When/Poll: seconds since the last valid packet / poll interval (s)',
  '||   Offset: positive = the source is ahead of us. Delay: round trip.',
];

export function formatSources(snap: DaemonSnapshot, verbose: boolean): string {
  const rows = snap.system.sources.map((s) => [
    `${VERDICT_SYMBOL[s.verdict]}${MODE_SYMBOL[s.mode]}`,
    sourceLabel(s),
    String(s.stratum),
    s.refid,
    reachOctal(s.reach),
    `${fmtAge(s.when)}/${fmtPoll(s.poll)}`,
    fmtSigned(s.offset),
    fmtAbs(s.delay),
    fmtAbs(s.jitter),
    `${s.verdict}${s.interleaved ? ' xleave' : ''}${s.auth === 'ok' ? (s.authMethod === 'nts' ? ' nts' : ' auth') : s.auth === 'failed' ? ' AUTH-FAIL' : ''}`,
  ]);
  const lines = table(
    ['SM', 'Source', 'St', 'Refid', 'Reach', 'When/Poll', 'Offset', 'Delay', 'Jitter', 'Verdict'],
    rows,
    ['l', 'l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
  const out: string[] = [];
  if (verbose) out.push(...SOURCES_LEGEND);
  out.push(...lines);
  if (snap.system.sources.length === 0) out.push('(no sources)');
  if (verbose) {
    for (const s of snap.system.sources) {
      if (s.verdictReason !== '')
        out.push(`${VERDICT_SYMBOL[s.verdict]} ${sourceLabel(s)}: ${s.verdictReason}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** Find a source by id, address, address:port, [v6]:port or name. */
export function findSource(snap: DaemonSnapshot, query: string): SourceSnapshot | null {
  const q = query.trim();
  const all = snap.system.sources;
  return (
    all.find((s) => s.id === q) ??
    all.find((s) => `${s.address}:${s.port}` === q || `[${s.address}]:${s.port}` === q) ??
    all.find((s) => s.address === q) ??
    all.find((s) => s.name === q) ??
    null
  );
}

export function formatSource(s: SourceSnapshot): string {
  const rejected = Object.entries(s.rejected)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const count = popcount(s.reach & 0xff);
  const rows: [string, string][] = [
    ['Source', sourceLabel(s)],
    ['ID', s.id],
    [
      'Mode',
      `${s.mode}${s.interleaved ? ', interleaved' : ', basic'}${s.xleave && !s.interleaved ? ' (interleaved requested)' : ''}`,
    ],
    [
      'Verdict',
      `${VERDICT_SYMBOL[s.verdict]} ${s.verdict}${s.verdictReason === '' ? '' : ` — ${s.verdictReason}`}`,
    ],
    [
      'Options',
      [s.prefer ? 'prefer' : '', s.noselect ? 'noselect' : '', s.xleave ? 'xleave' : '']
        .filter((x) => x !== '')
        .join(' ') || '-',
    ],
    ['Stratum', String(s.stratum)],
    ['Reference ID', s.refid],
    ['Leap / version', `${s.leap} / ${s.version}`],
    ['Precision', `2^${s.precision} (${fmtAbs(2 ** s.precision)})`],
    ['Root delay', fmtAbs(s.rootDelay)],
    ['Root dispersion', fmtAbs(s.rootDispersion)],
    ['Poll', `${fmtPoll(s.poll)} s (2^${s.poll}), peer 2^${s.peerPoll}`],
    ['Reach', `${reachOctal(s.reach)} (${count} of the last 8 polls answered)`],
    ['Last packet', s.when === null ? 'never' : `${fmtAge(s.when)} s ago`],
    ['Offset', fmtSigned(s.offset)],
    ['Delay', fmtAbs(s.delay)],
    ['Dispersion', fmtAbs(s.dispersion)],
    ['Jitter', fmtAbs(s.jitter)],
    ['Root distance', fmtAbs(s.rootDistance)],
    [
      'Authentication',
      `${s.auth}${s.authMethod === 'nts' ? ` (NTS, ${s.nts?.cookies ?? 0} cookies, ${s.nts?.naks ?? 0} NAKs)` : ''}${s.keyId === null ? '' : ` (key ${s.keyId})`}`,
    ],
    ['Last KoD', s.kod ?? '-'],
    ['Packets', `${s.packetsSent} sent, ${s.packetsReceived} received`],
    ['Rejected', rejected === '' ? 'none' : rejected],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const out = rows.map(([k, v]) => `${k.padEnd(w)} : ${v}`);
  out.push('', 'Clock filter (newest first):');
  if (s.filter.length === 0) out.push('  (empty)');
  else {
    const ft = table(
      ['#', 'Age', 'Offset', 'Delay', 'Dispersion'],
      s.filter.map((f, i) => [
        String(i),
        `${fmtAge(f.age)}s`,
        fmtSigned(f.offset),
        fmtAbs(f.delay),
        fmtAbs(f.dispersion),
      ]),
      ['r', 'r', 'r', 'r', 'r'],
    );
    out.push(...ft.map((l) => `  ${l}`));
  }
  return `${out.join('\n')}\n`;
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}

export function formatClients(snap: DaemonSnapshot): string {
  const v = snap.server;
  const head = [
    `Requests ${v.requests}, responses ${v.responses} (${v.interleavedResponses} interleaved), KoD sent ${v.kodSent},`,
    `rate limited ${v.rateLimited}, denied ${v.denied}, dropped ${v.dropped}, clients tracked ${v.clientsTracked}`,
  ];
  const invalid = Object.entries(v.invalid).filter(([, n]) => n > 0);
  if (invalid.length > 0) head.push(`invalid: ${invalid.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const sorted = [...snap.clients].sort(
    (a: ClientSnapshot, b: ClientSnapshot) => b.requests - a.requests || a.lastSeen - b.lastSeen,
  );
  const rows = sorted.map((c) => [
    c.address,
    String(c.requests),
    c.interval === null ? '-' : fmtAbs(c.interval),
    fmtAge(c.lastSeen),
    String(c.kodSent),
    String(c.dropped),
    c.interleaved ? 'yes' : 'no',
  ]);
  const lines = table(['Address', 'Requests', 'Interval', 'Last', 'KoD', 'Drop', 'Xleave'], rows, [
    'l',
    'r',
    'r',
    'r',
    'r',
    'r',
    'l',
  ]);
  if (rows.length === 0) lines.push('(no clients)');
  return `${[...head, '', ...lines].join('\n')}\n`;
}
