import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { prometheusText } from '../../src/observe/metrics.js';
import { fixture } from './fixture.js';
import { type Family, parsePrometheus } from './prom-parse.js';

function one(f: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const fam = f.get(name);
  assert.ok(fam !== undefined, `family ${name}`);
  const s = fam.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s !== undefined, `${name} ${JSON.stringify(labels)}`);
  return s.value;
}

describe('Prometheus metrics', () => {
  it('parse strictly and carry the snapshot values in base units', () => {
    const snap = fixture();
    const f = parsePrometheus(prometheusText(snap));
    for (const fam of f.values()) {
      assert.ok(fam.name.startsWith('ntpkit_'), fam.name);
      assert.ok(fam.help.length > 0, fam.name);
      if (fam.type === 'counter') assert.ok(fam.name.endsWith('_total'), fam.name);
      else assert.ok(!fam.name.endsWith('_total'), fam.name);
      assert.ok(!/_ppm$|_ms$|_milliseconds$/.test(fam.name), `base units: ${fam.name}`);
    }
    assert.equal(one(f, 'ntpkit_system_stratum'), 3);
    assert.equal(one(f, 'ntpkit_system_offset_seconds'), snap.system.offset);
    assert.ok(Math.abs(one(f, 'ntpkit_system_frequency_offset_ratio') - -12.345e-6) < 1e-15);
    assert.equal(one(f, 'ntpkit_system_poll_interval_seconds'), 64);
    assert.equal(one(f, 'ntpkit_server_requests_total'), 1234);
    assert.equal(one(f, 'ntpkit_server_invalid_packets_total', { reason: 'bad-length' }), 4);
    for (const s of snap.system.sources) {
      const l = { source: `${s.address}:${s.port}` };
      assert.equal(one(f, 'ntpkit_source_offset_seconds', l), s.offset);
      assert.equal(one(f, 'ntpkit_source_reach_register', l), s.reach);
      assert.equal(one(f, 'ntpkit_source_selection', { ...l, verdict: s.verdict }), 1);
      const selected = f
        .get('ntpkit_source_selection')
        ?.samples.filter((x) => x.labels.source === l.source && x.value === 1);
      assert.equal(selected?.length, 1, 'exactly one verdict per source');
    }
    assert.equal(
      one(f, 'ntpkit_source_rejected_packets_total', { source: '198.51.100.9:123', reason: 'test2-bogus' }),
      3,
    );
  });

  it('count the engine events by kind', () => {
    const snap = fixture();
    snap.system.events = { 'sys-peer': 3, reject: 5 };
    const f = parsePrometheus(prometheusText(snap));
    assert.equal(f.get('ntpkit_engine_events_total')?.type, 'counter');
    assert.equal(one(f, 'ntpkit_engine_events_total', { kind: 'sys-peer' }), 3);
    assert.equal(one(f, 'ntpkit_engine_events_total', { kind: 'reject' }), 5);
  });

  it('count timestamps by origin and give the send compensation in seconds', () => {
    const snap = fixture();
    snap.timestamping = {
      mode: 'kernel',
      rxKernel: 7,
      rxUser: 1,
      txKernel: 5,
      txUser: 2,
      sendLatency: { samples: 9, compensation: 31e-6, median: 45e-6 },
    };
    const f = parsePrometheus(prometheusText(snap));
    assert.equal(one(f, 'ntpkit_timestamps_total', { direction: 'receive', origin: 'kernel' }), 7);
    assert.equal(one(f, 'ntpkit_timestamps_total', { direction: 'transmit', origin: 'user' }), 2);
    assert.equal(one(f, 'ntpkit_send_compensation_seconds'), 31e-6);
    snap.timestamping = { mode: 'user', rxKernel: 0, rxUser: 3, txKernel: 0, txUser: 3 };
    assert.equal(parsePrometheus(prometheusText(snap)).has('ntpkit_send_compensation_seconds'), false);
  });

  it('escapes label values and renders an unbounded error as +Inf', () => {
    const snap = fixture();
    const s0 = snap.system.sources[0];
    assert.ok(s0 !== undefined);
    s0.name = 'we"ird\\name\nx';
    snap.system.errorBound = Number.POSITIVE_INFINITY;
    const f = parsePrometheus(prometheusText(snap));
    assert.equal(one(f, 'ntpkit_source_offset_seconds', { name: 'we"ird\\name\nx' }), s0.offset);
    assert.equal(one(f, 'ntpkit_system_error_bound_seconds'), Number.POSITIVE_INFINITY);
  });

  it('the official Python client parser accepts the text (when installed)', (t) => {
    if (!existsSync('/usr/bin/python3')) return t.skip('no /usr/bin/python3');
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import prometheus_client.parser'], {
      encoding: 'utf8',
    });
    if (probe.status !== 0) return t.skip('python3-prometheus-client not installed');
    const script = [
      'import sys, json',
      'from prometheus_client.parser import text_string_to_metric_families',
      'out = {}',
      'for fam in text_string_to_metric_families(sys.stdin.read()):',
      '    out[fam.name] = [fam.type, len(fam.samples)]',
      'print(json.dumps(out))',
    ].join('\n');
    const snap = fixture();
    const text = prometheusText(snap);
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const py = JSON.parse(r.stdout) as Record<string, [string, number]>;
    const mine = parsePrometheus(text);
    // The Python client strips _total from counter family names.
    for (const fam of mine.values()) {
      const key = fam.type === 'counter' ? fam.name.replace(/_total$/, '') : fam.name;
      assert.deepEqual(py[key], [fam.type, fam.samples.length], fam.name);
    }
  });
});
