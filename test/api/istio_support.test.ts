/**
 * The Istio support table (src/api/fields/support.ts): every field of every Istio kind's CRD is
 * classified (a new CRD field fails here until someone decides), docs/istio-support.md is
 * generated from it, and validation warns — never errors — for each not-enforced field a
 * resource sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ISSUES, ISTIO_SUPPORT, allLeafPaths, classify } from '../../src/api/fields/support.ts';
import { MESH_SUPPORT, meshSupportWarnings } from '../../src/api/fields/mesh_support.ts';
import { renderIstioSupportDoc } from '../../src/api/fields/support_doc.ts';
import { SPEC_FIELDS } from '../../src/api/fields/istio_fields.gen.ts';
import type { FieldTree } from '../../src/api/fields/crd_tree.ts';
import { loadText } from '../../src/api/load.ts';
import { defaultMeshConfig, parseMeshConfig } from '../../src/api/mesh.ts';
import { ERR } from '../../src/api/errors.ts';
import type { ValidationError } from '../../src/api/types.ts';

const DOC = new URL('../../docs/istio-support.md', import.meta.url);

/** The node a table key names in the generated tree, or undefined. */
function nodeAt(key: string): FieldTree | undefined {
  const [kind, spec, ...rest] = key.split('.');
  if (spec !== 'spec') return undefined;
  let t: FieldTree | undefined = (SPEC_FIELDS as Record<string, FieldTree>)[kind!];
  for (const k of rest) t = t === 0 || t === undefined ? undefined : t[k];
  return t;
}

test('every leaf of every Istio kind is classified: enforced, not enforced (with an issue) or n/a', () => {
  const leaves = allLeafPaths();
  assert.ok(leaves.length > 600, `${leaves.length} leaves`);
  assert.deepEqual(leaves.filter((p) => !classify(p)), [], 'fields with no decision: add them to src/api/fields/support.ts');
});

test('the table names real fields; enforced means one leaf, never hidden under a not-enforced subtree; issues are known', () => {
  const wrong: string[] = [];
  for (const [key, s] of Object.entries(ISTIO_SUPPORT)) {
    const node = nodeAt(key);
    if (node === undefined) wrong.push(`${key}: no such field in the CRDs`);
    else if (s.status === 'enforced' && node !== 0) wrong.push(`${key}: enforced must name a leaf, not a subtree`);
    const decided = classify(key);
    if (decided?.key !== key) wrong.push(`${key}: shadowed by ${decided?.key}`);
    if (s.status === 'not_enforced' && !ISSUES[s.issue]) wrong.push(`${key}: unknown issue ${s.issue}`);
  }
  for (const [key, s] of Object.entries(MESH_SUPPORT)) if (s.status === 'not_enforced' && !ISSUES[s.issue]) wrong.push(`meshConfig ${key}: unknown issue ${s.issue}`);
  assert.deepEqual(wrong, []);
});

test('docs/istio-support.md is generated from the table (run: node --import tsx scripts/istio-support-doc.ts)', () => {
  assert.equal(readFileSync(DOC, 'utf8'), renderIstioSupportDoc());
});

/** Validation of YAML as the CLI sees it: every problem, and whether the resource is served. */
function validate(yaml: string): { problems: ValidationError[]; valid: boolean[] } {
  const loaded = loadText(yaml, { file: 'x.yaml' });
  return { problems: loaded.flatMap((l) => l.errors), valid: loaded.map((l) => l.valid) };
}
const unsupported = (ps: ValidationError[]) => ps.filter((p) => p.code === ERR.UNSUPPORTED_FIELD).map((p) => `${p.line} ${p.path} ${p.severity}`);

test('AuthorizationPolicy: DENY, allow-nothing and CUSTOM with its provider are enforced (no warning)', () => {
  const r = validate(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: foo}
spec:
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/admin"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: foo}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: foo}
spec:
  action: CUSTOM
  provider: {name: my-ext-authz}
  rules:
  - to:
    - operation: {paths: ["/admin"]}
`);
  assert.deepEqual(r.valid, [true, true, true]);
  assert.deepEqual(unsupported(r.problems), []);
  assert.equal(ISTIO_SUPPORT['AuthorizationPolicy.spec.action']?.status, 'enforced');
  assert.equal(ISTIO_SUPPORT['AuthorizationPolicy.spec.provider.name']?.status, 'enforced');
});

test('DestinationRule: an HTTP/2 keepalive warns at its path; enforced fields (ISTIO_MUTUAL, http1MaxPendingRequests, outlierDetection among them) do not', () => {
  const r = validate(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool:
      tcp: {connectTimeout: 1s}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 10, maxRetries: 2, http2KeepAlive: {interval: 10s}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s}
    tls: {mode: SIMPLE, sni: httpbin.org}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: ISTIO_MUTUAL}
`);
  assert.deepEqual(r.valid, [true]);
  assert.deepEqual(unsupported(r.problems), [
    '10 spec.trafficPolicy.connectionPool.http.http2KeepAlive warning',
  ]);
});

test('VirtualService: retryIgnorePreviousHosts (both values), claims headers (issue 10) and backoff are enforced; a plain route warns nothing', () => {
  const r = validate(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - match:
    - headers:
        "@request.auth.claims.groups": {exact: admins}
        x-user: {exact: jason}
    route:
    - destination: {host: r}
    retries: {attempts: 2, backoff: 1s, retryIgnorePreviousHosts: false}
  - route:
    - destination: {host: r}
    retries: {attempts: 2, retryIgnorePreviousHosts: true}
    timeout: 1m30s
`);
  assert.deepEqual(unsupported(r.problems), []);
  assert.deepEqual(r.valid, [true]);
});

test('meshConfig: fields set beyond the defaults that are not enforced are reported; the defaults and enforced ones are not', () => {
  assert.deepEqual(meshSupportWarnings(defaultMeshConfig()), []);
  const { mesh, errors } = parseMeshConfig(`accessLogFile: /dev/stdout
enableTracing: true
rootNamespace: istio-system
outboundTrafficPolicy: {mode: REGISTRY_ONLY}
defaultConfig:
  tracing: {sampling: 100, lightstep: {address: 'ls:8080'}}
  holdApplicationUntilProxyStarts: true
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
- name: otel-grpc
  opentelemetry: {service: otel.istio-system.svc.cluster.local, port: 4317}
ingressClass: istio
`);
  assert.deepEqual(errors, []);
  const w = meshSupportWarnings(mesh, 'mesh.yaml');
  // Tracing (enableTracing, sampling, a zipkin provider) is enforced; lightstep and OTLP over gRPC are not.
  assert.deepEqual(w.map((x) => x.path).sort(), ['defaultConfig.holdApplicationUntilProxyStarts', 'defaultConfig.tracing.lightstep', 'extensionProviders[1]', 'ingressClass']);
  assert.ok(w.every((x) => x.code === ERR.UNSUPPORTED_FIELD && x.severity === 'warning' && x.file === 'mesh.yaml'));
  assert.match(w.find((x) => x.path === 'extensionProviders[1]')!.message, /issue 12: .*gRPC/);
});
