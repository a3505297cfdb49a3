import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { symlogTickLabels } from '../../src/observe/dashboard/scale.js';
import { type Observability, startObservability } from '../../src/observe/index.js';
import type { DaemonSnapshot } from '../../src/system/snapshot.js';
import type { SystemEvent } from '../../src/system/types.js';
import { chromiumAvailable, type DashboardPage, waitForUpdates, withDashboard } from './browser.js';
import { fixture } from './fixture.js';

/** Seconds of daemon time per real second: one sample (100 ms) is 30 s. */
const SPEED = 300;
const T0 = 1_795_000_000;
/** When (daemon seconds after the start) the clock is stepped by +2.5 s. */
const STEP_AT = 1200;

/**
 * A daemon whose clock is 2.5 s slow until STEP_AT, then stepped: its sources' offsets are 2.5 s
 * before the step and some µs after it. It reports the engine events a real one would: the system
 * peer, KoDs from the unreachable pool member, the step, a leap second scheduled, a new system peer.
 */
function steppingDaemon(obs: () => Observability | null): { snap: () => DaemonSnapshot; mono: () => number } {
  const start = performance.now();
  const mono = (): number => ((performance.now() - start) / 1000) * SPEED;
  let lastKod = -Infinity;
  const done = new Set<string>();
  const once = (key: string, m: number, at: number, e: SystemEvent): void => {
    if (m < at || done.has(key)) return;
    done.add(key);
    obs()?.recordEvent(e);
  };
  const snap = (): DaemonSnapshot => {
    const m = mono();
    once('peer', m, 60, { kind: 'sys-peer', sourceId: '1' });
    if (m >= 300 && m < 450 && m - lastKod >= 30) {
      lastKod = m;
      obs()?.recordEvent({ kind: 'kod', sourceId: 'pool-4', code: 'RATE' });
    }
    once('step', m, STEP_AT, {
      kind: 'clock-step',
      offset: 2.5,
      reason: 'offset 2.500000 s beyond the step threshold 0.128 s',
      cause: 'offset',
    });
    once('leap', m, 1800, {
      kind: 'leap',
      action: 'scheduled',
      message: 'leap second insertion scheduled at the end of the day',
    });
    once('peer2', m, 2000, { kind: 'sys-peer', sourceId: '2' });
    const stepped = m >= STEP_AT;
    const off = stepped ? 0 : 2.5;
    const f = fixture();
    f.system.time = T0 + m - off;
    f.system.offset = off + 2e-5 * Math.sin(m / 100);
    f.system.errorBound = 1e-4 + 2e-5 * Math.cos(m / 70) + off;
    f.system.frequencyPpm = -12 + Math.cos(m / 700);
    f.server.requests += Math.floor(m);
    for (const [i, s] of f.system.sources.entries()) {
      s.offset = off + (i + 1) * 1e-5 * Math.sin(m / 90 + i);
      s.delay = 4.5e-4 + 5e-5 * Math.cos(m / 60 + i);
      s.jitter = 3e-5 + 1e-5 * Math.sin(m / 50 + i);
    }
    return f;
  };
  return { snap, mono };
}

interface ChartView {
  /** x scale of every chart. */
  x: Record<string, [number, number]>;
  /** Offset chart: pixel height spanned by the first source's points after the step. */
  afterStepPx: number;
  /** Offset chart: y tick values and labels. */
  splits: number[];
  labels: string[];
  window: [number, number] | null;
  zoom: [number, number] | null;
}

function view(page: DashboardPage, stepT: number): Promise<ChartView> {
  return page.evaluate((st) => {
    interface U {
      scales: Record<string, { min: number; max: number }>;
      data: (number | null)[][];
      axes: { _splits: number[]; _values: string[] }[];
      valToPos(v: number, scale: string): number;
    }
    const w = globalThis as unknown as {
      __ntpkit: {
        charts: Record<string, U>;
        state: { window: [number, number] | null; zoom: [number, number] | null };
      };
    };
    const x: Record<string, [number, number]> = {};
    for (const [k, c] of Object.entries(w.__ntpkit.charts))
      x[k] = [c.scales.x?.min ?? 0, c.scales.x?.max ?? 0];
    const u = w.__ntpkit.charts.offset as U;
    const px: number[] = [];
    const [ts = [], ys = []] = u.data;
    ts.forEach((t, i) => {
      const v = ys[i];
      if (t !== null && t > st + 1 && v !== null && v !== undefined) px.push(u.valToPos(v, 'y'));
    });
    return {
      x,
      afterStepPx: px.length < 2 ? 0 : Math.max(...px) - Math.min(...px),
      splits: u.axes[1]?._splits ?? [],
      labels: u.axes[1]?._values ?? [],
      window: w.__ntpkit.state.window,
      zoom: w.__ntpkit.state.zoom,
    };
  }, stepT);
}

describe('dashboard in headless Chromium (synthetic daemon)', () => {
  it('keeps µs detail after a 2.5 s step (symlog), selects time ranges, zooms, shows the event strip', async (t) => {
    const why = await chromiumAvailable();
    if (why !== null) return t.skip(why);
    let obs: Observability | null = null;
    const d = steppingDaemon(() => obs);
    obs = await startObservability(
      {
        controlSocket: null,
        metrics: null,
        dashboard: '127.0.0.1:11420',
        statsDir: null,
        sampleIntervalMs: 100,
        // 30 samples as taken (15 min here), the rest from the one-minute tier.
        historySize: 30,
        monotonic: d.mono,
      },
      d.snap,
    );
    const dir = mkdtempSync(join(tmpdir(), 'ntpkit-dash-'));
    try {
      await withDashboard('http://127.0.0.1:11420/', 1, async (page) => {
        // Run until 40 minutes of daemon time (8 s) and the page has caught up after the step.
        await page.waitForFunction(
          (stepAt) => {
            const w = globalThis as unknown as { __ntpkit: { state: { window: [number, number] | null } } };
            const win = w.__ntpkit.state.window;
            return win !== null && win[1] - win[0] > 2 * stepAt;
          },
          STEP_AT,
          { timeout: 30000 },
        );
        const ev = await (await fetch('http://127.0.0.1:11420/api/events')).json();
        const step = (ev as { events: { kind: string; t: number }[] }).events.find(
          (e) => e.kind === 'clock-step',
        );
        assert.ok(step !== undefined, 'the step is in /api/events');
        await waitForUpdates(page, 3);

        // Symlog (the default): the µs-level offsets after the step span many pixels, the axis has µs ticks.
        const sym = await view(page, step.t);
        assert.ok(sym.afterStepPx > 20, `symlog: µs offsets after the step span ${sym.afterStepPx} px`);
        assert.ok(
          sym.splits.some((v) => v !== 0 && Math.abs(v) <= 1e-4),
          `µs ticks: ${sym.splits.join(', ')}`,
        );
        assert.deepEqual(
          sym.labels,
          symlogTickLabels(sym.splits),
          'the page labels its ticks with symlogTickLabels',
        );
        assert.ok(sym.labels.includes('100 µs') && sym.labels.includes('1 s'), sym.labels.join(', '));
        // The whole history is shown ("all"), back beyond the 30 samples through the coarse tier.
        const [lo, hi] = sym.x.offset ?? [0, 0];
        assert.ok(lo < step.t - 600 && hi > step.t + 600, `x ${lo}..${hi} around the step ${step.t}`);
        // The page as the test saw it (NTPKIT_SCREENSHOT_DIR keeps it).
        await page.screenshot({
          path: join(process.env.NTPKIT_SCREENSHOT_DIR ?? dir, 'dashboard-synthetic.png'),
          fullPage: true,
        });

        // Linear: the same points flatten to a line (what the operator complained about).
        await page.click('#scales button[data-scale="linear"]');
        const lin = await view(page, step.t);
        assert.ok(lin.afterStepPx < 3, `linear: ${lin.afterStepPx} px`);
        await page.click('#scales button[data-scale="symlog"]');

        // The range selector sets the same x window on every chart.
        await page.click('#ranges button[data-range="600"]');
        const r10 = await view(page, step.t);
        for (const [k, [a, b]] of Object.entries(r10.x))
          assert.ok(Math.abs(b - a - 600) < 1e-6, `${k}: ${b - a}`);
        assert.ok(r10.window !== null && Math.abs((r10.x.offset?.[1] ?? 0) - r10.window[1]) < 1e-6);
        await page.click('#ranges button[data-range="all"]');
        const all = await view(page, step.t);
        assert.ok((all.x.jitter?.[1] ?? 0) - (all.x.jitter?.[0] ?? 0) > 2 * STEP_AT);

        // Drag across a chart: every chart zooms to the selection; double-click goes back.
        const box = await page.locator('#c-delay .u-over').boundingBox();
        assert.ok(box !== null);
        await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
        await page.mouse.up();
        const z = await view(page, step.t);
        assert.ok(z.zoom !== null, 'zoomed');
        const span = z.zoom[1] - z.zoom[0];
        assert.ok(span > 0 && span < 0.3 * ((all.x.jitter?.[1] ?? 0) - (all.x.jitter?.[0] ?? 0)));
        for (const [k, [a, b]] of Object.entries(z.x))
          assert.ok(Math.abs(b - a - span) < 1e-6, `${k} zoomed`);
        await page.dblclick('#c-offset .u-over');
        assert.equal((await view(page, step.t)).zoom, null);

        // The event strip: the step, both system peers, the leap, the KoDs folded into one with a count.
        const marks = await page.$$eval('#strip .ev', (es) =>
          es.map((e) => ({
            kind: e.getAttribute('data-kind'),
            lane: e.closest('.lane')?.getAttribute('data-lane'),
            title: e.getAttribute('title') ?? '',
            count: e.querySelector('i')?.textContent ?? '1',
          })),
        );
        const of = (k: string) => marks.filter((m) => m.kind === k);
        assert.equal(of('clock-step').length, 1, JSON.stringify(marks));
        assert.equal(of('clock-step')[0]?.lane, 'clock');
        assert.match(of('clock-step')[0]?.title ?? '', /clock stepped by \+2\.500000 s: offset 2\.5/);
        assert.deepEqual(
          of('sys-peer').map((m) => m.title.replace(/^.*system peer: /, '')),
          ['localhost', '192.0.2.7:123'],
        );
        assert.equal(of('leap')[0]?.lane, 'leap');
        assert.equal(of('kod').length, 1);
        assert.ok(Number(of('kod')[0]?.count) >= 3, `KoDs folded: ${of('kod')[0]?.count}`);
        assert.match(of('kod')[0]?.title ?? '', /KoD RATE from pool\.example\.org/);
        // Click: the details.
        await page.click('#strip .ev[data-kind="clock-step"]');
        const detail = await page.textContent('#ev-detail');
        assert.match(detail ?? '', /offset2\.500 s \(2\.500000000 s\)/);
        assert.match(detail ?? '', /causeoffset/);
        assert.equal(await page.locator('#ev-list tr[data-ev]').count(), marks.length);
        // A 10-minute window before the end leaves the step (at 20 min of 40) out of the strip.
        await page.click('#ranges button[data-range="600"]');
        assert.equal(await page.locator('#strip .ev[data-kind="clock-step"]').count(), 0);
        // The address keeps the range and the axes: a reload (or a bookmark) comes back to them.
        assert.match(page.url(), /#range=600&scale=symlog$/);
        await page.evaluate(() => {
          const l = (globalThis as unknown as { location: { hash: string; reload(): void } }).location;
          l.hash = '#range=3600&scale=linear';
          l.reload();
        });
        await page.waitForLoadState('load');
        await waitForUpdates(page, 1);
        const again = await view(page, step.t);
        for (const [k, [a, b]] of Object.entries(again.x))
          assert.ok(Math.abs(b - a - 3600) < 1e-6, `${k}: ${b - a}`);
        assert.equal(await page.locator('#scales button.on').getAttribute('data-scale'), 'linear');
      });
    } finally {
      await obs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
