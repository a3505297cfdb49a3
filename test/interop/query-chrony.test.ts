/**
 * `ntpkit query` against a real chronyd on loopback whose clock is off by a known amount
 * (libfaketime +2.5 s): the reported offset must be within 1 ms of +2.5 s. Also IPv6 loopback.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCommand, skipReason, startChronyd } from '../support/peers.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

interface QueryJson {
  offset: number;
  delay: number;
  stratum: number;
  refid: string;
  leap: number;
  rootDelay: number;
  rootDispersion: number;
  rootDistance: number;
  version: number;
  samplesSent: number;
  samples: unknown[];
}

async function query(
  args: string[],
): Promise<{ code: number | null; json: QueryJson | null; stdout: string; stderr: string }> {
  const r = await runCommand(process.execPath, [CLI, 'query', '--json', ...args], { timeoutMs: 20_000 });
  let json: QueryJson | null = null;
  try {
    json = JSON.parse(r.stdout) as QueryJson;
  } catch {
    json = null;
  }
  return { code: r.code, json, stdout: r.stdout, stderr: r.stderr };
}

test('query chronyd under faketime +2.5 s reports +2.5 s within 1 ms', async (t) => {
  const why = skipReason('root', 'chronyd', 'faketime', 'setpriv');
  if (why !== null) return t.skip(why);
  const srv = await startChronyd({ port: 11110, faketime: '+2.5s' });
  t.after(() => srv.stop());
  const r = await query(['127.0.0.1:11110', '--samples', '8', '--interval', '0.05']);
  assert.equal(r.code, 0, r.stderr);
  const j = r.json;
  assert.ok(j !== null, r.stdout);
  assert.ok(Math.abs(j.offset - 2.5) < 0.001, `offset ${j.offset}`);
  // Both ends stamp in the kernel and the round trip takes microseconds; the server randomises its
  // timestamps below its precision, so the measured delay may come out a fraction of a µs negative.
  assert.ok(j.delay > -1e-6 && j.delay < 0.01, `delay ${j.delay}`);
  assert.equal(j.stratum, 1);
  assert.equal(j.refid, '127.127.1.1');
  assert.equal(j.leap, 0);
  assert.equal(j.version, 4);
  assert.equal(j.samplesSent, 8);
  assert.ok(j.samples.length >= 6);
  for (const k of ['rootDelay', 'rootDispersion', 'rootDistance'] as const)
    assert.equal(typeof j[k], 'number');
});

test('query chronyd over IPv6 loopback ([::1]:port) reports ~0 offset', async (t) => {
  const why = skipReason('root', 'chronyd', 'setpriv');
  if (why !== null) return t.skip(why);
  const srv = await startChronyd({ port: 11111, bindaddress: '::1', allow: ['::1'] });
  t.after(() => srv.stop());
  const r = await query(['[::1]:11111', '-n', '4', '-i', '0.05']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.json !== null);
  assert.ok(Math.abs(r.json.offset) < 0.001, `offset ${r.json.offset}`);
});
