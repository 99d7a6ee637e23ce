import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Progress } from '../../src/demo/progress.ts';
import { ManualClock } from '../helpers/clock.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

test('not a terminal: only one result line per part, no control characters', () => {
  const out = new Capture();
  const p = new Progress(out, false);
  p.begin('control plane');
  p.begin('ratings-v1');
  p.ok('control plane', '(xDS 127.0.0.1:15010) ready');
  p.fail('ratings-v1', 'sidecar exited with code 1', '.tsmesh/demo/logs/ratings-v1.sidecar.log');
  p.line('note');
  p.done();
  assert.equal(out.text, '✔ control plane (xDS 127.0.0.1:15010) ready\n✖ ratings-v1 failed: sidecar exited with code 1, log at .tsmesh/demo/logs/ratings-v1.sidecar.log\nnote\n');
});

test('a terminal: a status line naming what is still starting and for how long, cleared before each result', async () => {
  const out = new Capture();
  const clock = new ManualClock();
  const p = new Progress(out, true, clock);
  p.begin('details-v1');
  p.begin('reviews-v1');
  assert.match(out.text, /starting details-v1, reviews-v1 \(0s\)$/);
  await clock.advance(2100);
  assert.match(out.text, /\r\x1b\[2K. starting details-v1, reviews-v1 \(2s\)$/, 'redrawn in place as time passes');
  p.ok('details-v1', '(127.0.1.1) ready');
  assert.match(out.text, /\r\x1b\[2K✔ details-v1 \(127\.0\.1\.1\) ready \(2\.1s\)\n. starting reviews-v1 \(2s\)$/);
  await clock.advance(400);
  p.ok('reviews-v1', '(127.0.1.4) ready');
  p.done();
  assert.ok(out.text.endsWith('✔ reviews-v1 (127.0.1.4) ready (2.5s)\n'), JSON.stringify(out.text.slice(-40)));
  const before = out.text;
  await clock.advance(1000);
  assert.equal(out.text, before, 'nothing redrawn once done');
});
