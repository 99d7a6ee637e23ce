import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Progress } from '../../src/demo/progress.ts';

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

test('a terminal: a status line naming what is still starting, cleared before each result', () => {
  const out = new Capture();
  const p = new Progress(out, true);
  p.begin('details-v1');
  p.begin('reviews-v1');
  assert.match(out.text, /starting details-v1, reviews-v1 \(0s\)$/);
  p.ok('details-v1', '(127.0.1.1) ready');
  assert.match(out.text, /\r\x1b\[2K✔ details-v1 \(127\.0\.1\.1\) ready \(\d+\.\ds\)\n.*starting reviews-v1 \(0s\)$/);
  p.ok('reviews-v1', '(127.0.1.4) ready');
  p.done();
  assert.ok(out.text.endsWith('ready (0.0s)\n'), JSON.stringify(out.text.slice(-40)));
});
