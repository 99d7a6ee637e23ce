// Istio's analyzer testdata holds known-bad inputs; where our cross-resource rules overlap the
// analyzers (ReferencedResourceNotFound for subsets and gateways) we must flag exactly the
// resources the file's comments say are broken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPaths } from '../../src/api/load.ts';
import { parseConfigs } from '../../src/api/yaml.ts';
import { readFileSync } from 'node:fs';
import { crossValidate } from '../../src/api/validation/cross.ts';
import { ISTIO } from './helpers.ts';

const T = join(ISTIO, 'pkg/config/analysis/analyzers/testdata');
// Parse only: these inputs skip Istio's webhook, so per-resource validation would add noise.
const read = (f: string) => parseConfigs(readFileSync(join(T, f), 'utf8'), { file: f }).configs;

test('virtualservice_destinationrules.yaml: bogus subsets flagged on route and mirror, nothing else', () => {
  const errs = crossValidate(read('virtualservice_destinationrules.yaml'));
  const got = errs.map((e) => `${e.name} ${e.path} ${e.message}`).sort();
  assert.deepEqual(got, [
    'reviews-bogussubset spec.http[0].route[0].destination.subset Referenced host+subset in destinationrule not found: "reviews+bogus"',
    'reviews-mirror-bogussubset spec.http[0].mirror.subset Referenced host+subset in destinationrule not found: "reviews+bogus"',
  ]);
});

test('virtualservice_gateways.yaml: only the bogus gateway reference is flagged ("mesh" and cross-namespace refs are fine)', () => {
  const errs = crossValidate(read('virtualservice_gateways.yaml'));
  assert.deepEqual(errs.map((e) => `${e.name} ${e.path} ${e.message}`), ['httpbin-bogus spec.gateways[0] Referenced gateway not found: "httpbin-gateway-bogus"']);
});

test('analyze-list-type.yaml: kind List items are flattened into three Gateways', () => {
  const configs = read('analyze-list-type.yaml');
  assert.deepEqual(configs.map((c) => `${c.kind}/${c.metadata.name}/${c.origin?.document}/${c.origin?.item ?? '-'}`), ['Gateway/alpha/0/-', 'Gateway/beta-l/1/0', 'Gateway/alpha-l/1/1']);
});

test('the whole analyzer testdata tree loads without any validator crashing', () => {
  const r = loadPaths([T]);
  assert.ok(r.resources > 300, `${r.resources}`);
  assert.ok(!r.errors.some((e) => /internal validation error/.test(e.message)));
  // Istio's own webhook rejects a Telemetry with both selector and targetRef; so do we.
  assert.ok(r.errors.some((e) => e.file?.endsWith('k8sgateway-selector.yaml') && e.kind === 'Telemetry' && /only one of targetRefs or selector/.test(e.message)));
});
