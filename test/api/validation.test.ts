import { test } from 'node:test';
import assert from 'node:assert/strict';
import { doc, errorsOf, problems } from './helpers.ts';
import { formatValidationError, type ValidationError } from '../../src/api/types.ts';

/** Asserts an error at exactly `path` whose message matches `re`. */
function expectError(errs: ValidationError[], path: string, re: RegExp): void {
  const hit = errs.find((e) => e.path === path && re.test(e.message) && e.severity !== 'warning');
  assert.ok(hit, `expected error at ${path} matching ${re}; got:\n${errs.map(formatValidationError).join('\n') || '(none)'}`);
}

const ROUTE = (dests: string) => `
hosts: [reviews]
http:
- route:
${dests}`;

test('a valid VirtualService with two weighted destinations has no problems', () => {
  const y = doc('VirtualService', ROUTE(`  - destination: {host: reviews, subset: v1}\n    weight: 80\n  - destination: {host: reviews, subset: v2}\n    weight: 20`));
  assert.deepEqual(problems(y), []);
});

test('weights summing to 90 are reported on the route list (relative weights: a warning)', () => {
  const y = doc('VirtualService', ROUTE(`  - destination: {host: reviews, subset: v1}\n    weight: 60\n  - destination: {host: reviews, subset: v2}\n    weight: 30`));
  const ps = problems(y);
  const w = ps.find((e) => e.path === 'spec.http[0].route');
  assert.ok(w, formatValidationError(ps[0] ?? { path: '', message: 'none' }));
  assert.match(w.message, /sum to 90, not 100/);
  assert.equal(w.severity, 'warning');
});

test('all-zero weights and negative weights are errors', () => {
  expectError(errorsOf(doc('VirtualService', ROUTE(`  - destination: {host: a}\n    weight: 0\n  - destination: {host: b}\n    weight: 0`))), 'spec.http[0].route', /total destination weight = 0/);
  expectError(errorsOf(doc('VirtualService', ROUTE(`  - destination: {host: a}\n    weight: -10\n  - destination: {host: b}\n    weight: 110`))), 'spec.http[0].route[0].weight', /weight -10 < 0/);
});

test('route and redirect together are rejected on the http route', () => {
  const y = doc('VirtualService', `hosts: [reviews]\nhttp:\n- route:\n  - destination: {host: reviews}\n  redirect: {uri: /x}`);
  expectError(errorsOf(y), 'spec.http[0]', /mutually exclusive \(found route and redirect\)/);
});

test('an http route without route, redirect, directResponse or delegate is rejected', () => {
  expectError(errorsOf(doc('VirtualService', `hosts: [reviews]\nhttp:\n- timeout: 1s`)), 'spec.http[0]', /must have one of route, redirect, directResponse or delegate/);
});

test('a lookbehind regex is not RE2 and is rejected with the match path', () => {
  const y = doc('VirtualService', `hosts: [reviews]\nhttp:\n- match:\n  - uri: {regex: "(?<=x)abc"}\n  route:\n  - destination: {host: reviews}`);
  expectError(errorsOf(y), 'spec.http[0].match[0].uri.regex', /invalid RE2 regex/);
});

test('header and query-param regexes are compiled too; valid RE2 passes', () => {
  const bad = doc('VirtualService', `hosts: [reviews]\nhttp:\n- match:\n  - headers:\n      x-user: {regex: "(a"}\n    queryParams:\n      q: {regex: "\\\\d+"}\n  route:\n  - destination: {host: reviews}`);
  const errs = errorsOf(bad);
  expectError(errs, 'spec.http[0].match[0].headers.x-user.regex', /missing closing \)/);
  assert.ok(!errs.some((e) => e.path.includes('queryParams')), 'the valid \\d+ regex must pass');
});

test('durations: "abc" is rejected, "0.5s", "10s", "1m", "250ms" accepted, below 1ms rejected', () => {
  expectError(errorsOf(doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  timeout: abc`)), 'spec.http[0].timeout', /invalid duration "abc"/);
  for (const d of ['0.5s', '10s', '1m', '250ms', '1h30m']) {
    assert.deepEqual(errorsOf(doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  timeout: ${d}`)), [], d);
  }
  expectError(errorsOf(doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  retries: {attempts: 3, perTryTimeout: 0.5ms}`)), 'spec.http[0].retries.perTryTimeout', /greater than 1ms/);
});

test('fault abort httpStatus 700 and percentage 150 are out of range', () => {
  const y = doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  fault:\n    abort:\n      httpStatus: 700\n      percentage: {value: 150}`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.http[0].fault.abort.httpStatus', /200\.\.599/);
  expectError(errs, 'spec.http[0].fault.abort.percentage.value', /0\.\.100/);
});

test('retries: negative attempts and unknown retryOn are rejected; Envoy policies and status codes accepted', () => {
  const y = doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  retries: {attempts: -1, retryOn: "5xx,bogus-policy"}`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.http[0].retries.attempts', /non-negative/);
  expectError(errs, 'spec.http[0].retries.retryOn', /unknown retryOn policy "bogus-policy"/);
  const ok = doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  retries: {attempts: 2, retryOn: "gateway-error,connect-failure,refused-stream,503,unavailable"}`);
  assert.deepEqual(errorsOf(ok), []);
});

test('mirrorPercentage above 100 and a bad CORS method are rejected', () => {
  const y = doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  mirror: {host: m}\n  mirrorPercentage: {value: 101}\n  corsPolicy:\n    allowMethods: [GET, FETCH]\n    allowOrigins:\n    - regex: "(?<!a)b"`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.http[0].mirrorPercentage.value', /0\.\.100/);
  expectError(errs, 'spec.http[0].corsPolicy.allowMethods[1]', /"FETCH" is not a supported HTTP method/);
  expectError(errs, 'spec.http[0].corsPolicy.allowOrigins[0].regex', /invalid RE2/);
});

test('hosts: wildcard only leftmost, "*" not for the mesh gateway, short names and FQDNs fine', () => {
  expectError(errorsOf(doc('VirtualService', `hosts: ["foo.*.com"]\nhttp:\n- route:\n  - destination: {host: r}`)), 'spec.hosts[0]', /wildcard is only allowed as the leftmost label/);
  expectError(errorsOf(doc('VirtualService', `hosts: ["*"]\nhttp:\n- route:\n  - destination: {host: r}`)), 'spec.hosts[0]', /not allowed for virtual services bound to the mesh gateway/);
  expectError(errorsOf(doc('VirtualService', `hosts: ["bad_host"]\nhttp:\n- route:\n  - destination: {host: r}`)), 'spec.hosts[0]', /label "bad_host" invalid/);
  assert.deepEqual(errorsOf(doc('VirtualService', `hosts: ["*"]\ngateways: [my-gw]\nhttp:\n- route:\n  - destination: {host: r}`)), []);
  assert.deepEqual(errorsOf(doc('VirtualService', `hosts: [reviews, "*.example.com", reviews.default.svc.cluster.local]\nhttp:\n- route:\n  - destination: {host: r}`)), []);
});

test('a VirtualService without hosts is a delegate: gateways and tcp are not allowed there', () => {
  const y = doc('VirtualService', `gateways: [gw]\ntcp:\n- route:\n  - destination: {host: r}`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.gateways', /delegate virtual service/);
  expectError(errs, 'spec.tcp', /delegate virtual service/);
});

test('TLS routes need sniHosts that match the VirtualService hosts', () => {
  const missing = doc('VirtualService', `hosts: ["*.example.com"]\ngateways: [gw]\ntls:\n- match:\n  - port: 443\n  route:\n  - destination: {host: r}`);
  expectError(errorsOf(missing), 'spec.tls[0].match[0].sniHosts', /sniHosts is required/);
  const foreign = doc('VirtualService', `hosts: ["*.example.com"]\ngateways: [gw]\ntls:\n- match:\n  - sniHosts: [a.other.org]\n  route:\n  - destination: {host: r}`);
  expectError(errorsOf(foreign), 'spec.tls[0].match[0].sniHosts[0]', /not a match for any virtual service host/);
  const ok = doc('VirtualService', `hosts: ["*.example.com"]\ngateways: [gw]\ntls:\n- match:\n  - sniHosts: [a.example.com]\n  route:\n  - destination: {host: r}`);
  assert.deepEqual(errorsOf(ok), []);
});

test('DestinationRule: duplicate and empty subset names, simple with consistentHash, outlier percent', () => {
  const y = doc('DestinationRule', `host: reviews
trafficPolicy:
  loadBalancer:
    simple: ROUND_ROBIN
    consistentHash: {httpHeaderName: x-user}
  outlierDetection: {maxEjectionPercent: 150, interval: 5x}
  connectionPool: {tcp: {maxConnections: -1}}
subsets:
- name: v1
  labels: {version: v1}
- name: v1
  labels: {version: v2}
- labels: {version: v3}`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.subsets[1].name', /duplicate subset name "v1"/);
  expectError(errs, 'spec.subsets[2].name', /subset name is required|is required/);
  expectError(errs, 'spec.trafficPolicy.loadBalancer', /simple and consistentHash are mutually exclusive/);
  expectError(errs, 'spec.trafficPolicy.outlierDetection.maxEjectionPercent', /0\.\.100/);
  expectError(errs, 'spec.trafficPolicy.outlierDetection.interval', /invalid duration "5x"/);
  expectError(errs, 'spec.trafficPolicy.connectionPool.tcp.maxConnections', /non-negative/);
  // the schema's generic oneOf message is folded into the precise one
  assert.ok(!errs.some((e) => e.path === 'spec.trafficPolicy.loadBalancer' && /sets more than one/.test(e.message)));
});

test('DestinationRule: unknown tls mode and MUTUAL without certificates', () => {
  expectError(errorsOf(doc('DestinationRule', `host: r\ntrafficPolicy:\n  tls: {mode: FOO}`)), 'spec.trafficPolicy.tls.mode', /unknown value "FOO"; must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL/);
  const m = errorsOf(doc('DestinationRule', `host: r\ntrafficPolicy:\n  portLevelSettings:\n  - port: {number: 443}\n    tls: {mode: MUTUAL}`));
  expectError(m, 'spec.trafficPolicy.portLevelSettings[0].tls.clientCertificate', /client certificate required/);
});

test('Gateway: no servers, bad port, HTTPS without tls, bad host namespace', () => {
  expectError(errorsOf(doc('Gateway', `selector: {istio: ingressgateway}\nservers: []`)), 'spec.servers', /at least one server/);
  const y = doc('Gateway', `selector: {istio: ingressgateway}
servers:
- port: {number: 70000, name: http, protocol: HTTP}
  hosts: ["*"]
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: ["Bad_NS/foo.com"]
- port: {number: 8080, name: x, protocol: SMTP}
  hosts: ["./foo.com"]`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.servers[0].port.number', /1\.\.65535/);
  expectError(errs, 'spec.servers[1].tls', /must have TLS settings for HTTPS/);
  expectError(errs, 'spec.servers[1].hosts[0]', /namespace "Bad_NS"/);
  expectError(errs, 'spec.servers[2].port.protocol', /invalid protocol "SMTP"/);
  const redirect = doc('Gateway', `servers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["*"]\n  tls: {httpsRedirect: true}`);
  assert.deepEqual(errorsOf(redirect), []);
});

test('ServiceEntry: duplicate port numbers, NONE with endpoints, STATIC with a hostname endpoint, DNS wildcard', () => {
  const y = doc('ServiceEntry', `hosts: [api.example.com]
ports:
- {number: 80, name: http, protocol: HTTP}
- {number: 80, name: http2, protocol: HTTP}
resolution: STATIC
endpoints:
- address: not-an-ip.example.com`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.ports[1].number', /port number cannot be duplicated/);
  expectError(errs, 'spec.endpoints[0].address', /must be an IP address for STATIC/);
  expectError(errorsOf(doc('ServiceEntry', `hosts: [a.com]\nports: [{number: 80, name: http}]\nresolution: NONE\nendpoints: [{address: 1.2.3.4}]`)), 'spec.endpoints', /NONE mode cannot set endpoints/);
  expectError(errorsOf(doc('ServiceEntry', `hosts: ["*.a.com"]\nports: [{number: 80, name: http}]\nresolution: DNS`)), 'spec.hosts[0]', /must be FQDN/);
  expectError(errorsOf(doc('ServiceEntry', `hosts: [a.com]\nports: [{number: 80, name: http}]\nresolution: STATIC\nworkloadSelector: {labels: {app: a}}\nendpoints: [{address: 1.2.3.4}]`)), 'spec', /only one of WorkloadSelector or Endpoints/);
});

test('WorkloadEntry needs an address; Sidecar egress hosts need namespace/host', () => {
  expectError(errorsOf(doc('WorkloadEntry', `labels: {app: a}`)), 'spec.address', /Address is required/);
  expectError(errorsOf(doc('Sidecar', `egress:\n- hosts: [reviews.default.svc.cluster.local]`)), 'spec.egress[0].hosts[0]', /namespace\/dnsName/);
  assert.deepEqual(errorsOf(doc('Sidecar', `egress:\n- hosts: ["./*", "istio-system/*"]`)), []);
});

test('AuthorizationPolicy: CUSTOM needs a provider, empty source, unknown when key', () => {
  expectError(errorsOf(doc('AuthorizationPolicy', `action: CUSTOM\nrules:\n- to:\n  - operation: {paths: [/admin]}`)), 'spec.provider.name', /CUSTOM action requires a provider/);
  const y = doc('AuthorizationPolicy', `action: ALLOW\nrules:\n- from:\n  - source: {}\n  when:\n  - key: request.bogus\n    values: [x]`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.rules[0].from[0].source', /must not be empty/);
  expectError(errs, 'spec.rules[0].when[0].key', /unknown attribute "request.bogus"/);
  expectError(errorsOf(doc('AuthorizationPolicy', `action: MAYBE`)), 'spec.action', /unknown value "MAYBE"/);
});

test('RequestAuthentication needs an issuer; PeerAuthentication portLevelMtls needs a selector', () => {
  expectError(errorsOf(doc('RequestAuthentication', `jwtRules:\n- jwksUri: ftp://x/jwks`)), 'spec.jwtRules[0].issuer', /issuer must be set/);
  expectError(errorsOf(doc('RequestAuthentication', `jwtRules:\n- issuer: me\n  jwksUri: ftp://x/jwks`)), 'spec.jwtRules[0].jwksUri', /http:\/\/ or https:\/\//);
  expectError(errorsOf(doc('PeerAuthentication', `mtls: {mode: STRICT}\nportLevelMtls:\n  "8080": {mode: DISABLE}`)), 'spec.portLevelMtls', /requires selector/);
  expectError(errorsOf(doc('PeerAuthentication', `mtls: {mode: SOMETIMES}`)), 'spec.mtls.mode', /unknown value "SOMETIMES"/);
});

test('Telemetry: sampling percentage range and selector with targetRefs', () => {
  const y = doc('Telemetry', `selector: {matchLabels: {app: a}}\ntargetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\ntracing:\n- randomSamplingPercentage: 120`);
  const errs = errorsOf(y);
  expectError(errs, 'spec.tracing[0].randomSamplingPercentage', /0\.\.100/);
  expectError(errs, 'spec', /only one of targetRefs or selector/);
});

test('Kubernetes Service: non-numeric port and missing names on multi-port services', () => {
  const y = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - port: "eighty"
  - port: 9090
    targetPort: 99999`;
  const errs = errorsOf(y);
  expectError(errs, 'spec.ports[0].port', /must be an integer/);
  expectError(errs, 'spec.ports[1].name', /port name is required/);
  expectError(errs, 'spec.ports[1].targetPort', /1\.\.65535/);
});

test('Deployment whose selector does not match its template labels', () => {
  const y = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: web, image: nginx}]`;
  expectError(errorsOf(y), 'spec.template.metadata.labels', /selector does not match template labels: app=web/);
});

test('errors carry file, kind, namespace, name and the source line of the field', () => {
  const y = doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  timeout: abc`, { name: 'reviews', namespace: 'shop' });
  const e = errorsOf(y).find((x) => x.path === 'spec.http[0].timeout');
  assert.ok(e);
  assert.equal(e.kind, 'VirtualService');
  assert.equal(e.namespace, 'shop');
  assert.equal(e.name, 'reviews');
  assert.equal(e.file, 'test.yaml');
  const lines = y.split('\n');
  assert.match(lines[(e.line ?? 0) - 1], /timeout: abc/);
  assert.match(formatValidationError(e), /^test\.yaml:\d+: VirtualService shop\/reviews: spec\.http\[0\]\.timeout: invalid duration "abc"/);
});

test('a resource name that is not DNS-1123 is rejected', () => {
  expectError(errorsOf(doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}`, { name: 'Reviews_V1' })), 'metadata.name', /DNS-1123/);
});

test('garbage shapes never throw: wrong types everywhere are reported, not crashed on', () => {
  const shapes = ['http: 5', 'http: [5, "x", null]', 'hosts: {a: 1}\nhttp: [{route: "x", match: 7}]', 'tcp: [{route: [{destination: 5}]}]', 'tls: [{match: [{sniHosts: 3}]}]'];
  for (const s of shapes) {
    const errs = errorsOf(doc('VirtualService', s));
    assert.ok(errs.length > 0, s);
    assert.ok(!errs.some((e) => /internal validation error/.test(e.message)), `${s}: ${errs.map(formatValidationError).join('\n')}`);
  }
});
