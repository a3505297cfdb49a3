/**
 * Fuzz-style robustness: 100,000 random and mutated inputs into the decoder. It must never throw, must
 * answer with a known error code or a packet, and every accepted packet must re-encode to its input.
 * Seeded (src/sim/rng.ts) so a failure is reproducible; prints the seed and the input on failure.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Rng } from '../../src/sim/rng.js';
import { fromHex, toHex } from '../../src/wire/hex.js';
import { isKissOfDeath, kissCode } from '../../src/wire/kiss.js';
import { decodePacket, emptyPacket, encodePacket, makeExtension } from '../../src/wire/packet.js';
import { renderRefid } from '../../src/wire/refid.js';
import { checkServerResponse } from '../../src/wire/validate.js';

const CODES = new Set([
  'TOO_SHORT',
  'BAD_VERSION',
  'BAD_EXTENSION_LENGTH',
  'TRUNCATED_EXTENSION',
  'TRUNCATED_MAC',
  'BAD_MAC_LENGTH',
  'TRAILING_BYTES',
]);

/** 32-bit integers from the simulator's seeded PRNG. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.nextU32();
}

function seeds(): Uint8Array[] {
  const dir = new URL('../../../test/vectors/', import.meta.url);
  const out: Uint8Array[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const v = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { packets: { hex: string }[] };
    for (const p of v.packets) out.push(fromHex(p.hex));
  }
  const withExt = {
    ...emptyPacket(),
    extensions: [makeExtension(0x0104, new Uint8Array(32)), makeExtension(2, new Uint8Array(40))],
  };
  out.push(encodePacket(withExt), encodePacket(emptyPacket()));
  return out;
}

test('100,000 random and mutated packets: no exception, typed errors, exact re-encoding', () => {
  const seed = 0x5eed2026;
  const next = rng(seed);
  const corpus = seeds();
  const request = { ...emptyPacket(), mode: 3, transmitTimestamp: 0x0123456789abcdefn };
  let accepted = 0;
  const byCode = new Map<string, number>();
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) {
    let input: Uint8Array;
    const kind = next() % 4;
    if (kind === 0) {
      input = new Uint8Array(next() % 160).map(() => next() & 0xff);
    } else {
      const base = corpus[next() % corpus.length] ?? new Uint8Array(48);
      input = base.slice();
      const flips = 1 + (next() % 6);
      for (let k = 0; k < flips; k++) {
        const op = next() % 5;
        if (op <= 2 && input.length > 0)
          input[next() % input.length] = next() & 0xff; // byte change
        else if (op === 3)
          input = input.slice(0, next() % (input.length + 1)); // truncate
        else {
          const extra = new Uint8Array(next() % 40).map(() => next() & 0xff); // append
          const grown = new Uint8Array(input.length + extra.length);
          grown.set(input);
          grown.set(extra, input.length);
          input = grown;
        }
      }
      // keep many mutants structurally plausible: version 4 and a sane length field
      if (kind === 3 && input.length > 52) {
        input[0] = ((input[0] ?? 0) & 0xc7) | 0x20;
        input[50] = 0;
      }
    }
    try {
      const r = decodePacket(input);
      if (r.ok) {
        accepted++;
        assert.deepEqual(encodePacket(r.packet), input);
        renderRefid(r.packet.referenceId, r.packet.stratum);
        if (isKissOfDeath(r.packet)) assert.equal(typeof kissCode(r.packet), 'string');
        checkServerResponse(request, r.packet);
      } else {
        assert.ok(CODES.has(r.error.code), `unknown code ${r.error.code}`);
        assert.ok(r.error.message.length > 0);
        byCode.set(r.error.code, (byCode.get(r.error.code) ?? 0) + 1);
      }
    } catch (err) {
      assert.fail(`seed ${seed} iteration ${i} input ${toHex(input)}: ${String(err)}`);
    }
  }
  const ms = performance.now() - t0;
  assert.ok(accepted > 10_000, `only ${accepted} inputs decoded`);
  for (const c of ['TOO_SHORT', 'BAD_VERSION', 'BAD_EXTENSION_LENGTH', 'TRUNCATED_MAC', 'TRAILING_BYTES']) {
    assert.ok((byCode.get(c) ?? 0) > 0, `fuzzing never produced ${c}`);
  }
  assert.ok(ms < 10_000, `fuzzing took ${ms.toFixed(0)} ms`);
});
