/**
 * Prometheus text exposition (format 0.0.4) of a DaemonSnapshot.
 *
 * Conventions: prefix `ntpkit_`, base units (seconds; frequency offsets as a ratio, not ppm),
 * counters end in `_total`, one HELP and TYPE line per family, label values escaped.
 */
import type { DaemonSnapshot, SelectionVerdict, SourceSnapshot } from '../system/snapshot.js';

type Labels = Record<string, string>;

const VERDICTS: SelectionVerdict[] = [
  'sys-peer',
  'combined',
  'outlier',
  'falseticker',
  'jittery',
  'excess',
  'unreachable',
  'bad-distance',
  'unsynchronised',
  'bad-stratum',
  'loop',
  'noselect',
  'pending',
];

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

class Writer {
  private lines: string[] = [];
  family(name: string, type: 'gauge' | 'counter', help: string, samples: [Labels, number][]): void {
    if (samples.length === 0) return;
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const ls = Object.entries(labels)
        .map(([k, x]) => `${k}="${escapeLabelValue(x)}"`)
        .join(',');
      this.lines.push(`${name}${ls === '' ? '' : `{${ls}}`} ${fmt(v)}`);
    }
  }
  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

function sourceLabels(s: SourceSnapshot): Labels {
  return { source: `${s.address}:${s.port}`, name: s.name ?? s.address, mode: s.mode };
}

export function prometheusText(snap: DaemonSnapshot): string {
  const w = new Writer();
  const sys = snap.system;
  const src = sys.sources;
  const per = (f: (s: SourceSnapshot) => number): [Labels, number][] =>
    src.map((s) => [sourceLabels(s), f(s)]);

  w.family('ntpkit_build_info', 'gauge', 'ntpkit version and clock algorithm (always 1).', [
    [{ version: snap.version, clock: sys.clock }, 1],
  ]);
  w.family('ntpkit_uptime_seconds', 'gauge', 'Seconds since the daemon started.', [[{}, snap.uptime]]);
  w.family('ntpkit_system_synchronised', 'gauge', '1 when the clock is synchronised to a source.', [
    [{}, sys.synchronised ? 1 : 0],
  ]);
  w.family('ntpkit_system_clock_state', 'gauge', 'Discipline state (the label with value 1).', [
    [{ state: sys.clockState }, 1],
  ]);
  w.family('ntpkit_system_stratum', 'gauge', 'Stratum of this server.', [[{}, sys.stratum]]);
  w.family(
    'ntpkit_system_leap_indicator',
    'gauge',
    'Leap indicator (0 none, 1 insert, 2 delete, 3 unsynchronised).',
    [[{}, sys.leap]],
  );
  w.family(
    'ntpkit_system_leap_pending',
    'gauge',
    'Scheduled leap second at the end of this month (1 insert, -1 delete, 0 none); labels: leap-list verdict.',
    [
      [
        { list: sys.leapPending?.list ?? 'none' },
        sys.leapPending === null || sys.leapPending === undefined
          ? 0
          : sys.leapPending.kind === 'insert'
            ? 1
            : -1,
      ],
    ],
  );
  w.family(
    'ntpkit_system_tai_offset_seconds',
    'gauge',
    'TAI-UTC from the leap-second list (absent without one).',
    [
      ...(sys.taiUtc === null || sys.taiUtc === undefined
        ? []
        : ([[{}, sys.taiUtc]] as [Record<string, string>, number][])),
    ],
  );
  w.family('ntpkit_system_root_delay_seconds', 'gauge', 'Root delay to the primary reference.', [
    [{}, sys.rootDelay],
  ]);
  w.family('ntpkit_system_root_dispersion_seconds', 'gauge', 'Root dispersion.', [[{}, sys.rootDispersion]]);
  w.family(
    'ntpkit_system_root_distance_seconds',
    'gauge',
    'Root distance (root delay / 2 + root dispersion).',
    [[{}, sys.rootDistance]],
  );
  w.family('ntpkit_system_offset_seconds', 'gauge', 'Last offset applied by the clock discipline.', [
    [{}, sys.offset],
  ]);
  w.family(
    'ntpkit_system_frequency_offset_ratio',
    'gauge',
    'Frequency correction of the clock (1e-6 = 1 ppm).',
    [[{}, sys.frequencyPpm * 1e-6]],
  );
  w.family('ntpkit_system_jitter_seconds', 'gauge', 'System jitter.', [[{}, sys.jitter]]);
  if (sys.hostClockOffset !== undefined)
    w.family(
      'ntpkit_host_clock_offset_seconds',
      'gauge',
      "ntpkit's clock minus the host's system clock (positive: the host clock is slow).",
      [[{}, sys.hostClockOffset]],
    );
  w.family('ntpkit_system_wander_ratio', 'gauge', 'Frequency wander (1e-6 = 1 ppm).', [
    [{}, sys.wander * 1e-6],
  ]);
  w.family('ntpkit_system_poll_interval_seconds', 'gauge', 'System poll interval.', [[{}, 2 ** sys.poll]]);
  w.family('ntpkit_system_precision_seconds', 'gauge', 'Precision of the clock readings.', [
    [{}, 2 ** sys.precision],
  ]);
  w.family(
    'ntpkit_system_error_bound_seconds',
    'gauge',
    'Bound on the clock error now (+Inf when never synchronised).',
    [[{}, sys.errorBound]],
  );
  if (sys.referenceTime !== null) {
    w.family('ntpkit_system_reference_timestamp_seconds', 'gauge', 'Unix time of the last clock update.', [
      [{}, sys.referenceTime],
    ]);
  }
  w.family('ntpkit_sources', 'gauge', 'Number of configured or mobilised sources.', [[{}, src.length]]);

  w.family(
    'ntpkit_source_offset_seconds',
    'gauge',
    'Clock filter offset of the source.',
    per((s) => s.offset),
  );
  w.family(
    'ntpkit_source_delay_seconds',
    'gauge',
    'Clock filter round-trip delay.',
    per((s) => s.delay),
  );
  w.family(
    'ntpkit_source_dispersion_seconds',
    'gauge',
    'Clock filter dispersion.',
    per((s) => s.dispersion),
  );
  w.family(
    'ntpkit_source_jitter_seconds',
    'gauge',
    'Clock filter jitter.',
    per((s) => s.jitter),
  );
  w.family(
    'ntpkit_source_root_distance_seconds',
    'gauge',
    'Root distance through the source.',
    per((s) => s.rootDistance),
  );
  w.family(
    'ntpkit_source_stratum',
    'gauge',
    'Stratum of the source.',
    per((s) => s.stratum),
  );
  w.family(
    'ntpkit_source_reach_register',
    'gauge',
    'Reachability shift register (8 bits).',
    per((s) => s.reach),
  );
  w.family(
    'ntpkit_source_poll_interval_seconds',
    'gauge',
    'Our poll interval for the source.',
    per((s) => 2 ** s.poll),
  );
  w.family(
    'ntpkit_source_last_packet_age_seconds',
    'gauge',
    'Seconds since the last valid packet from the source.',
    src.filter((s) => s.when !== null).map((s) => [sourceLabels(s), s.when ?? 0]),
  );
  w.family(
    'ntpkit_source_interleaved',
    'gauge',
    '1 when the association runs interleaved.',
    per((s) => (s.interleaved ? 1 : 0)),
  );
  w.family(
    'ntpkit_source_selection',
    'gauge',
    'Selection verdict of the source (state set: the verdict with value 1).',
    src.flatMap((s) =>
      VERDICTS.map((v): [Labels, number] => [{ ...sourceLabels(s), verdict: v }, s.verdict === v ? 1 : 0]),
    ),
  );
  w.family(
    'ntpkit_source_authenticated',
    'gauge',
    'Authentication state: 1 ok, 0 none, -1 failed.',
    per((s) => (s.auth === 'ok' ? 1 : s.auth === 'failed' ? -1 : 0)),
  );
  w.family(
    'ntpkit_source_packets_sent_total',
    'counter',
    'Packets sent to the source.',
    per((s) => s.packetsSent),
  );
  w.family(
    'ntpkit_source_packets_received_total',
    'counter',
    'Packets received from the source.',
    per((s) => s.packetsReceived),
  );
  w.family(
    'ntpkit_source_rejected_packets_total',
    'counter',
    'Packets from the source rejected, by reason.',
    src.flatMap((s) =>
      Object.entries(s.rejected).map(([reason, n]): [Labels, number] => [{ ...sourceLabels(s), reason }, n]),
    ),
  );

  w.family(
    'ntpkit_engine_events_total',
    'counter',
    'Engine events since the start, by kind.',
    Object.entries(sys.events ?? {}).map(([kind, n]): [Labels, number] => [{ kind }, n ?? 0]),
  );

  const ts = snap.timestamping;
  if (ts !== undefined)
    w.family(
      'ntpkit_timestamps_total',
      'counter',
      'Datagram timestamps taken, by direction (receive, transmit) and origin (kernel, user space).',
      [
        [{ direction: 'receive', origin: 'kernel' }, ts.rxKernel],
        [{ direction: 'receive', origin: 'user' }, ts.rxUser],
        [{ direction: 'transmit', origin: 'kernel' }, ts.txKernel],
        [{ direction: 'transmit', origin: 'user' }, ts.txUser],
      ],
    );
  const sl = ts?.sendLatency;
  if (sl !== undefined)
    w.family(
      'ntpkit_send_compensation_seconds',
      'gauge',
      "Added to basic-mode replies' transmit timestamps for the measured send-path latency.",
      [[{}, sl.compensation]],
    );

  const sv = snap.server;
  w.family('ntpkit_server_requests_total', 'counter', 'Client requests received.', [[{}, sv.requests]]);
  w.family('ntpkit_server_responses_total', 'counter', 'Responses sent.', [[{}, sv.responses]]);
  w.family('ntpkit_server_interleaved_responses_total', 'counter', 'Interleaved responses sent.', [
    [{}, sv.interleavedResponses],
  ]);
  w.family('ntpkit_server_kod_sent_total', 'counter', 'Kiss-o-death packets sent.', [[{}, sv.kodSent]]);
  w.family('ntpkit_server_rate_limited_total', 'counter', 'Requests rate limited.', [[{}, sv.rateLimited]]);
  w.family('ntpkit_server_denied_total', 'counter', 'Requests denied by access rules.', [[{}, sv.denied]]);
  w.family('ntpkit_server_dropped_total', 'counter', 'Requests dropped.', [[{}, sv.dropped]]);
  w.family(
    'ntpkit_server_invalid_packets_total',
    'counter',
    'Malformed or invalid packets, by reason.',
    Object.entries(sv.invalid).map(([reason, n]): [Labels, number] => [{ reason }, n]),
  );
  w.family('ntpkit_server_clients', 'gauge', 'Clients in the client table.', [[{}, sv.clientsTracked]]);
  return w.text();
}
