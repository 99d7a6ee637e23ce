import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadMeshConfig, parseMeshConfig } from '../../src/api/mesh.ts';
import { MESH_SUPPORT, meshSupportWarnings } from '../../src/api/fields/mesh_support.ts';
import { ISTIO } from './helpers.ts';

test("Istio's analyzer meshconfig.yaml loads, keeps its fields and gets Istio's defaults", () => {
  const { mesh, errors } = loadMeshConfig(join(ISTIO, 'pkg/config/analysis/analyzers/testdata/common/meshconfig.yaml'));
  assert.deepEqual(errors, []);
  assert.equal(mesh.trustDomain, 'cluster.local');
  assert.equal(mesh.rootNamespace, 'istio-system');
  assert.deepEqual(mesh.outboundTrafficPolicy, { mode: 'ALLOW_ANY' });
  assert.equal(mesh.enableAutoMtls, true);
  assert.equal(mesh.accessLogEncoding, 'TEXT');
  assert.deepEqual((mesh.defaultConfig as any).image, { imageType: 'distroless' });
});

test('IstioOperator, Helm values and ConfigMap wrappers are unwrapped', () => {
  const op = parseMeshConfig(`apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    trustDomain: example.org\n    outboundTrafficPolicy: {mode: REGISTRY_ONLY}`);
  assert.deepEqual(op.errors, []);
  assert.equal(op.mesh.trustDomain, 'example.org');
  assert.equal(op.mesh.outboundTrafficPolicy.mode, 'REGISTRY_ONLY');
  const helm = parseMeshConfig(`meshConfig:\n  accessLogFile: /dev/stdout\n  accessLogEncoding: JSON`);
  assert.equal(helm.mesh.accessLogFile, '/dev/stdout');
  assert.equal(helm.mesh.accessLogEncoding, 'JSON');
  const cm = parseMeshConfig(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |-\n    rootNamespace: mesh-root\n    enableAutoMtls: false\n    discoverySelectors:\n    - matchLabels: {env: prod}`);
  assert.deepEqual(cm.errors, []);
  assert.equal(cm.mesh.rootNamespace, 'mesh-root');
  assert.equal(cm.mesh.enableAutoMtls, false);
  assert.deepEqual(cm.mesh.discoverySelectors, [{ matchLabels: { env: 'prod' } }]);
});

test('bad values are reported with their field path', () => {
  const { errors } = parseMeshConfig(`outboundTrafficPolicy: {mode: SOMETIMES}
accessLogEncoding: XML
enableAutoMtls: "yes"
rootNamespace: Istio_System
defaultConfig:
  discoveryAddress: istiod
  proxyMetadata: {ISTIO_META_DNS_CAPTURE: true}
discoverySelectors:
- matchExpressions:
  - {key: env, operator: In}
  - {key: env, operator: Near, values: [a]}
extensionProviders:
- name: authz
  envoyExtAuthzHttp: {service: a, port: 80}
- name: authz
  zipkin: {service: z, port: 9411}`);
  const byPath = Object.fromEntries(errors.map((e) => [e.path, e.message]));
  assert.match(byPath['outboundTrafficPolicy.mode'], /ALLOW_ANY or REGISTRY_ONLY/);
  assert.match(byPath['accessLogEncoding'], /TEXT or JSON/);
  assert.match(byPath['enableAutoMtls'], /true or false/);
  assert.match(byPath['rootNamespace'], /namespace name/);
  assert.match(byPath['defaultConfig.discoveryAddress'], /host:port/);
  assert.match(byPath['defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE'], /must be a string/);
  assert.match(byPath['discoverySelectors[0].matchExpressions[0].values'], /required for operator In/);
  assert.match(byPath['discoverySelectors[0].matchExpressions[1].operator'], /unknown operator "Near"/);
  assert.match(byPath['extensionProviders[1].name'], /duplicate extension provider name "authz"/);
  assert.ok(errors.every((e) => e.kind === 'MeshConfig'));
});

test('an empty or missing file gives defaults; a missing file is an error', () => {
  assert.deepEqual(parseMeshConfig('').errors, []);
  assert.equal(parseMeshConfig('').mesh.trustDomain, 'cluster.local');
  const r = loadMeshConfig('/nonexistent/mesh.yaml');
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0].message, /ENOENT/);
});

test('meshConfig.localityLbSetting is read and checked as a DestinationRule\'s', () => {
  const ok = parseMeshConfig('localityLbSetting: {enabled: true, distribute: [{from: "us/*", to: {"us/*": 70, "eu/*": 30}}]}\n');
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.mesh.localityLbSetting?.distribute?.[0]?.to, { 'us/*': 70, 'eu/*': 30 });
  const bad = parseMeshConfig('localityLbSetting: {distribute: [{from: "us/*", to: {"us/*": 70}}]}\n');
  assert.deepEqual(bad.errors.map((e) => `${e.path}: ${e.message}`), ['localityLbSetting.distribute[0].to: total weight across localities must be 100, got 70']);
  assert.deepEqual(meshSupportWarnings(ok.mesh), [], 'enforced: no warning');
});

test('enableTracing: tsmesh keeps it off by default (Istio: on) and its support entry says so, with how to turn it on', () => {
  // The lead's decision (review of issue 12, item 9): no default zipkin.istio-system cluster that
  // every sidecar would keep resolving; the demo turns tracing on with the embedded collector.
  assert.notEqual(parseMeshConfig('').mesh.enableTracing, true);
  const entry = MESH_SUPPORT.enableTracing!;
  assert.equal(entry.status, 'enforced');
  const note = entry.status === 'enforced' ? entry.note ?? '' : '';
  assert.match(note, /defaults it to false where Istio defaults to true/);
  assert.match(note, /set it true/);
  assert.match(note, /Telemetry/);
  assert.match(note, /tsmesh demo` turns it on at 100%/);
});
