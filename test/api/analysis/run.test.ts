/** The runner: lines from the YAML, namespace defaults, suppression, istioctl's sort order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResources } from '../../../src/api/analysis/load.ts';
import { parseSuppression, sortMessages, suppressionName } from '../../../src/api/analysis/run.ts';

const YAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: frod
- apiVersion: v1
  kind: Pod
  metadata:
    name: p
    namespace: foo
---
metadata:
  name: nokind
`;

test('load: namespaces, lines, List items, documents without kind', () => {
  const { resources, errors } = parseResources(YAML, 'f.yaml');
  assert.deepEqual(resources.map((r) => `${r.kind} ${r.namespace}/${r.name}`), ['VirtualService default/reviews', 'Namespace /frod', 'Pod foo/p']);
  assert.equal(resources[0].origin.line(), 1);
  assert.equal(resources[0].origin.line('spec.hosts[0]'), 7);
  assert.equal(resources[0].origin.line('metadata.name'), 4);
  assert.equal(resources[2].origin.line('metadata.name'), 19);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /no group, version and kind/);
  const allNs = parseResources(YAML, 'f.yaml', { namespace: '' }).resources;
  assert.equal(allNs[0].namespace, '');
});

test('suppression names and parsing', () => {
  const { resources } = parseResources(YAML, 'f.yaml');
  assert.equal(suppressionName(resources[0]), 'VirtualService reviews.default');
  assert.equal(suppressionName(resources[1]), 'Namespace frod');
  assert.deepEqual(parseSuppression('IST0102=Namespace frod'), { code: 'IST0102', resource: 'Namespace frod' });
  assert.throws(() => parseSuppression('Namespace frod'), /<code>=<resource>/);
});

test('sort: level, code, resource, text', () => {
  const { resources } = parseResources(YAML, 'f.yaml');
  const m = (code: string, level: 'Error' | 'Warning', r = resources[0], text = 'x') => ({ code, name: code, level, text, resource: r });
  const sorted = sortMessages([m('IST0002', 'Warning'), m('IST0101', 'Error', resources[2]), m('IST0101', 'Error', resources[0]), m('IST0106', 'Error')]);
  assert.deepEqual(sorted.map((x) => `${x.code} ${x.resource!.kind}`), ['IST0101 Pod', 'IST0101 VirtualService', 'IST0106 VirtualService', 'IST0002 VirtualService']);
});

test('two objects with one identity: the later one is analyzed, as istioctl keeps it', async () => {
  const { analyze } = await import('../../../src/api/analysis/run.ts');
  const a = parseResources(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  http:
  - route:
    - destination: {host: details, subset: v1}
`, 'a.yaml').resources;
  const b = parseResources(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  http:
  - route:
    - destination: {host: details, subset: v2}
`, 'b.yaml').resources;
  const ms = analyze([...a, ...b], { analyzers: ['virtualservice.DestinationRuleAnalyzer'] });
  assert.deepEqual(ms.map((m) => `${m.resource!.origin.file} ${m.text}`), ['b.yaml Referenced host+subset in destinationrule not found: "details+v2"']);
});
