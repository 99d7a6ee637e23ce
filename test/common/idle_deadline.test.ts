/**
 * IdleDeadline, the idle timeout behind a connection's idle_timeout (both codecs, both
 * directions) and per_try_idle_timeout: on a manual clock, it fires only after the full duration
 * with no activity, activity costs no timer, a shorter restart fires earlier, stop cancels.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleDeadline } from '../../src/common/idle_deadline.ts';
import { ManualClock } from '../helpers/clock.ts';

function deadline(clock: ManualClock, fired: number[]): IdleDeadline {
  return new IdleDeadline(clock, () => fired.push(clock.now()));
}

describe('IdleDeadline', () => {
  test('fires after the full duration with no activity; a touch moves the deadline without a new timer', async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const d = deadline(clock, fired);
    d.start(100);
    assert.equal(clock.size, 1);
    await clock.advance(60);
    d.touch();
    d.touch();
    assert.equal(clock.size, 1, 'touching does not add timers');
    await clock.advance(99);
    assert.deepEqual(fired, [], 'not idle 100 ms yet at 159');
    await clock.advance(1);
    assert.deepEqual(fired, [160]);
    assert.equal(clock.size, 0, 'no timer after firing');
  });

  test('start again restarts the count; a shorter duration arms an earlier timer; 0 never fires', async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const d = deadline(clock, fired);
    d.start(1000);
    await clock.advance(100);
    d.start(50);
    await clock.advance(50);
    assert.deepEqual(fired, [150], 'the shorter deadline, not the first timer');
    d.start(100);
    await clock.advance(40);
    d.start(100);
    assert.equal(clock.size, 1, 'a restart with a timer due first keeps that timer');
    await clock.advance(99);
    assert.deepEqual(fired, [150]);
    await clock.advance(1);
    assert.deepEqual(fired, [150, 290]);
    d.start(0);
    await clock.advance(10_000);
    assert.deepEqual(fired, [150, 290]);
    assert.equal(clock.size, 0);
  });

  test('stop cancels; start after stop arms again', async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const d = deadline(clock, fired);
    d.start(100);
    await clock.advance(50);
    d.stop();
    assert.equal(d.armed, false);
    await clock.advance(500);
    assert.deepEqual(fired, []);
    d.start(100);
    assert.equal(d.armed, true);
    await clock.advance(100);
    assert.deepEqual(fired, [650]);
  });

  test('a deadline beyond setTimeout\'s range is reached by re-arming, never cut short', async () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const d = deadline(clock, fired);
    const long = 3 * 0x7fffffff;
    d.start(long);
    await clock.advance(0x7fffffff);
    assert.deepEqual(fired, [], 'not at the first re-arm');
    assert.equal(d.armed, true);
    await clock.advance(long - 0x7fffffff);
    assert.deepEqual(fired, [long]);
  });
});
