/**
 * The Istio support table against the pilot and the proxy's own table: config that sets every
 * enforced field of VirtualService, DestinationRule and Gateway (each value the table calls
 * enforced) makes the pilot emit only what the proxy honours; and the fields the table says the
 * proxy rejects do make it reject. A field cannot be called enforced while it turns into
 * something the proxy ignores or NACKs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { walkResource } from '../../src/proxy/config/support_walker.ts';
import { RESOURCE, TYPE_URL_PREFIX } from '../../src/xds/type_urls.ts';
import { loadText } from '../../src/api/load.ts';
import { ERR } from '../../src/api/errors.ts';
import { BOOKINFO, MESH, bookinfoProxy, bookinfoWorkloads, loadYaml, parseYamlText, realRegistry } from '../pilot/fixtures.ts';
import { routerProxy } from '../pilot/gateway/helpers.ts';

const TYPES = [RESOURCE.CLUSTER, RESOURCE.ENDPOINT, RESOURCE.LISTENER, RESOURCE.ROUTE];

/** Fields the proxy does not honour in what the pilot emits for `yaml` (beside Bookinfo), as "support Message.field". */
function findings(yaml: string, proxyOf: (w: ReturnType<typeof bookinfoWorkloads>) => Proxy): Set<string> {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...parseYamlText(yaml)];
  const workloads = bookinfoWorkloads(base);
  const push: PushContext = buildPushContext({ mesh: MESH, configs, registry: realRegistry(configs, workloads) });
  const out = new Set<string>();
  for (const t of TYPES) {
    for (const r of generate(push, proxyOf(workloads), t)) {
      for (const f of walkResource(t.slice(TYPE_URL_PREFIX.length), r.resource)) if (f.support !== 'advisory') out.add(`${f.support} ${f.message.split('.').pop()}.${f.field}`);
    }
  }
  return out;
}

/** What `yaml` adds to the findings of `baseline` (plain Bookinfo by default). */
function added(yaml: string, proxyOf: (w: ReturnType<typeof bookinfoWorkloads>) => Proxy = (w) => bookinfoProxy(w, 'productpage'), baseline = ''): string[] {
  const before = findings(baseline, proxyOf);
  return [...findings(yaml, proxyOf)].filter((f) => !before.has(f)).sort();
}

/** The config must also be free of not-enforced warnings, so it only exercises enforced fields. */
function assertOnlyEnforced(yaml: string): void {
  const warned = loadText(yaml, { file: 'x.yaml' }).flatMap((l) => l.errors);
  assert.deepEqual(warned.filter((e) => e.code === ERR.UNSUPPORTED_FIELD || e.severity !== 'warning').map((e) => `${e.path}: ${e.message}`), []);
}

const POLICY = (port: boolean) => `
      connectionPool:
        tcp: {connectTimeout: 2s, maxConnections: 10}
        http: {http2MaxRequests: 10, maxRetries: 2, idleTimeout: 30s, maxConcurrentStreams: 5, h2UpgradePolicy: UPGRADE, maxRequestsPerConnection: 3}
      loadBalancer:
        consistentHash: {httpCookie: {name: user}, minimumRingSize: 2048}
      tls: {mode: SIMPLE, sni: reviews.example, caCertificates: /etc/ca.pem, subjectAltNames: [reviews.example]${port ? '' : ''}}`;

const DR_ENFORCED = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:${POLICY(false).replace(/\n {2}/g, '\n')}
    portLevelSettings:
    - port: {number: 9080}${POLICY(true).replace(/\n {2}/g, '\n  ').replace(/^\n {6}/, '\n      ')}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
      connectionPool:
        tcp: {connectTimeout: 1s}
      tls: {mode: MUTUAL, clientCertificate: /etc/cert.pem, privateKey: /etc/key.pem, insecureSkipVerify: true}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer:
        consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x-user}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      loadBalancer:
        consistentHash: {ringHash: {minimumRingSize: 1024}, useSourceIp: true}
      tls: {mode: DISABLE}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpQueryParameterName: user}
`;

const VS_ENFORCED = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - name: m
      uri: {prefix: /api}
      headers: {end-user: {exact: jason}}
      withoutHeaders: {x-test: {prefix: skip}}
      queryParams: {v: {regex: "^[0-9]+$"}}
      method: {exact: GET}
      authority: {prefix: reviews}
      scheme: {exact: http}
      ignoreUriCase: true
      port: 9080
      gateways: [mesh]
      sourceLabels: {app: productpage}
      sourceNamespace: default
    rewrite: {uri: /v1/api, authority: reviews.internal}
    headers:
      request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}
      response: {set: {x-d: "1"}, add: {x-e: "2"}, remove: [x-f]}
    route:
    - destination: {host: reviews, subset: v1, port: {number: 9080}}
      weight: 80
      headers: {request: {set: {x-g: "1"}}, response: {remove: [x-h]}}
    - destination: {host: reviews, subset: v2}
      weight: 20
    timeout: 1m30s
    retries: {attempts: 3, perTryTimeout: .5s, retryOn: "5xx,reset,503", retryIgnorePreviousHosts: true}
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 0.1}}
      abort: {httpStatus: 503, percentage: {value: 0.1}}
    mirror: {host: ratings, port: {number: 9080}}
    mirrorPercentage: {value: 5}
    corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {regex: "https://.*\\\\.b\\\\.example"}]
      allowMethods: [GET]
      allowHeaders: [x-a]
      exposeHeaders: [x-b]
      maxAge: 24h
      allowCredentials: true
      unmatchedPreflights: IGNORE
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: new.example, scheme: https, port: 8443, redirectCode: 308}
  - match: [{uri: {exact: /gone}}]
    directResponse: {status: 410, body: {string: gone}}
  - match: [{uri: {regex: "^/r/.*"}}]
    rewrite:
      uriRegexRewrite: {match: "^/r/(.*)", rewrite: "/\\\\1"}
    route:
    - destination: {host: reviews, subset: v3}
  - match: [{uri: {prefix: /mirrors}}]
    route:
    - destination: {host: reviews, subset: v2}
    mirrors:
    - destination: {host: details, subset: v1}
      percentage: {value: 1}
  - route:
    - destination: {host: reviews, subset: v1}
    mirrorPercent: 10
    mirror: {host: ratings}
    fault:
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 1}}
      delay: {fixedDelay: 2s, percent: 1}
`;

test('every enforced DestinationRule and VirtualService field becomes only what the proxy honours', () => {
  const yaml = `${DR_ENFORCED}---\n${VS_ENFORCED}`;
  assertOnlyEnforced(yaml);
  assert.deepEqual(added(yaml), []);
});

test('enforced Gateway fields (TLS from files, redirects, protocols) become only what the router honours', () => {
  const yaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: ["*.example.com"]
    tls:
      mode: MUTUAL
      serverCertificate: /etc/cert.pem
      privateKey: /etc/key.pem
      caCertificates: /etc/ca.pem
      subjectAltNames: [client.example.com]
      minProtocolVersion: TLSV1_2
      maxProtocolVersion: TLSV1_3
      cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256]
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 8444, name: tls, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: istio-system}
spec:
  hosts: ["a.example.com"]
  gateways: [gw]
  http:
  - route: [{destination: {host: productpage.default.svc.cluster.local, port: {number: 9080}}}]
  tls:
  - match: [{sniHosts: ["a.example.com"], port: 8444}]
    route: [{destination: {host: productpage.default.svc.cluster.local, port: {number: 9080}}}]
`;
  assertOnlyEnforced(yaml);
  // Against Bookinfo's own gateway: what any HTTP gateway gets is not this test's business.
  const bookinfoGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
`;
  assert.deepEqual(added(`${bookinfoGateway}---\n${yaml}`, () => routerProxy(), bookinfoGateway), []);
});

test('fields the proxy does not enforce yet are accepted (never NACKed: a valid Istio YAML must not stall a sidecar), counted, and warned about at apply time', () => {
  const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnectionDuration: 1h, tcpKeepalive: {time: 10s, probes: 3}}
      http: {maxRequestsPerConnection: 2}
    loadBalancer:
      consistentHash: {httpCookie: {name: c, path: /, ttl: 10s}}
      localityLbSetting: {distribute: [{from: "a/*", to: {"a/*": 100}}]}
    outlierDetection: {consecutive5xxErrors: 1, minHealthPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /a}, statPrefix: a}]
    route: [{destination: {host: reviews}}]
    retries: {attempts: 2, retryRemoteLocalities: true}
`;
  const got = added(dr);
  assert.deepEqual(got.filter((f) => f.startsWith('unsupported ')), []);
  for (const f of ['TcpKeepalive.keepalive_probes', 'Cookie.path', 'Cookie.ttl', 'Route.stat_prefix']) {
    assert.ok(got.includes(`not_yet_honoured ${f}`), `${f} in ${got.join(', ')}`);
  }
  // maxRequestsPerConnection, maxConnectionDuration and the keep-alive time are enforced (test/proxy/circuit_breaker),
  // and so are locality weights (test/integration/locality_failover).
  for (const f of ['max_requests_per_connection', 'max_connection_duration', 'upstream_connection_options', 'keepalive_time', 'locality_weighted_lb_config']) assert.ok(!got.some((g) => g.endsWith(f)), `${f}: ${got.join(', ')}`);
  // Outlier detection and its panic threshold are enforced (test/proxy/outlier_detection.test.ts).
  for (const f of ['outlier_detection', 'healthy_panic_threshold']) assert.ok(!got.some((g) => g.endsWith(f)), `${f}: ${got.join(', ')}`);
  // retryRemoteLocalities: previous_priorities is enforced (test/proxy/retry.test.ts).
  assert.ok(!got.some((g) => g.endsWith('retry_priority')), got.join(', '));
  const warned = loadText(dr, { file: 'x.yaml' }).flatMap((l) => l.errors).filter((e) => e.code === ERR.UNSUPPORTED_FIELD);
  assert.deepEqual(warned.map((e) => e.path), [
    'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.probes',
    'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.path',
    'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl',
    'spec.http[0].match[0].statPrefix',
  ]);
  assert.ok(warned.every((e) => !/rejects|NACK/.test(e.message)), 'no warning claims a rejection the proxy does not make');
});
