/**
 * The worker's interleaved table and its awaited transmit stamps (src/serve/interleaved-shard.ts):
 * lookups need address and full receive timestamp, a stamp is believed only for its number, in
 * its epoch and within its batch's send window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InterleavedShard, PendingStamps, type StampOwner } from '../../src/serve/interleaved-shard.js';

test('the table finds an exchange by address and full receive timestamp only', () => {
  const t = new InterleavedShard(1000);
  assert.equal(t.size, 1024);
  const slot = t.save('192.0.2.1', 0xe000_0001, 0x1234_5678);
  assert.ok(slot >= 0);
  assert.equal(t.find('192.0.2.1', 0xe000_0001, 0x1234_5678), slot);
  assert.equal(t.find('192.0.2.2', 0xe000_0001, 0x1234_5678), -1, 'another address');
  assert.equal(t.find('192.0.2.1', 0xe000_0002, 0x1234_5678), -1, 'another second');
  assert.equal(t.find('192.0.2.1', 0xe000_0001, 0x1234_5679), -1, 'another fraction');
  assert.equal(t.hasTx(slot), false);
  assert.equal(t.setTx(slot, 0xe000_0001, 0x1234_5679, 1, 2), false, 'a different exchange');
  assert.equal(t.setTx(slot, 0xe000_0001, 0x1234_5678, 0xe000_0001, 0x2000_0000), true);
  assert.equal(t.hasTx(slot), true);
  assert.equal(t.txSec(slot), 0xe000_0001);
  assert.equal(t.txFrac(slot), 0x2000_0000);
  // Saving again (the next exchange) starts without a transmit time.
  assert.equal(t.save('192.0.2.1', 0xe000_0001, 0x1234_5678), slot);
  assert.equal(t.hasTx(slot), false);
  t.clear();
  assert.equal(t.find('192.0.2.1', 0xe000_0001, 0x1234_5678), -1);
  assert.equal(t.count(), 0);
});

test('a full table overwrites old exchanges, never pairs a client with another one', () => {
  const t = new InterleavedShard(16);
  const saved: [string, number, number][] = [];
  for (let i = 0; i < 200; i++) {
    const e: [string, number, number] = [`10.0.0.${i & 255}`, 0xe000_0000 + i, (i * 2654435761) >>> 0];
    t.save(...e);
    saved.push(e);
  }
  assert.ok(t.count() <= 16);
  let found = 0;
  for (const [a, s, f] of saved) {
    const k = t.find(a, s, f);
    if (k >= 0) found++;
    for (const other of ['10.0.1.1', '10.0.2.2']) assert.equal(t.find(other, s, f), -1);
  }
  assert.ok(found > 0 && found <= 16, `${found} still there`);
  assert.equal(new InterleavedShard(0).save('10.0.0.1', 1, 2), -1, 'no table');
});

test('stamps are matched by number within their batch window, and not across a restart', () => {
  const p = new PendingStamps(8, 1000);
  const o: StampOwner = { slot: -1, rxSec: 0, rxFrac: 0 };
  p.begin(10_000);
  p.add(3, 100, 200); // id 0
  p.add(5, 101, 201); // id 1
  p.sent(20_000);
  assert.equal(p.outstanding(), 2);
  assert.equal(p.match(1, 15_000, o), true);
  assert.deepEqual(o, { slot: 5, rxSec: 101, rxFrac: 201 });
  assert.equal(p.match(1, 15_000, o), false, 'each number once');
  assert.equal(p.match(0, 9_999, o), false, 'before the batch was sent');
  assert.equal(p.match(0, 12_000, o), true, 'then its own');
  assert.equal(p.match(7, 15_000, o), false, 'a number never given');
  p.begin(30_000);
  p.add(9, 102, 202); // id 2
  p.sent(40_000);
  assert.equal(p.match(2, 40_900, o), true, 'late by less than the slack');
  p.begin(50_000);
  p.add(11, 103, 203); // id 3
  p.sent(60_000);
  assert.equal(p.match(3, 61_001, o), false, 'later than the slack');
  // A restart: the kernel counts from 0 again; old numbers are not believed.
  p.begin(70_000);
  p.add(13, 104, 204); // id 4
  p.sent(80_000);
  p.restart();
  assert.equal(p.outstanding(), 0);
  assert.equal(p.match(4, 75_000, o), false);
  p.begin(90_000);
  p.add(15, 105, 205); // id 0 of the new epoch
  p.sent(95_000);
  assert.equal(p.match(0, 75_000, o), false, "an old stamp numbered 0 is outside the new one's window");
  assert.equal(p.match(0, 92_000, o), true, 'its own stamp still counts');
  assert.equal(o.slot, 15);
  assert.equal(p.matched, 4);
  assert.ok(p.rejected >= 6);
});
