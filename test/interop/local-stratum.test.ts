/**
 * `[local] stratum` with no source, the daemon run as a user runs it (`ntpkit daemon -c FILE`): ntpkit serves the host's time (within 1 ms, as a probe on
 * loopback measures it against CLOCK_REALTIME), and announces it as stratum N with refid LOCL; with a
 * rate correction from a state file the served clock is no longer the host's and it announces
 * unsynchronised instead. Port 12210. Nothing here sets the host clock.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it, describe as suite } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freeTempDir, removeDir, sleep, spawnDaemon, waitFor } from '../support/peers.js';
import { type ProbeReply, saysSynchronised, startProbe } from '../support/probe.js';

const PORT = 12210;

function describe(r: ProbeReply): string {
  return `LI ${r.leap} stratum ${r.stratum} ${r.refid} offset ${r.offset} rtt ${r.rtt}`;
}

function config(discipline: string, stateFile?: string): string {
  return `
[local]
stratum = 3
[serve]
listen = ["127.0.0.1"]
port = ${PORT}
[clock]
discipline = "${discipline}"
${stateFile === undefined ? '' : `state-file = "${stateFile}"`}
[observe]
control-socket = false
`;
}

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Runs `ntpkit daemon -c` on `toml`, probes it for `ms`, stops it; the probe's replies. */
async function probeDaemon(dir: string, toml: string, ms: number): Promise<ProbeReply[]> {
  const conf = join(dir, 'ntpkit.toml');
  await writeFile(conf, toml);
  const d = spawnDaemon(process.execPath, [CLI, 'daemon', '--no-drop-privileges', '--config', conf]);
  try {
    assert.ok(await waitFor(() => d.output().includes('daemon started') || d.exited(), 10_000), d.output());
    assert.ok(!d.exited(), d.output());
    const p = await startProbe(PORT);
    await sleep(ms);
    await p.stop();
    // The probe's first replies come while its own process is still warming up (slow handlers).
    return p.replies.slice(2);
  } finally {
    await d.stop();
  }
}

suite('[local] stratum serves the host time', () => {
  for (const discipline of ['feedforward', 'rfc5905']) {
    it(`${discipline}: stratum 3, LOCL, within 1 ms of the host clock`, async () => {
      // Started a few times: the pair of counter and wall time the clock starts from must be read
      // back to back each time (a first FFI call or a preemption between them put 7–14 ms in).
      const dir = await freeTempDir('ntpkit-local-');
      try {
        for (let run = 0; run < 3; run++) {
          const replies = await probeDaemon(dir, config(discipline), 1500);
          assert.ok(replies.length >= 8, `${replies.length} replies`);
          for (const r of replies) {
            assert.ok(saysSynchronised(r) && r.stratum === 3 && r.refid === 'LOCL', describe(r));
            // The probe stamps in its event loop: half its round trip of slack.
            assert.ok(Math.abs(r.offset) < 0.001 + r.rtt / 2, `run ${run}: served ${describe(r)}`);
          }
        }
      } finally {
        await removeDir(dir);
      }
    });
  }

  it('a rate correction from a state file: the served clock is not the host one, unsynchronised', async () => {
    const dir = await freeTempDir('ntpkit-local-');
    try {
      const state = join(dir, 'state.json');
      await writeFile(
        state,
        JSON.stringify({ version: 1, frequencyPpm: 40, savedAt: Math.floor(Date.now() / 1000) }),
      );
      const replies = await probeDaemon(dir, config('feedforward', state), 800);
      assert.ok(replies.length >= 3);
      for (const r of replies) assert.ok(!saysSynchronised(r) && r.refid === 'INIT', describe(r));
    } finally {
      await removeDir(dir);
    }
  });
});
