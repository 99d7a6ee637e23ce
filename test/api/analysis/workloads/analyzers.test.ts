/**
 * The workload analyzers on inputs Istio's testdata does not cover: what each one lets pass
 * (CA certificates present, skip-verify, allocated addresses, DNS auto-allocation, exportTo that
 * keeps conflicting ServiceEntries apart, priorities, in-cluster webhooks, new CRDs, configured
 * istiod, disabling Telemetries) as well as what it reports, with istioctl's texts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseResources } from '../../../../src/api/analysis/load.ts';
import { analyze } from '../../../../src/api/analysis/run.ts';
import { logLine } from '../../../../src/api/analysis/report.ts';
import { WORKLOAD_ANALYZERS } from '../../../../src/api/analysis/analyzers/workloads.ts';
import { findIstioctl } from '../conformance.ts';

const ISTIOCTL = findIstioctl();
const CODES = /^\S+ \[IST0(12[89]|134|15[1-57]|160|16[34]|17[5-7])\]|Lightstep/;

/** Our messages on one input, as istioctl logs them; checked against istioctl itself when one is here. */
function run(yaml: string, meshConfig?: Record<string, any>): string[] {
  const { resources, errors } = parseResources(yaml, 'in.yaml');
  assert.deepEqual(errors, []);
  const ours = analyze(resources, { analyzers: WORKLOAD_ANALYZERS.map((a) => a.name), meshConfig }).map(logLine);
  if (ISTIOCTL) assert.deepEqual([...ours].sort(), istioctl(yaml, meshConfig), `istioctl disagrees on:\n${yaml}`);
  return ours;
}

/** `istioctl analyze --use-kube=false -A` on the same input: its lines for the codes these analyzers own. */
function istioctl(yaml: string, meshConfig?: Record<string, any>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-wl-'));
  try {
    writeFileSync(join(dir, 'in.yaml'), yaml);
    const args = ['analyze', '--use-kube=false', '-A', 'in.yaml'];
    if (meshConfig) {
      writeFileSync(join(dir, 'mesh.yaml'), stringify(meshConfig));
      args.push('--meshConfigFile', 'mesh.yaml');
    }
    const r = spawnSync(ISTIOCTL!, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    // IST0175 lists RequestAuthentications in Go map order (random per run); ours are sorted.
    const sortList = (l: string) => l.replace(/exist \(([^)]*)\)/, (_m, list: string) => `exist (${list.split(', ').sort().join(', ')})`);
    return r.stdout.split('\n').filter((l) => CODES.test(l)).map(sortList).sort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

test('DestinationRule TLS: reported without caCertificates (even with insecureSkipVerify), not with them or a gateway credential', () => {
  const out = run(
    dr('plain', '      mode: SIMPLE') +
      dr('ca', '      mode: MUTUAL\n      caCertificates: /etc/ca.pem') +
      dr('skip', '      mode: SIMPLE\n      insecureSkipVerify: true') +
      dr('gw', '      mode: SIMPLE\n      credentialName: db', '  workloadSelector:\n    matchLabels:\n      app: gw\n') +
      dr('istio', '      mode: ISTIO_MUTUAL') +
      dr('gw-any', '      mode: SIMPLE\n      credentialName: db', '  workloadSelector: {}\n') +
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
    'Warning [IST0128] (DestinationRule prod/skip in.yaml:24) DestinationRule prod/skip in namespace prod has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: db.prod.svc.cluster.local',
    'Warning [IST0129] (DestinationRule prod/ports in.yaml:75) DestinationRule prod/ports in namespace prod has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: db.prod.svc.cluster.local at port number:5432',
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

test('ServiceEntry protocols: a conflict only between entries whose exportTo can meet', () => {
  const entry = (name: string, ns: string, proto: string, exportTo = '') =>
    se(name, ns, `  hosts: [api.example.com]\n  addresses: [10.2.2.2]\n${exportTo}  ports:\n  - name: p\n    number: 8443\n    protocol: ${proto}`);
  // Private to their own namespaces: no namespace sees both.
  assert.deepEqual(run(entry('sa', 'ns1', 'HTTP', '  exportTo: ["."]\n') + entry('sb', 'ns2', 'HTTPS', '  exportTo: ["."]\n')), []);
  assert.deepEqual(run(entry('sa', 'ns1', 'HTTP', '  exportTo: [ns2]\n') + entry('sb', 'ns2', 'HTTPS', '  exportTo: [ns3]\n')), []);
  // One exported everywhere meets the other in ns2.
  assert.deepEqual(run(entry('sa', 'ns1', 'HTTP') + entry('sb', 'ns2', 'HTTPS', '  exportTo: ["."]\n')), [
    'Warning [IST0177] (ServiceEntry ns1/sa in.yaml:4) Multiple ServiceEntries (ns1/sa, ns2/sb) define the same host "api.example.com" and port 8443 with conflicting protocols (HTTP, HTTPS).',
    'Warning [IST0177] (ServiceEntry ns2/sb in.yaml:17) Multiple ServiceEntries (ns1/sa, ns2/sb) define the same host "api.example.com" and port 8443 with conflicting protocols (HTTP, HTTPS).',
  ]);
  // Protocols compare and print upper-cased: tcp and TCP agree, http2 is HTTP2.
  assert.deepEqual(run(entry('sa', 'ns1', 'tcp') + entry('sb', 'ns1', 'TCP')), []);
  assert.equal(run(entry('sa', 'ns1', 'HTTP') + entry('sb', 'ns1', 'http2'))[0].replace(/.*\(/, ''), 'HTTP, HTTP2).');
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
      ef('replace-cluster', '  priority: 5\n', patch('CLUSTER', 'REPLACE')) +
      // REPLACE on a listener is wrong whatever the priority; on a virtual host istioctl lets it pass.
      ef('replace-listener', '', patch('LISTENER', 'REPLACE')) +
      ef('replace-vhost', '  priority: 5\n', patch('VIRTUAL_HOST', 'REPLACE')),
  ).map((l) => l.slice(0, l.indexOf(')') + 1));
  assert.deepEqual(out, [
    'Error [IST0152] (EnvoyFilter ns/replace-cluster in.yaml:104)',
    'Error [IST0152] (EnvoyFilter ns/replace-listener in.yaml:120)',
    'Error [IST0153] (EnvoyFilter ns/route-add in.yaml:50)',
    'Error [IST0154] (EnvoyFilter ns/route-remove in.yaml:65)',
    'Warning [IST0151] (EnvoyFilter ns/relative in.yaml:81)',
    'Warning [IST0155] (EnvoyFilter ns/relative in.yaml:81)',
  ]);
});

test('EnvoyFilter proxyVersion: IST0155 for a relative patch on the same filter as the patch before it, once a proxyVersion was seen', () => {
  const named = (applyTo: string, op: string, filter: string, proxyVersion = '') =>
    `  - applyTo: ${applyTo}\n    match:\n${proxyVersion ? `      proxy:\n        proxyVersion: '${proxyVersion}'\n` : ''}      listener:\n        filterChain:\n          filter:\n            name: ${filter}\n    patch:\n      operation: ${op}\n      value: {}\n`;
  const codes = (yaml: string) => run(yaml).map((l) => l.slice(0, l.indexOf(' (')));
  // A lone relative patch with a proxyVersion: only IST0151.
  assert.deepEqual(codes(ef('lone', '', named('HTTP_FILTER', 'INSERT_BEFORE', 'envoy.filters.network.http_connection_manager', '^1\\.2.*'))), ['Warning [IST0151]']);
  // After a proxyVersion patch on the same filter: IST0155 instead.
  assert.deepEqual(
    codes(ef('pair', '', named('HTTP_FILTER', 'INSERT_FIRST', 'envoy.filters.network.http_connection_manager', '^1\\.2.*') + named('HTTP_FILTER', 'INSERT_BEFORE', 'envoy.filters.network.http_connection_manager'))),
    ['Warning [IST0155]'],
  );
  // On another filter: IST0151.
  assert.deepEqual(
    codes(ef('other', '', named('HTTP_FILTER', 'INSERT_FIRST', 'envoy.filters.network.http_connection_manager', '^1\\.2.*') + named('NETWORK_FILTER', 'INSERT_BEFORE', 'envoy.filters.network.tcp_proxy'))),
    ['Warning [IST0151]'],
  );
});

const webhook = (kind: string, name: string, clientConfig: string) => `apiVersion: admissionregistration.k8s.io/v1
kind: ${kind}
metadata:
  name: ${name}
webhooks:
- name: w
  clientConfig:
${clientConfig}
---
`;

test('external control plane webhooks: no URL and unparsable URLs warn, IPs inform, hostnames, Services and other webhooks pass', () => {
  const out = run(
    webhook('ValidatingWebhookConfiguration', 'istio-validator-rev', '    url: "https://istiod.example.com:15017/validate"') +
      webhook('MutatingWebhookConfiguration', 'istio-sidecar-injector-rev', '    url: "https://[fd00::1]:15017/inject"') +
      webhook('MutatingWebhookConfiguration', 'istio-sidecar-injector-svc', '    service:\n      name: istiod\n      namespace: istio-system') +
      webhook('ValidatingWebhookConfiguration', 'istiod-default-validator', '    url: "https://host:port/validate"') +
      webhook('MutatingWebhookConfiguration', 'istio-sidecar-injector-blank', '    url:') +
      // Go's URL parser reads a bare word as a path: no host, nothing to report.
      webhook('MutatingWebhookConfiguration', 'istio-sidecar-injector-word', '    url: "not a url"') +
      // Not one of Istio's webhook configurations: left alone.
      webhook('ValidatingWebhookConfiguration', 'other-validator', '    url: "https://10.0.0.1/validate"'),
  );
  assert.deepEqual(out, [
    'Warning [IST0163] (MutatingWebhookConfiguration istio-sidecar-injector-blank in.yaml:39) The hostname () that was provided for the webhook (w) to reach the ingress gateway on the external control plane cluster is blank. Traffic may not flow properly.',
    'Warning [IST0163] (ValidatingWebhookConfiguration istiod-default-validator in.yaml:30) The hostname (https://host:port/validate) that was provided for the webhook (w) to reach the ingress gateway on the external control plane cluster was provided in an invalid format. Traffic may not flow properly.',
    'Info [IST0164] (MutatingWebhookConfiguration istio-sidecar-injector-rev in.yaml:10) The address (https://[fd00::1]:15017/inject) that was provided for the webhook (w) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.',
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

test('Gateway API CRD versions: below the kind\'s minimum warns (pre-releases count as their release), at or above it or without one does not', () => {
  const out = run(
    crd('tlsroutes.gateway.networking.k8s.io', 'v1.4.1') +
      crd('tcproutes.gateway.networking.k8s.io', 'v1.5') +
      crd('grpcroutes.gateway.networking.k8s.io', 'v1.1.0-rc1') +
      crd('httproutes.gateway.networking.k8s.io', 'v0.1.0'),
  );
  assert.deepEqual(out, [
    'Warning [IST0176] (CustomResourceDefinition tcproutes.gateway.networking.k8s.io in.yaml:8) Gateway API CRD "tcproutes.gateway.networking.k8s.io" is at version "1.5.0" but Istio requires at least "1.6.0"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.',
    'Warning [IST0176] (CustomResourceDefinition tlsroutes.gateway.networking.k8s.io in.yaml:1) Gateway API CRD "tlsroutes.gateway.networking.k8s.io" is at version "1.4.1" but Istio requires at least "1.5.0"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.',
  ]);
  assert.deepEqual(run(crd('tlsroutes.gateway.networking.k8s.io', 'v1.5.1') + crd('backendtlspolicies.gateway.networking.k8s.io', 'not-a-version')), []);
});

const istiod = (env: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod-canary
  namespace: istio-system
  labels:
    app: istiod
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

test('JWKS blocked CIDRs: each unconfigured istiod (app=istiod) is told how many RequestAuthentications it fetches for', () => {
  assert.deepEqual(run(istiod('')), []);
  assert.deepEqual(run(istiod('        env:\n        - name: BLOCKED_CIDRS_IN_JWKS_URIS\n          value: 10.0.0.0/8') + ra('a', 'default')), []);
  // An empty value configures nothing.
  assert.equal(run(istiod('        env:\n        - name: BLOCKED_CIDRS_IN_JWKS_URIS\n          value: ""') + ra('a', 'default')).length, 1);
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

test('Telemetry: access logging without providers only matters without mesh defaults; several without selector (targetRefs do not count); Lightstep tracing', () => {
  const noProvider = telemetry('t', 'foo', '  accessLogging:\n  - filter:\n      expression: response.code >= 400');
  assert.deepEqual(run(noProvider), ['Warning [IST0157] (Telemetry foo/t in.yaml:1) The Telemetry t in namespace "foo" with empty providers will be ignored.']);
  assert.deepEqual(run(noProvider, { defaultProviders: { accessLogging: ['envoy'] } }), []);
  // Tracing and metrics have built-in defaults; an entry that only disables names nothing to use.
  assert.deepEqual(run(telemetry('t', 'foo', '  tracing:\n  - randomSamplingPercentage: 10\n  accessLogging:\n  - disabled: true')), []);

  const wide = telemetry('b', 'ns', '  metrics:\n  - providers:\n    - name: prometheus') + telemetry('a', 'ns', '  accessLogging:\n  - providers:\n    - name: envoy');
  const targeted = telemetry('c', 'ns', '  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: gw\n  metrics:\n  - providers:\n    - name: prometheus');
  const selected = telemetry('d', 'ns', '  selector:\n    matchLabels:\n      app: x\n  metrics:\n  - providers:\n    - name: prometheus');
  assert.deepEqual(run(wide + targeted + selected), [
    'Error [IST0160] (Telemetry ns/a in.yaml:11) The Telemetries [a b c] in namespace "ns" have no workload selector, which can lead to undefined behavior.',
    'Error [IST0160] (Telemetry ns/b in.yaml:1) The Telemetries [a b c] in namespace "ns" have no workload selector, which can lead to undefined behavior.',
    'Error [IST0160] (Telemetry ns/c in.yaml:21) The Telemetries [a b c] in namespace "ns" have no workload selector, which can lead to undefined behavior.',
  ]);

  const ls = telemetry('mesh-default', 'istio-system', '  tracing:\n  - providers:\n    - name: ls');
  const mesh = { extensionProviders: [{ name: 'ls', lightstep: { service: 'ls.svc', port: 443, accessToken: 'x' } }] };
  assert.deepEqual(run(ls, mesh), ['Warning [IST0002] (Telemetry istio-system/mesh-default in.yaml:1) Deprecated: The Lightstep provider ls is deprecated, please migrate to OpenTelemetry provider.']);
  assert.deepEqual(run(ls, { extensionProviders: [{ name: 'ls', opentelemetry: { service: 'otel.svc', port: 4317 } }] }), []);
});
