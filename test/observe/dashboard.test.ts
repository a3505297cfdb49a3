import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startObservability } from '../../src/observe/index.js';
import type { DaemonSnapshot } from '../../src/system/snapshot.js';
import { checkDashboard, chromiumAvailable } from './browser.js';
import { fixture } from './fixture.js';

function moving(): () => DaemonSnapshot {
  let n = 0;
  return () => {
    n++;
    const f = fixture();
    f.system.time += n * 0.2;
    f.system.offset = 1e-4 * Math.sin(n / 5);
    f.system.frequencyPpm = -12 + Math.cos(n / 7);
    f.server.requests += 7 * n;
    for (const [i, s] of f.system.sources.entries()) {
      s.offset += 2e-4 * Math.sin(n / 4 + i);
      s.delay += 1e-4 * Math.cos(n / 6 + i);
    }
    return f;
  };
}

describe('dashboard in headless Chromium (synthetic daemon)', () => {
  it('loads, lists the sources and draws charts with data points', async (t) => {
    const why = await chromiumAvailable();
    if (why !== null) return t.skip(why);
    const obs = await startObservability(
      {
        controlSocket: null,
        metrics: null,
        dashboard: '127.0.0.1:11420',
        statsDir: null,
        sampleIntervalMs: 200,
      },
      moving(),
    );
    try {
      const r = await checkDashboard('http://127.0.0.1:11420/', 2, process.env.NTPKIT_SCREENSHOT);
      assert.deepEqual(
        r.rows,
        fixture().system.sources.map((s) => s.address),
      );
      for (const name of ['offset', 'delay', 'jitter', 'clock', 'load']) {
        const c = r.charts[name];
        assert.ok(c !== undefined, `chart ${name}`);
        assert.ok(c.x >= 2, `${name}: ${c.x} x values`);
      }
      // Three sources have samples, the unreachable one has none.
      assert.deepEqual(
        r.charts.offset?.y.map((n) => n > 0),
        [true, true, true, false],
      );
      assert.ok((r.charts.clock?.y[0] ?? 0) >= 2, 'frequency points');
    } finally {
      await obs.close();
    }
  });
});
