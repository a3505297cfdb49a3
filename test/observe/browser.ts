/** Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for the dashboard tests. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerGate } from '../support/peers.js';

export const CHROMIUM = '/usr/bin/chromium';

export interface DashboardCheck {
  /** Source addresses shown in the sources table. */
  rows: string[];
  /** Points per chart: name -> [x count, non-null y values per series]. */
  charts: Record<string, { x: number; y: number[] }>;
  updates: number;
}

export async function chromiumAvailable(): Promise<string | null> {
  if (!existsSync(CHROMIUM)) return peerGate(`${CHROMIUM} not installed`);
  try {
    await import('playwright-core');
  } catch {
    return peerGate('playwright-core not installed');
  }
  return null;
}

/** A dashboard page open in headless Chromium (playwright's Page). */
export type DashboardPage = import('playwright-core').Page;

/**
 * Open the dashboard in headless Chromium, wait until it has updated `minUpdates` times, run `fn`
 * on the page, close everything. Page errors (uncaught exceptions) fail the run.
 */
export async function withDashboard<T>(
  url: string,
  minUpdates: number,
  fn: (page: DashboardPage) => Promise<T>,
): Promise<T> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'ntpkit-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1300 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load', timeout: 15000 });
    await waitForUpdates(page, minUpdates);
    const r = await fn(page);
    if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
    return r;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Wait until the page has taken in `n` updates in all (window.__ntpkit.updates). */
export async function waitForUpdates(page: DashboardPage, n: number, timeout = 30000): Promise<void> {
  await page.waitForFunction(
    (k) => ((globalThis as unknown as { __ntpkit?: { updates: number } }).__ntpkit?.updates ?? 0) >= k,
    n,
    { timeout },
  );
}

/** Open the dashboard, wait until it has updated `minUpdates` times, read its state, optionally screenshot. */
export async function checkDashboard(
  url: string,
  minUpdates: number,
  screenshot?: string,
): Promise<DashboardCheck> {
  return withDashboard(url, minUpdates, async (page) => {
    const rows = await page.$$eval('#sources tr[data-source]', (trs) =>
      trs.map((t) => t.getAttribute('data-source') ?? ''),
    );
    const charts = await page.evaluate(() => {
      const w = globalThis as unknown as {
        __ntpkit: { charts: Record<string, { data: (number | null)[][] }> };
      };
      const out: Record<string, { x: number; y: number[] }> = {};
      for (const [k, c] of Object.entries(w.__ntpkit.charts)) {
        const [xs, ...ys] = c.data;
        out[k] = {
          x: xs?.length ?? 0,
          y: ys.map((s) => s.filter((v) => v !== null && v !== undefined).length),
        };
      }
      return out;
    });
    const updates = await page.evaluate(
      () => (globalThis as unknown as { __ntpkit: { updates: number } }).__ntpkit.updates,
    );
    if (screenshot !== undefined) await page.screenshot({ path: screenshot, fullPage: true });
    return { rows, charts, updates };
  });
}
