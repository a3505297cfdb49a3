import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_CONFIG_TOML } from '../../src/config/default.js';
import { loadConfigFile } from '../../src/daemon/load.js';

// dist/test/config → repository root
const root = join(import.meta.dirname, '..', '..', '..');
const examples = join(root, 'examples');
const files = readdirSync(examples).filter((f) => f.endsWith('.toml'));

test('there are shipped example configurations', () => {
  assert.ok(files.length >= 5, `found ${files.join(', ')}`);
});

for (const f of files) {
  test(`examples/${f} is a valid configuration`, async () => {
    const c = await loadConfigFile(join(examples, f));
    const n = c.servers.length + c.pools.length + c.peers.length + c.broadcastClients.length;
    assert.ok(n > 0 || c.system.localStratum !== null, 'has sources or a local stratum');
  });
}

test('examples/default.toml is the built-in default', () => {
  assert.equal(readFileSync(join(examples, 'default.toml'), 'utf8'), DEFAULT_CONFIG_TOML);
});
