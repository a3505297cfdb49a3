/**
 * The poll process of a symmetric association (src/assoc/poll.ts, `PollProcess.peerPacket`): a peer
 * of a higher stratum is answered at once, a packet of our own in between makes ours wait for the
 * peer's next one, a peer of the same stratum late in our interval pushes ours back, a peer of a lower
 * stratum changes nothing; and clients are not re-timed at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PollProcess } from '../../src/assoc/poll.js';
import { defaultSourceConfig } from '../../src/system/system.js';
import type { SourceMode } from '../../src/system/types.js';

const S = 1_000_000_000n;

/** A poll process at 2^10 s that sent its last packet at 1,000 s (random 0.5: no spread). */
function pollAt1000(mode: SourceMode = 'peer'): PollProcess {
  const pp = new PollProcess(
    { ...defaultSourceConfig('10.0.0.1', 123, mode), minpoll: 6, maxpoll: 10 },
    () => 0.5,
  );
  pp.hpoll = 10;
  pp.ppoll = 10;
  pp.schedule(1000n * S, 1024);
  return pp;
}

const at = (pp: PollProcess) => Number(pp.nextPoll) / 1e9;

test('a peer of a higher stratum is answered at once', () => {
  const pp = pollAt1000();
  assert.equal(at(pp), 2024);
  // Its packet 1,000 s after ours (our poll is due in 24 s): ours goes now.
  pp.peerPacket(2000n * S, 3, 2);
  assert.equal(at(pp), 2000);
});

test('a peer of a higher stratum: our own packets wait PEER_WAIT (1.1) polls for its next one', () => {
  const pp = pollAt1000();
  pp.peerPacket(1500n * S, 3, 2);
  // The first packet seen from it: answered at once (we had sent nothing since its previous one).
  assert.equal(at(pp), 1500);
  pp.schedule(1500n * S, pp.interval());
  assert.ok(Math.abs(pp.interval() - 1.1 * 1024) < 1e-9, `${pp.interval()}`);
  // Its next packet a poll later: answered at once again.
  pp.peerPacket(2524n * S, 3, 2);
  assert.equal(at(pp), 2524);
  pp.schedule(2524n * S, pp.interval());
  // Our timer fired before its next packet (it was late, or its poll rose): that packet of ours was
  // not an answer, so the peer's packet now is not answered; ours waits 1.1 polls from it.
  pp.schedule(3650n * S, pp.interval());
  pp.peerPacket(3700n * S, 3, 2);
  assert.ok(Math.abs(at(pp) - (3700 + 1.1 * 1024)) < 1e-6, `${at(pp)}`);
  // Its next packet a poll later is answered at once: back in step after one poll.
  pp.peerPacket(4724n * S, 3, 2);
  assert.equal(at(pp), 4724);
});

test('a peer of a higher stratum is answered at most once per half minpoll', () => {
  const pp = pollAt1000();
  pp.peerPacket(1010n * S, 3, 2);
  // Ten seconds after our packet: not answered, ours waits for its next one.
  assert.ok(at(pp) > 2024, `${at(pp)}`);
});

test('a peer of the same stratum late in our interval pushes ours back; early, nothing moves', () => {
  const pp = pollAt1000();
  pp.peerPacket(1400n * S, 2, 2);
  assert.equal(at(pp), 2024);
  pp.peerPacket(1700n * S, 2, 2);
  assert.ok(Math.abs(at(pp) - (1000 + 1.1 * 1024)) < 1e-6, `${at(pp)}`);
  assert.equal(pp.interval(), 1024);
});

test('a peer of a lower stratum, and a server, do not move our poll', () => {
  const peer = pollAt1000();
  peer.peerPacket(2000n * S, 1, 2);
  assert.equal(at(peer), 2024);
  assert.equal(peer.interval(), 1024);
  const client = pollAt1000('server');
  client.peerPacket(2000n * S, 3, 2);
  assert.equal(at(client), 2024);
  assert.equal(client.interval(), 1024);
});
