import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadText } from '../../src/api/load.ts';
import { configKey } from '../../src/api/types.ts';
import { gatewayPorts, loadConfigSources, remapGatewayPort, resourceFileName, writeConfigDir } from '../../src/demo/config_copy.ts';
import { INGRESS_LABELS, sampleSources } from '../../src/demo/plan.ts';
import { listDeployments } from '../../src/registry/deployments.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const ISTIO = `${ISTIO_DATA}/samples/bookinfo`;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('our sample: the top-level files only, one file per resource, each reading back as itself', () => {
  const sources = sampleSources(repoRoot);
  assert.deepEqual(sources.map((s) => s.slice(repoRoot.length)), ['samples/bookinfo/config/bookinfo-gateway.yaml', 'samples/bookinfo/config/bookinfo.yaml', 'samples/bookinfo/config/destination-rule-all.yaml']);
  const loaded = loadConfigSources(sources);
  assert.deepEqual(loaded.errors, []);
  const out = join(dir, 'sample');
  const files = writeConfigDir(out, loaded.configs);
  assert.equal(files.length, loaded.configs.length);
  // 4 Services, 4 ServiceAccounts, 6 Deployments, Gateway + VirtualService, 4 DestinationRules.
  assert.equal(files.length, 20);
  assert.ok(existsSync(join(out, 'gateway-default-bookinfo-gateway.yaml')));
  assert.ok(existsSync(join(out, 'deployment-default-reviews-v2.yaml')));
  assert.ok(existsSync(join(out, 'serviceaccount-default-bookinfo-reviews.yaml')));
  const byKey = new Map(loaded.configs.map((c) => [configKey(c), c]));
  for (const f of files) {
    const back = loadText(readFileSync(f, 'utf8'), { file: f });
    assert.equal(back.length, 1, `${f} holds one resource`);
    assert.deepEqual(back[0]!.errors, [], f);
    const c = back[0]!.config!;
    assert.equal(join(out, resourceFileName(c)), f);
    assert.deepEqual(c.spec, byKey.get(configKey(c))!.spec);
  }
  assert.match(readFileSync(join(out, 'gateway-default-bookinfo-gateway.yaml'), 'utf8'), /^# copied by tsmesh demo from .*bookinfo-gateway\.yaml \(document 0\)/);
});

test('writeConfigDir replaces what an earlier run left', () => {
  const out = join(dir, 'replace');
  const loaded = loadConfigSources(sampleSources(repoRoot));
  writeConfigDir(out, loaded.configs);
  writeFileSync(join(out, 'virtualservice-default-left-over.yaml'), 'x: 1\n');
  writeConfigDir(out, loaded.configs.slice(0, 2));
  assert.equal(readdirSync(out).length, 2);
});

test("Istio's own bookinfo.yaml and networking files are accepted unmodified", { skip: !existsSync(ISTIO) && 'Istio data not present' }, () => {
  const loaded = loadConfigSources([join(ISTIO, 'platform/kube/bookinfo.yaml'), join(ISTIO, 'networking/bookinfo-gateway.yaml'), join(ISTIO, 'networking/destination-rule-all.yaml')]);
  assert.deepEqual(loaded.errors, []);
  const deps = listDeployments(loaded.configs);
  assert.deepEqual(deps.map((d) => d.name), ['details-v1', 'productpage-v1', 'ratings-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3']);
  assert.deepEqual(gatewayPorts(loaded.configs, INGRESS_LABELS).map((g) => [g.gateway, g.port]), [['default/bookinfo-gateway', 8080]]);
  const files = writeConfigDir(join(dir, 'istio'), loaded.configs);
  assert.equal(files.length, loaded.configs.length);
  for (const f of files) assert.equal(loadText(readFileSync(f, 'utf8')).filter((r) => r.valid).length, 1, f);
});

test('a later definition of the same resource wins, with a warning', () => {
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  const vs = (subset: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http: [{ route: [{ destination: { host: reviews, subset: ${subset} } }] }]\n`;
  writeFileSync(a, vs('v1'));
  writeFileSync(b, vs('v3'));
  const loaded = loadConfigSources([a, b]);
  assert.equal(loaded.configs.length, 1);
  assert.equal(loaded.configs[0]!.spec.http[0].route[0].destination.subset, 'v3');
  assert.match(loaded.warnings.join('\n'), /VirtualService default\/reviews is defined in .*a\.yaml and again in .*b\.yaml: using the latter/);
});

test('invalid resources are errors with file, resource, path and reason', () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http:\n    - route:\n        - { destination: { host: reviews, subset: v1 }, weight: 50 }\n        - { destination: { subset: v3 }, weight: 50 }\n`);
  const loaded = loadConfigSources([bad, join(dir, 'missing.yaml')]);
  assert.ok(loaded.errors.some((e) => e.file?.endsWith('bad.yaml') && e.kind === 'VirtualService' && e.name === 'reviews' && e.path === 'spec.http[0].route[1].destination.host' && e.line === 9), JSON.stringify(loaded.errors));
  assert.ok(loaded.errors.some((e) => e.file?.endsWith('missing.yaml') && /cannot read: ENOENT/.test(e.message)));
});

test('remapGatewayPort moves only the selected Gateway servers, in a copy', () => {
  const loaded = loadConfigSources(sampleSources(repoRoot));
  const moved = remapGatewayPort(loaded.configs, INGRESS_LABELS, 8080, 9090);
  assert.deepEqual(gatewayPorts(moved, INGRESS_LABELS).map((g) => g.port), [9090]);
  assert.deepEqual(gatewayPorts(loaded.configs, INGRESS_LABELS).map((g) => g.port), [8080], 'original untouched');
  assert.deepEqual(gatewayPorts(moved, { istio: 'egressgateway' }), []);
});
