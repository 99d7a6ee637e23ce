/**
 * gateway.ConflictingGatewayAnalyzer on Istio's conflicting-gateways testdata (istioctl runs it
 * only with Kubernetes inputs, so its file-mode oracle has nothing for it): same workload, same
 * port, overlapping hosts, different protocols conflict; no port or one protocol does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadInputs } from '../../../src/api/analysis/load.ts';
import { analyze } from '../../../src/api/analysis/run.ts';
import { TESTDATA } from './conformance.ts';

function conflicts(file: string): string[] {
  const { resources } = loadInputs([join(TESTDATA, file)]);
  return analyze(resources, { analyzers: ['gateway.ConflictingGatewayAnalyzer'] }).map((m) => `${m.resource!.name}: ${m.text}`);
}

test('conflicting gateways', { skip: !existsSync(TESTDATA) && 'istio-data not present' }, () => {
  assert.deepEqual(conflicts('conflicting-gateways.yaml'), [
    'alpha: Conflict with gateways default/beta (workload selector istio=ingressgateway, port 80, hosts [foo.bar]).',
    'beta: Conflict with gateways default/alpha (workload selector istio=ingressgateway, port 80, hosts [foo.bar]).',
  ]);
  assert.deepEqual(conflicts('conflicting-gateways-multiple-ports.yaml').map((t) => t.match(/port \d+/)![0]), ['port 90', 'port 90']);
  assert.equal(conflicts('conflicting-gateways-subSelector.yaml').length, 2, 'a pod selected by both gateways is one workload');
  assert.deepEqual(conflicts('conflicting-gateways-invalid-port.yaml'), []);
  assert.deepEqual(conflicts('gateway-secrets.yaml'), [], 'HTTPS servers for one host on several gateways merge');
});
