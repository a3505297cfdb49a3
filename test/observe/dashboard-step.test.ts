/**
 * The dashboard of a real daemon that steps its clock: a loopback server jumps 2.5 s ahead after a
 * few seconds, so that the daemon (rfc5905 discipline, 2 s stepout) steps its clock by 2.5 s; a
 * second server answers with KoD RATE. The page must show the µs
 * offsets after the step (symlog axis), the step and the KoDs on the event strip, fed from the
 * daemon's own engine events. Ports 11425-11428.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon } from '../../src/daemon/index.js';
import { silentLogger } from '../../src/daemon/log.js';
import { symlogTickLabels } from '../../src/observe/dashboard/scale.js';
import { unixNsToNtpTime } from '../../src/time/ntp-time.js';
import { decodePacket, emptyPacket, encodePacket, MODE } from '../../src/wire/packet.js';
import { chromiumAvailable, withDashboard } from './browser.js';

const AHEAD_PORT = 11425;
const KOD_PORT = 11426;
const DASHBOARD = 11427;
/** 2.5 s in NTP timestamp units. */
const JUMP = (5n << 32n) / 2n;
/** How far ahead of the host the first server is (0, then JUMP). */
let shift = 0n;

/** The host clock with sub-µs resolution, as an NTP timestamp. */
function hostNtp(): bigint {
  return unixNsToNtpTime(BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)));
}

/** A server on loopback: `kod` null answers with its clock `shift` ahead of the host's; else that KoD. */
async function server(port: number, kod: string | null): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    const d = decodePacket(new Uint8Array(m));
    if (!d.ok || d.packet.mode !== MODE.CLIENT) return;
    const rx = hostNtp() + shift;
    const p = emptyPacket();
    Object.assign(p, { version: 4, mode: MODE.SERVER, poll: d.packet.poll, precision: -20 });
    if (kod === null) {
      Object.assign(p, {
        leap: 0,
        stratum: 2,
        rootDelay: 0.001,
        rootDispersion: 0.001,
        referenceId: 0xc0000201,
      });
      p.referenceTimestamp = rx - (1n << 32n);
    } else {
      Object.assign(p, { leap: 3, stratum: 0, referenceId: Buffer.from(kod).readUInt32BE(0) });
    }
    p.originTimestamp = d.packet.transmitTimestamp;
    p.receiveTimestamp = rx;
    p.transmitTimestamp = hostNtp() + shift;
    s.send(encodePacket(p), r.port, r.address);
  });
  await new Promise<void>((res) => s.bind(port, '127.0.0.1', () => res()));
  return s;
}

describe('dashboard of a daemon that steps its clock (headless Chromium)', () => {
  it('µs offsets visible after the 2.5 s step; the step and the KoDs on the event strip', async (t) => {
    const why = await chromiumAvailable();
    if (why !== null) return t.skip(why);
    const ahead = await server(AHEAD_PORT, null);
    const kod = await server(KOD_PORT, 'RATE');
    const cfg = parseConfig(
      `[[server]]\naddress = "127.0.0.1"\nport = ${AHEAD_PORT}\niburst = true\nminpoll = 0\nmaxpoll = 0\n` +
        `[[server]]\naddress = "127.0.0.1"\nport = ${KOD_PORT}\nminpoll = 0\nmaxpoll = 0\n` +
        '[clock]\ndiscipline = "rfc5905"\nstepout = 2\n' +
        `[serve]\nenabled = false\n[observe]\ncontrol-socket = false\ndashboard = "127.0.0.1:${DASHBOARD}"\n`,
    );
    shift = 0n;
    const d = await startDaemon(cfg, { logger: silentLogger, dropPrivileges: false });
    const jump = setTimeout(() => {
      shift = JUMP;
    }, 4000);
    const dir = mkdtempSync(join(tmpdir(), 'ntpkit-dash-step-'));
    const base = `http://127.0.0.1:${DASHBOARD}`;
    try {
      // Wait for the step, then for 5 samples after it (the first ones may still show the offset measured before it).
      let step: { t: number; offset: number; cause: string } | undefined;
      const deadline = Date.now() + 40_000;
      while (step === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        const ev = (await (await fetch(`${base}/api/events`)).json()) as {
          events: { kind: string; t: number; offset: number; cause: string }[];
        };
        step = ev.events.find((e) => e.kind === 'clock-step' && e.cause === 'offset');
      }
      assert.ok(step !== undefined, 'the daemon stepped and /api/events has it');
      assert.ok(Math.abs(step.offset - 2.5) < 0.01, `step ${step.offset}`);
      const settled = Date.now() + 30_000;
      for (;;) {
        const h = (await (await fetch(`${base}/api/history`)).json()) as {
          sources: Record<string, { label: string; points: { t: number; offset: number }[] }>;
        };
        const pts = Object.values(h.sources).find((x) => x.label.endsWith(`:${AHEAD_PORT}`))?.points ?? [];
        const after = pts.filter((p) => p.t > (step?.t ?? 0) + 3);
        if (after.length >= 5 && Math.abs(after[after.length - 1]?.offset ?? 1) < 0.01) break;
        assert.ok(Date.now() < settled, `no settled offsets after the step: ${JSON.stringify(after)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(d.snapshot().system.synchronised);

      await withDashboard(`${base}/`, 1, async (page) => {
        const v = await page.evaluate((st) => {
          interface U {
            data: (number | null)[][];
            axes: { _splits: number[]; _values: string[] }[];
            valToPos(v: number, scale: string): number;
          }
          const w = globalThis as unknown as { __ntpkit: { charts: Record<string, U> } };
          const u = w.__ntpkit.charts.offset as U;
          const [ts = [], ...series] = u.data;
          const before: number[] = [];
          const after: number[] = [];
          ts.forEach((x, i) => {
            for (const ys of series) {
              const y = ys[i];
              if (x === null || y === null || y === undefined) continue;
              if (x < st - 0.5) before.push(y);
              else if (x > st + 3) after.push(y);
            }
          });
          const last = after.slice(-4);
          let peak = 0;
          for (const y of last) if (Math.abs(y) > Math.abs(peak)) peak = y;
          return {
            before,
            after: last,
            // How far the largest offset after the step is drawn from the zero line.
            peakPx: Math.abs(u.valToPos(peak, 'y') - u.valToPos(0, 'y')),
            splits: u.axes[1]?._splits ?? [],
            labels: u.axes[1]?._values ?? [],
          };
        }, step.t);
        assert.ok(
          v.before.some((y) => Math.abs(y - 2.5) < 0.01),
          `2.5 s offsets before the step: ${v.before}`,
        );
        assert.ok(v.after.length >= 4, `${v.after.length} points after the step`);
        assert.ok(
          v.after.every((y) => Math.abs(y) < 0.01),
          `sub-10-ms offsets at the end: ${v.after}`,
        );
        // On a linear axis up to 2.5 s, a few hundred µs is a fraction of a pixel from zero.
        assert.ok(v.peakPx > 15, `the largest of the last offsets is ${v.peakPx} px from zero`);
        assert.ok(
          v.splits.some((s) => s !== 0 && Math.abs(s) <= 1e-3),
          `sub-ms ticks: ${v.splits}`,
        );
        assert.deepEqual(v.labels, symlogTickLabels(v.splits));
        await page.waitForSelector('#strip .ev[data-kind="kod"]', { timeout: 10000 });
        const titles = await page.$$eval('#strip .ev', (es) =>
          es.map((e) => `${e.getAttribute('data-kind')}: ${e.getAttribute('title')}`),
        );
        assert.ok(
          titles.some((x) => /^clock-step: .*clock stepped by \+2\.(49|50)\d+ s: offset beyond/.test(x)),
          titles.join('\n'),
        );
        assert.ok(
          titles.some((x) => /^sys-peer: .*system peer: 127\.0\.0\.1:11425/.test(x)),
          titles.join('\n'),
        );
        assert.ok(titles.some((x) => /^kod: .*KoD RATE from 127\.0\.0\.1:11426/.test(x)));
        const shot =
          process.env.NTPKIT_DASHBOARD_PNG === '1'
            ? join(process.cwd(), 'docs', 'dashboard-step.png')
            : join(dir, 'dashboard-step.png');
        await page.screenshot({ path: shot, fullPage: true });
      });
    } finally {
      clearTimeout(jump);
      await d.stop();
      ahead.close();
      kod.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
