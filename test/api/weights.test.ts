import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationWeights, weightedDestinations } from '../../src/api/weights.ts';

test("Istio's weight rule", () => {
  assert.deepEqual(destinationWeights([{}]), { valid: true, weights: [100] });
  assert.deepEqual(destinationWeights([{ weight: 0 }]), { valid: true, weights: [100] });
  assert.deepEqual(destinationWeights([{ weight: 30 }]), { valid: true, weights: [100] });
  assert.deepEqual(destinationWeights([{ weight: 1 }, { weight: 3 }]), { valid: true, weights: [1, 3] });
  assert.deepEqual(destinationWeights([{ weight: 100 }, {}]), { valid: true, weights: [100, 0] });
  const none = destinationWeights([{}, {}]);
  assert.equal(none.valid, false);
  assert.match(!none.valid ? none.errors[0]!.message : '', /total destination weight = 0/);
  assert.equal(destinationWeights([{ weight: -1 }, { weight: 5 }]).valid, false);
  assert.deepEqual(weightedDestinations([{ weight: 80, n: 'a' }, { weight: 0, n: 'b' }, { weight: 20, n: 'c' }]).map((d) => [d.destination.n, d.weight]), [['a', 80], ['c', 20]]);
  assert.throws(() => weightedDestinations([{}, {}]), /total destination weight = 0/);
});
