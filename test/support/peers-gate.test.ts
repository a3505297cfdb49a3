/**
 * The CI switch NTPKIT_REQUIRE_PEERS=1 (set by .ci/run): with a peer missing from PATH, the shared
 * skip helper fails instead of skipping, both when called directly and in a whole test run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PeerMissingError, REQUIRE_PEERS_ENV, skipReason } from './peers.js';

/** Runs `fn` with some environment variables replaced (undefined deletes), then restores them. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

const empty = mkdtempSync(join(tmpdir(), 'ntpkit-peers-gate-'));
after(() => rmSync(empty, { recursive: true, force: true }));

describe('NTPKIT_REQUIRE_PEERS', () => {
  it('without the switch a peer missing from PATH is a skip reason', () => {
    const why = withEnv({ PATH: empty, [REQUIRE_PEERS_ENV]: undefined }, () => skipReason('faketime'));
    assert.match(why ?? '', /faketime is not installed/);
  });

  it('with the switch set the helper throws for a peer missing from PATH', () => {
    for (const peer of ['faketime', 'ntpdig', 'chronyc']) {
      assert.throws(
        () => withEnv({ PATH: empty, [REQUIRE_PEERS_ENV]: '1' }, () => skipReason(peer)),
        (e: unknown) => e instanceof PeerMissingError && e.message.includes(`${peer} is not installed`),
      );
    }
  });

  it('with the switch set a missing NTPsec tree throws too', () => {
    assert.throws(
      () => withEnv({ NTPKIT_PEERS_DIR: empty, [REQUIRE_PEERS_ENV]: '1' }, () => skipReason('ntpsec')),
      PeerMissingError,
    );
  });

  it('with the switch set nothing is thrown for what is there', () => {
    assert.equal(
      withEnv({ [REQUIRE_PEERS_ENV]: '1' }, () => skipReason(process.execPath)),
      null,
    );
  });

  it('a test run that skips on a missing peer passes without the switch and fails with it', () => {
    // The pattern the interop tests use: a describe-level skip computed from skipReason.
    const file = join(empty, 'gate.test.mjs');
    const helper = pathToFileURL(join(import.meta.dirname, 'peers.js')).href;
    writeFileSync(
      file,
      [
        "import { describe, it } from 'node:test';",
        `import { skipReason } from ${JSON.stringify(helper)};`,
        "describe('needs faketime', { skip: skipReason('faketime') ?? false }, () => {",
        "  it('runs', () => {});",
        '});',
      ].join('\n'),
    );
    const run = (strict: boolean) =>
      spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
        encoding: 'utf8',
        timeout: 30_000,
        env: {
          ...process.env,
          PATH: empty,
          [REQUIRE_PEERS_ENV]: strict ? '1' : undefined,
          NODE_TEST_CONTEXT: undefined,
        },
      });
    const lax = run(false);
    assert.equal(lax.status, 0, lax.stdout + lax.stderr);
    assert.match(lax.stdout, /# SKIP faketime is not installed/);
    const strict = run(true);
    assert.notEqual(strict.status, 0, strict.stdout);
    assert.match(
      strict.stdout + strict.stderr,
      /NTPKIT_REQUIRE_PEERS=1 and a peer this test needs is missing: faketime/,
    );
  });
});
