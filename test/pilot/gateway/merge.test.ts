import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeGateways, serverKind } from '../../../src/pilot/gateway/index.ts';
import { BOOKINFO_DIR, find, generateAll, loadYaml, parseYamlText, pushOf, routeSummary, routerProxy } from './helpers.ts';

test('server kinds follow protocol and TLS mode', () => {
  assert.equal(serverKind('HTTP', undefined), 'http');
  assert.equal(serverKind('GRPC', undefined), 'http');
  assert.equal(serverKind('HTTPS', { mode: 'SIMPLE' }), 'https');
  assert.equal(serverKind('HTTPS', { mode: 'PASSTHROUGH' }), 'passthrough');
  assert.equal(serverKind('TLS', { mode: 'AUTO_PASSTHROUGH' }), 'auto_passthrough');
  assert.equal(serverKind('TLS', { mode: 'MUTUAL' }), 'tls_terminated');
  assert.equal(serverKind('HTTPS', undefined), undefined, 'HTTPS needs a tls block');
  assert.equal(serverKind('MONGO', undefined), 'tcp');
});

const YAML = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: a, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: [a.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: b, namespace: other, creationTimestamp: "2024-01-02T00:00:00Z" }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: [b.example.com]
  - port: { number: 8080, name: tcp, protocol: TCP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a }
spec:
  hosts: [a.example.com]
  gateways: [a]
  http: [{ route: [{ destination: { host: details, port: { number: 9080 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b, namespace: other }
spec:
  hosts: [b.example.com]
  gateways: [b]
  http: [{ route: [{ destination: { host: ratings.default.svc.cluster.local, port: { number: 9080 } } }] }]
`;

test('HTTP servers of two Gateways on one port share http.<port>; a TCP server on it is dropped', () => {
  const push = pushOf([...loadYaml(`${BOOKINFO_DIR}/platform/kube/bookinfo.yaml`), ...parseYamlText(YAML)]);
  const proxy = routerProxy();
  const merged = mergeGateways(push, proxy);
  assert.deepEqual(merged.ports.map((p) => [p.port, p.family, p.servers.map((s) => `${s.gatewayName}:${s.server.port.name}`)]), [[8080, 'http', ['default/a:http', 'other/b:http']]]);
  const r = generateAll(push, proxy);
  assert.deepEqual(r.listeners.map((l) => l.name), ['0.0.0.0_8080']);
  const rc = find(r.routes, 'http.8080');
  assert.deepEqual(
    rc.virtual_hosts.map((v: any) => [v.name, routeSummary(v)]),
    [
      ['a.example.com:8080', [['prefix /', 'outbound|9080||details.default.svc.cluster.local']]],
      ['b.example.com:8080', [['prefix /', 'outbound|9080||ratings.default.svc.cluster.local']]],
    ],
  );
});
