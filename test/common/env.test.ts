import { test } from 'node:test';
import assert from 'node:assert/strict';
import { positiveNumberEnv } from '../../src/common/env.ts';

test('positiveNumberEnv: unset or empty is the default, a positive number is taken, anything else is an error naming the variable', () => {
  assert.equal(positiveNumberEnv('TSMESH_PUSH_BUFFER_MB', 64, {}), 64);
  assert.equal(positiveNumberEnv('TSMESH_PUSH_BUFFER_MB', 64, { TSMESH_PUSH_BUFFER_MB: ' ' }), 64);
  assert.equal(positiveNumberEnv('TSMESH_PUSH_BUFFER_MB', 64, { TSMESH_PUSH_BUFFER_MB: '8' }), 8);
  for (const bad of ['abc', '0', '-3', 'Infinity']) {
    assert.throws(() => positiveNumberEnv('TSMESH_PUSH_BUFFER_MB', 64, { TSMESH_PUSH_BUFFER_MB: bad }), { message: `TSMESH_PUSH_BUFFER_MB="${bad}" is not a positive number (unset it for the default, 64)` });
  }
});
