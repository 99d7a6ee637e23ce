/**
 * The workload analyzers on inputs Istio's testdata does not cover: what each one lets pass
 * (CA certificates present, skip-verify, allocated addresses, DNS auto-allocation, exportTo that
 * keeps conflicting ServiceEntries apart, priorities, in-cluster webhooks, new CRDs, configured
 * istiod, disabling Telemetries) as well as what it reports, with istioctl's texts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResources } from '../../../../src/api/analysis/load.ts';
import { analyze } from '../../../../src/api/analysis/run.ts';
import { logLine } from '../../../../src/api/analysis/report.ts';
import { WORKLOAD_ANALYZERS } from '../../../../src/api/analysis/analyzers/workloads.ts';

function run(yaml: string, meshConfig?: Record<string, any>): string[] {
  const { resources, errors } = parseResources(yaml, 'in.yaml');
  assert.deepEqual(errors, []);
  return analyze(resources, { analyzers: WORKLOAD_ANALYZERS.map((a) => a.name), meshConfig }).map(logLine);
}

const dr = (name: string, tls: string, extra = '') => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
  namespace: prod
spec:
  host: db.prod.svc.cluster.local
${extra}  trafficPolicy:
    tls:
${tls}
---
`;

test('DestinationRule TLS: reported without caCertificates, not with them, skip-verify, or a gateway credential', () => {
  const out = run(
    dr('plain', '      mode: SIMPLE') +
      dr('ca', '      mode: MUTUAL\n      caCertificates: /etc/ca.pem') +
      dr('skip', '      mode: SIMPLE\n      insecureSkipVerify: true') +
      dr('gw', '      mode: SIMPLE\n      credentialName: db', '  workloadSelector:\n    matchLabels:\n      app: gw\n') +
      dr('istio', '      mode: ISTIO_MUTUAL') +
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ports
  namespace: prod
spec:
  host: db.prod.svc.cluster.local
  trafficPolicy:
    portLevelSettings:
    - port:
        number: 5432
      tls:
        mode: MUTUAL
    - port:
        number: 443
      tls:
        mode: SIMPLE
        caCertificates: /etc/ca.pem
`,
  );
  assert.deepEqual(out, [
    'Warning [IST0128] (DestinationRule prod/plain in.yaml:1) DestinationRule prod/plain in namespace prod has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: db.prod.svc.cluster.local',
    'Warning [IST0129] (DestinationRule prod/ports in.yaml:62) DestinationRule prod/ports in namespace prod has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: db.prod.svc.cluster.local at port number:5432',
  ]);
});

const se = (name: string, ns: string, body: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
  namespace: ${ns}
spec:
${body}
---
`;

test('ServiceEntry addresses: TCP or unset ports need one, unless given, allocated, or auto-allocated by the DNS proxy', () => {
  const input =
    se('tcp', 'a', '  hosts: [db.example.com]\n  ports:\n  - name: tcp\n    number: 5432\n    protocol: TCP') +
    se('http', 'a', '  hosts: [web.example.com]\n  ports:\n  - name: http\n    number: 80\n    protocol: HTTP') +
    se('vip', 'a', '  hosts: [vip.example.com]\n  addresses: [10.1.1.1]\n  ports:\n  - name: tcp\n    number: 5432') +
    se('allocated', 'a', '  hosts: [alloc.example.com]\n  ports:\n  - name: tcp\n    number: 5432\nstatus:\n  addresses:\n  - host: alloc.example.com\n    value: 240.240.0.1');
  assert.deepEqual(run(input), ['Warning [IST0134] (ServiceEntry a/tcp in.yaml:9) ServiceEntry addresses are required for this protocol.']);
  const autoAllocate = { defaultConfig: { proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true' } } };
  assert.deepEqual(run(input, autoAllocate), []);
  // DNS capture alone does not allocate addresses.
  assert.equal(run(input, { defaultConfig: { proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true' } } }).length, 1);
});

test('ServiceEntry protocols: a conflict only between entries some namespace sees together', () => {
  const entry = (name: string, ns: string, proto: string, exportTo = '') =>
    se(name, ns, `  hosts: [api.example.com]\n  addresses: [10.2.2.2]\n${exportTo}  ports:\n  - name: p\n    number: 8443\n    protocol: ${proto}`);
  // Private to their own namespaces: no namespace sees both.
  assert.deepEqual(run(entry('x', 'ns1', 'HTTP', '  exportTo: ["."]\n') + entry('y', 'ns2', 'HTTPS', '  exportTo: ["."]\n')), []);
  // One exported everywhere meets the other in ns2.
  assert.deepEqual(run(entry('x', 'ns1', 'HTTP') + entry('y', 'ns2', 'HTTPS', '  exportTo: ["."]\n')), [
    'Warning [IST0177] (ServiceEntry ns1/x in.yaml:4) Multiple ServiceEntries (ns1/x, ns2/y) define the same host "api.example.com" and port 8443 with conflicting protocols (HTTP, HTTPS).',
    'Warning [IST0177] (ServiceEntry ns2/y in.yaml:17) Multiple ServiceEntries (ns1/x, ns2/y) define the same host "api.example.com" and port 8443 with conflicting protocols (HTTP, HTTPS).',
  ]);
  // Same protocol spelled in another case is no conflict.
  assert.deepEqual(run(entry('x', 'ns1', 'tcp') + entry('y', 'ns1', 'TCP')), []);
});

const ef = (name: string, priority: string, patches: string) => `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: ${name}
  namespace: ns
spec:
${priority}  configPatches:
${patches}
---
`;
const patch = (applyTo: string, op: string, proxyVersion = '') =>
  `  - applyTo: ${applyTo}\n    match:\n      context: SIDECAR_INBOUND\n${proxyVersion ? `      proxy:\n        proxyVersion: '${proxyVersion}'\n` : ''}    patch:\n      operation: ${op}\n      value: {}\n`;

test('EnvoyFilter operations: ignored route-level ADD/REMOVE, order-dependent relative ones, misplaced REPLACE', () => {
  const out = run(
    ef('first', '', patch('HTTP_FILTER', 'INSERT_FIRST') + patch('CLUSTER', 'ADD') + patch('LISTENER', 'MERGE')) +
      ef('prioritized', '  priority: 5\n', patch('HTTP_FILTER', 'INSERT_BEFORE') + patch('NETWORK_FILTER', 'REPLACE')) +
      ef('route-add', '', patch('HTTP_ROUTE', 'ADD')) +
      ef('route-remove', '  priority: 5\n', patch('ROUTE_CONFIGURATION', 'REMOVE')) +
      ef('relative', '', patch('HTTP_FILTER', 'INSERT_AFTER', '^1\\.2.*') + patch('NETWORK_FILTER', 'REMOVE')) +
      ef('replace-cluster', '  priority: 5\n', patch('CLUSTER', 'REPLACE')),
  ).map((l) => l.slice(0, l.indexOf(')') + 1));
  assert.deepEqual(out, [
    'Error [IST0152] (EnvoyFilter ns/replace-cluster in.yaml:104)',
    'Error [IST0153] (EnvoyFilter ns/route-add in.yaml:50)',
    'Error [IST0154] (EnvoyFilter ns/route-remove in.yaml:65)',
    'Warning [IST0151] (EnvoyFilter ns/relative in.yaml:81)',
    'Warning [IST0155] (EnvoyFilter ns/relative in.yaml:81)',
  ]);
});

const webhook = (kind: string, name: string, clientConfig: string) => `apiVersion: admissionregistration.k8s.io/v1
kind: ${kind}
metadata:
  name: cfg-${name}
webhooks:
- name: ${name}
  clientConfig:
${clientConfig}
---
`;

test('external control plane webhooks: blank and malformed URLs warn, IPs inform, hostnames and Services pass', () => {
  const out = run(
    webhook('ValidatingWebhookConfiguration', 'rev.validation.istio.io', '    url: "https://istiod.example.com:15017/validate"') +
      webhook('MutatingWebhookConfiguration', 'rev.namespace.sidecar-injector.istio.io', '    url: "https://[fd00::1]:15017/inject"') +
      webhook('MutatingWebhookConfiguration', 'rev.namespace.sidecar-injector.istio.io', '    service:\n      name: istiod\n      namespace: istio-system') +
      webhook('ValidatingWebhookConfiguration', 'rev.validation.istio.io', '    url: "not a url"') +
      // Not a revision webhook: the external control plane analyzer leaves it alone.
      webhook('ValidatingWebhookConfiguration', 'validation.istio.io', '    url: ""'),
  );
  assert.deepEqual(out, [
    'Warning [IST0163] (ValidatingWebhookConfiguration cfg-rev.validation.istio.io in.yaml:30) The hostname (not a url) that was provided for the webhook (rev.validation.istio.io) to reach the ingress gateway on the external control plane cluster is malformed. Traffic may not flow properly.',
    'Info [IST0164] (MutatingWebhookConfiguration cfg-rev.namespace.sidecar-injector.istio.io in.yaml:10) The address (https://[fd00::1]:15017/inject) that was provided for the webhook (rev.namespace.sidecar-injector.istio.io) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.',
  ]);
});

const crd = (name: string, version: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${name}
  annotations:
    gateway.networking.k8s.io/bundle-version: ${version}
---
`;

test('Gateway API CRD versions: below the minimum warns, at or above it (or a kind without one) does not', () => {
  const out = run(
    crd('tlsroutes.gateway.networking.k8s.io', 'v1.5.0-rc.1') + crd('tcproutes.gateway.networking.k8s.io', 'v0.1.0') + crd('x.gateway.networking.k8s.io', 'v1.5.0'),
  );
  assert.deepEqual(out, [
    'Warning [IST0176] (CustomResourceDefinition tlsroutes.gateway.networking.k8s.io in.yaml:1) Gateway API CRD "tlsroutes.gateway.networking.k8s.io" is at version "1.5.0-rc.1" but Istio requires at least "1.5.0"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.',
  ]);
  assert.deepEqual(run(crd('tlsroutes.gateway.networking.k8s.io', 'v1.5.1')), []);
});

const istiod = (env: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod-canary
  namespace: istio-system
spec:
  template:
    spec:
      containers:
      - name: discovery
${env}
---
`;
const ra = (name: string, ns: string) => `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  jwtRules:
  - issuer: x
---
`;

test('JWKS blocked CIDRs: each unconfigured istiod is told how many RequestAuthentications it fetches for', () => {
  assert.deepEqual(run(istiod('')), []);
  assert.deepEqual(run(istiod('        env:\n        - name: BLOCKED_CIDRS_IN_JWKS_URIS\n          value: 10.0.0.0/8') + ra('a', 'default')), []);
  assert.deepEqual(run(istiod('') + ra('b', 'zz') + ra('a', 'default')), [
    'Warning [IST0175] (Deployment istio-system/istiod-canary in.yaml:1) BLOCKED_CIDRS_IN_JWKS_URIS is not configured but 2 RequestAuthentication resource(s) exist (default/a, zz/b). Consider configuring it to restrict JWKS URI fetches to trusted networks.',
  ]);
});

const telemetry = (name: string, ns: string, spec: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: ${name}
  namespace: ${ns}
spec:
${spec}
---
`;

test('Telemetry: empty providers only matter without mesh defaults; namespace-wide duplicates; Lightstep tracing', () => {
  const noProvider = telemetry('t', 'foo', '  tracing:\n  - randomSamplingPercentage: 10');
  assert.deepEqual(run(noProvider), ['Warning [IST0157] (Telemetry foo/t in.yaml:1) The Telemetry t in namespace "foo" with empty providers will be ignored.']);
  assert.deepEqual(run(noProvider, { defaultProviders: { tracing: ['zipkin'] } }), []);

  const wide = telemetry('b', 'ns', '  metrics:\n  - providers:\n    - name: prometheus') + telemetry('a', 'ns', '  accessLogging:\n  - providers:\n    - name: envoy');
  const targeted = telemetry('c', 'ns', '  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: gw\n  metrics:\n  - providers:\n    - name: prometheus');
  assert.deepEqual(run(wide + targeted), [
    'Error [IST0160] (Telemetry ns/a in.yaml:11) The Telemetries [a b] in namespace "ns" have no workload selector, which can lead to undefined behavior.',
    'Error [IST0160] (Telemetry ns/b in.yaml:1) The Telemetries [a b] in namespace "ns" have no workload selector, which can lead to undefined behavior.',
  ]);

  const ls = telemetry('mesh-default', 'istio-system', '  tracing:\n  - providers:\n    - name: ls');
  const mesh = { extensionProviders: [{ name: 'ls', lightstep: { service: 'ls.svc', port: 443, accessToken: 'x' } }] };
  assert.deepEqual(run(ls, mesh), ['Warning [IST0002] (Telemetry istio-system/mesh-default in.yaml:1) Deprecated: The Lightstep provider ls is deprecated, please migrate to OpenTelemetry provider.']);
  assert.deepEqual(run(ls, { extensionProviders: [{ name: 'ls', opentelemetry: { service: 'otel.svc', port: 4317 } }] }), []);
});
