// The server worker's random bytes (pooledRandom): fetched in blocks, every byte handed out once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pooledRandom } from '../../src/serve/worker-answer.js';

test('pooledRandom: blocks of 4096, each byte used once, in order; large requests direct', () => {
  let next = 0;
  const calls: number[] = [];
  const counting = (n: number) => {
    calls.push(n);
    return Uint8Array.from({ length: n }, () => next++ & 0xff);
  };
  const r = pooledRandom(counting);
  const seen: number[] = [];
  for (let i = 0; i < 300; i++) seen.push(...r(16));
  // 300 × 16 = 4800 bytes: two blocks; a request that does not fit the rest of a block starts a new one.
  assert.deepEqual(calls, [4096, 4096]);
  assert.deepEqual(
    seen.slice(0, 4096),
    Array.from({ length: 4096 }, (_, i) => i & 0xff),
  );
  assert.deepEqual(
    seen.slice(4096),
    Array.from({ length: 704 }, (_, i) => (4096 + i) & 0xff),
  );
  // Copies: changing one does not change what comes next.
  const a = r(16);
  a.fill(0);
  assert.notDeepEqual(r(16), new Uint8Array(16));
  assert.equal(r(5000).length, 5000);
  assert.equal(calls.at(-1), 5000);
});
