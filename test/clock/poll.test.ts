/** PollAdapter: chrony's poll score rule (adjust_poll), including its truncation towards zero. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PollAdapter } from '../../src/clock/poll.js';

function at(exp: number, min = 6, max = 10): PollAdapter {
  const p = new PollAdapter(min, max, 2);
  p.adjust(exp - min);
  assert.equal(p.exponent, exp);
  return p;
}

test('a score just below zero moves the poll down by one, not two (chrony truncates towards zero)', () => {
  const p = at(8);
  p.adjust(-0.235);
  assert.equal(p.exponent, 7, 'one step down');
  // The score left is 0.765: a small rise then moves it back up, a small fall does not move it.
  p.adjust(-0.5);
  assert.equal(p.exponent, 7);
  p.adjust(-0.5);
  assert.equal(p.exponent, 6);
  const q = at(8);
  q.adjust(-2.5);
  assert.equal(q.exponent, 6, 'a score of −2.5 moves by three at most: clamped at minpoll');
  const r = at(9);
  r.adjust(-1.2);
  assert.equal(r.exponent, 7, '−1.2 → two steps down');
});

test('rises by whole units of the score, clamped at maxpoll; samples follow the target', () => {
  const p = at(6);
  p.adjust(0.6);
  assert.equal(p.exponent, 6);
  p.adjust(0.6);
  assert.equal(p.exponent, 7);
  p.adjust(10);
  assert.equal(p.exponent, 10);
  // Trouble: an error four times the distance takes log2(4) = 2 off.
  p.sample(4e-3, 1e-3, 100);
  assert.equal(p.exponent, 8);
  // Below the target the score falls twice as fast as it rises above it.
  const q = at(8);
  q.sample(0, 1, 1);
  assert.equal(q.exponent, 7, '(1/2 − 1)/2 × 2 = −0.5: one step down');
  p.reset();
  assert.equal(p.exponent, 6);
});

test('a lossy path lowers the ceiling: with half the polls unanswered the poll stays one below maxpoll', () => {
  const p = at(6);
  for (let i = 0; i < 20; i++) p.answered(0);
  p.adjust(10);
  assert.equal(p.exponent, 10, 'every poll answered: maxpoll');
  for (let i = 0; i < 20; i++) {
    p.answered(1);
    p.adjust(1);
  }
  assert.equal(p.exponent, 9, 'half of them answered: the samples come 2^10 s apart at 2^9 s polls');
  for (let i = 0; i < 20; i++) {
    p.answered(3);
    p.adjust(1);
  }
  assert.equal(p.exponent, 8, 'a quarter answered');
  for (let i = 0; i < 20; i++) p.answered(0);
  p.adjust(10);
  assert.equal(p.exponent, 10, 'the ceiling rises again once the polls are answered');
  p.answered(5);
  p.reset();
  p.adjust(10);
  assert.equal(p.exponent, 10, 'reset forgets the loss');
});

test('held one below maxpoll while the estimate is noise-limited there and its history short', () => {
  const p = at(6);
  p.hold(3000, 5);
  p.adjust(10);
  assert.equal(p.exponent, 9, 'noise-limited at maxpoll (5 samples’ worth), 3,000 s of history');
  p.hold(3000, 2);
  assert.equal(p.exponent, 9, 'the target’s worth (2) at maxpoll: still held');
  p.hold(3000, 1.5);
  p.adjust(1);
  assert.equal(p.exponent, 10, 'limited by the wander at maxpoll (below the target): not held');
  p.hold(5000, 5);
  assert.equal(p.exponent, 9, 'held again');
  p.hold(10 * 1024, 5);
  p.adjust(1);
  assert.equal(p.exponent, 10, 'the history spans ten maxpoll intervals: no longer held');
  const q = new PollAdapter(10, 10, 2);
  q.hold(0, 100);
  assert.equal(q.exponent, 10, 'never below minpoll');
});

test('the poll stays at or below half the history’s span', () => {
  const p = at(6);
  p.hold(300, 1);
  p.adjust(10);
  assert.equal(p.exponent, 7, '300 s of history: at most 128 s (2^7 ≤ 150)');
  p.hold(1100, 1);
  p.adjust(1);
  assert.equal(p.exponent, 9, '1,100 s: at most 512 s');
  p.hold(2100, 1);
  p.adjust(1);
  assert.equal(p.exponent, 10, '2,100 s: maxpoll');
  p.reset();
  p.adjust(10);
  assert.equal(p.exponent, 10, 'reset forgets the span (a clock that reports none is not limited)');
  const q = at(6);
  q.adjust(10);
  assert.equal(q.exponent, 10, 'without hold(): no span ceiling (per-source polls)');
});
