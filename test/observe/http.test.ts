import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseListenAddress } from '../../src/observe/http.js';
import { requestSnapshot, startObservability } from '../../src/observe/index.js';
import type { DaemonSnapshot } from '../../src/system/snapshot.js';
import { fixture } from './fixture.js';
import { parsePrometheus } from './prom-parse.js';

const base = mkdtempSync(join(tmpdir(), 'ntpkit-http-'));
after(() => rmSync(base, { recursive: true, force: true }));

/** A snapshot that moves: time advances, offsets wiggle, requests grow. */
function moving(): () => DaemonSnapshot {
  let n = 0;
  return () => {
    n++;
    const f = fixture();
    f.system.time += n;
    f.system.offset = 1e-4 * Math.sin(n / 3);
    f.server.requests += 10 * n;
    for (const s of f.system.sources) s.offset += 1e-5 * n;
    return f;
  };
}

describe('observability services', () => {
  it('parses listen addresses (localhost by default)', () => {
    assert.deepEqual(parseListenAddress('9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseListenAddress(':9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseListenAddress('localhost:80'), { host: '127.0.0.1', port: 80 });
    assert.deepEqual(parseListenAddress('[::1]:9100'), { host: '::1', port: 9100 });
    assert.deepEqual(parseListenAddress('0.0.0.0:1'), { host: '0.0.0.0', port: 1 });
    assert.throws(() => parseListenAddress('host:port'), /invalid listen address/);
    assert.throws(() => parseListenAddress('1:99999'), /invalid listen address/);
  });

  it('serves metrics, the dashboard, its API and the control socket; close frees everything', async () => {
    const sock = join(base, 'ntpkit-1', 'ntpkit.sock');
    const stats = join(base, 'stats');
    const obs = await startObservability(
      {
        controlSocket: sock,
        metrics: '127.0.0.1:11410',
        dashboard: '127.0.0.1:11411',
        statsDir: stats,
        sampleIntervalMs: 50,
      },
      moving(),
    );
    try {
      assert.deepEqual(obs.metricsAddress, { host: '127.0.0.1', port: 11410 });
      const m = await fetch('http://127.0.0.1:11410/metrics');
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const fams = parsePrometheus(await m.text());
      assert.ok((fams.get('ntpkit_server_requests_total')?.samples[0]?.value ?? 0) > 1234);
      // The metrics-only server has no dashboard.
      assert.equal((await fetch('http://127.0.0.1:11410/')).status, 404);

      const page = await fetch('http://127.0.0.1:11411/');
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>ntpkit dashboard<\/title>/);
      const lib = await fetch('http://127.0.0.1:11411/assets/uPlot.iife.min.js');
      assert.equal(lib.status, 200);
      assert.match(await lib.text(), /uPlot/);
      assert.equal((await fetch('http://127.0.0.1:11411/assets/dashboard.js')).status, 200);
      assert.equal((await fetch('http://127.0.0.1:11411/metrics')).status, 200);
      assert.equal((await fetch('http://127.0.0.1:11411/nope')).status, 404);
      assert.equal((await fetch('http://127.0.0.1:11411/', { method: 'POST' })).status, 405);
      // DNS rebinding: a foreign Host header is refused on a loopback-bound server.
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve, reject) => {
        const r = request(
          { host: '127.0.0.1', port: 11411, path: '/api/snapshot', headers: { host: 'evil.example:11411' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        r.on('error', reject);
        r.end();
      });
      assert.equal(status, 421);
      // The event strip's JSON goes by the same rules: dashboard server only, loopback Host only.
      obs.recordEvent({
        kind: 'clock-step',
        offset: -2.5,
        reason: 'offset beyond the step threshold',
        cause: 'offset',
      });
      obs.recordEvent({ kind: 'reject', sourceId: null, reason: 'malformed: TOO_SHORT' });
      obs.recordEvent({ kind: 'kod', sourceId: '1', code: 'RATE' });
      const ev = (await (await fetch('http://127.0.0.1:11411/api/events')).json()) as {
        seq: number;
        capacity: number;
        events: { kind: string; t: number; text: string; source?: string }[];
      };
      assert.deepEqual(
        ev.events.map((e) => e.kind),
        ['clock-step', 'kod'],
      );
      assert.equal(ev.capacity, 500);
      assert.equal(ev.events[1]?.text, 'KoD RATE from localhost');
      const newest = (await (await fetch('http://127.0.0.1:11411/api/history')).json()) as {
        system: { t: number }[];
      };
      const lastT = newest.system[newest.system.length - 1]?.t ?? 0;
      assert.ok(Math.abs((ev.events[0]?.t ?? 0) - lastT) < 5, "events are on the charts' timeline");
      const none = (await (await fetch(`http://127.0.0.1:11411/api/events?since=${ev.seq}`)).json()) as {
        events: unknown[];
      };
      assert.equal(none.events.length, 0);
      assert.equal(
        (await fetch('http://127.0.0.1:11410/api/events')).status,
        404,
        'not on the metrics server',
      );
      const evStatus = await new Promise<number>((resolve, reject) => {
        const r = request(
          { host: '127.0.0.1', port: 11411, path: '/api/events', headers: { host: 'evil.example:11411' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        r.on('error', reject);
        r.end();
      });
      assert.equal(evStatus, 421);
      assert.equal(
        (await fetch('http://localhost:11411/api/snapshot').catch(() => null))?.status ?? 200,
        200,
      );

      await sleep(400);
      const h1 = (await (await fetch('http://127.0.0.1:11411/api/history')).json()) as {
        seq: number;
        system: { t: number; offset: number }[];
        sources: Record<string, { points: unknown[] }>;
      };
      assert.ok(h1.system.length >= 4, `${h1.system.length} samples`);
      assert.ok(
        h1.system.every((p, i, a) => i === 0 || p.t > (a[i - 1]?.t ?? 0)),
        'time increases',
      );
      assert.ok((h1.sources['1']?.points.length ?? 0) >= 4);
      assert.equal(h1.sources['pool-4']?.points.length, 0, 'unreachable source has no points');
      const h2 = (await (await fetch(`http://127.0.0.1:11411/api/history?since=${h1.seq}`)).json()) as {
        seq: number;
        system: unknown[];
      };
      assert.ok(h2.seq >= h1.seq);
      assert.ok(h2.system.length <= h2.seq - h1.seq, 'only newer samples');

      const snap = await requestSnapshot(sock);
      assert.equal(snap.system.sources.length, 4);
      assert.ok(statSync(join(stats, 'peerstats.csv')).size > PEERSTATS_MIN);
    } finally {
      await obs.close();
    }
    await assert.rejects(fetch('http://127.0.0.1:11410/metrics'));
    await assert.rejects(requestSnapshot(sock), /not running/);
  });

  it('one server when metrics and dashboard share an address; failures clean up', async () => {
    const obs = await startObservability(
      { controlSocket: null, metrics: '127.0.0.1:11412', dashboard: '127.0.0.1:11412', statsDir: null },
      fixture,
    );
    try {
      assert.equal((await fetch('http://127.0.0.1:11412/metrics')).status, 200);
      assert.equal((await fetch('http://127.0.0.1:11412/')).status, 200);
      // The port is taken: a second instance fails and leaves no control socket behind.
      const sock = join(base, 'ntpkit-2', 'ntpkit.sock');
      await assert.rejects(
        startObservability(
          { controlSocket: sock, metrics: '127.0.0.1:11412', dashboard: null, statsDir: null },
          fixture,
        ),
        /EADDRINUSE/,
      );
      await assert.rejects(requestSnapshot(sock), /not running/);
    } finally {
      await obs.close();
    }
  });
});

const PEERSTATS_MIN = 100;
