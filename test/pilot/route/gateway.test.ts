import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import { push, sidecar, vhost, yamlConfigs } from './fixtures.ts';

const gatewayProxy = sidecar('istio-system', { istio: 'ingressgateway' }, { type: 'router' });

const configs = () =>
  yamlConfigs(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com", "default/plain.test"]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https-web, protocol: HTTPS}
    hosts: ["shop.example.com"]
    tls: {mode: SIMPLE, credentialName: shop-cert}
  - port: {number: 8081, name: http-empty, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com, "*"]
  gateways: [istio-system/web]
  http:
  - match: [{gateways: [istio-system/web], uri: {prefix: /cart}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: productpage, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: plain, namespace: other}
spec:
  hosts: [plain.test]
  gateways: [istio-system/web]
  http: [{route: [{destination: {host: details.default.svc.cluster.local}}]}]
`);

test('gateway http.<port>: server hosts ∩ VirtualService hosts, more specific name wins', () => {
  const rc = buildRouteConfiguration(push(configs()), gatewayProxy, 'http.80')!;
  // "*" in the VirtualService narrows to the server's names; plain.test is only admitted from
  // namespace default, so the "plain" VirtualService (namespace other) does not serve it and
  // shop's "*" does.
  assert.deepEqual(rc.virtual_hosts.map((v: any) => v.name), ['*.example.com:80', 'plain.test:80', 'shop.example.com:80']);
  const plain = vhost(rc, 'plain.test:80');
  assert.ok(plain.routes.every((r: any) => !r.route.cluster.includes('details')));
  assert.equal(plain.routes.length, 2);
  const shop = vhost(rc, 'shop.example.com:80');
  assert.deepEqual(shop.domains, ['shop.example.com', 'shop.example.com:*']);
  assert.equal(shop.require_tls, 'ALL');
  assert.deepEqual(shop.routes.map((r: any) => r.route.cluster), [
    'outbound|9080|v1|reviews.default.svc.cluster.local',
    'outbound|9080||productpage.default.svc.cluster.local',
  ]);
});

test('gateway https.<port>.<portName>.<gateway>.<ns> names one TLS server', () => {
  const rc = buildRouteConfiguration(push(configs()), gatewayProxy, 'https.443.https-web.web.istio-system')!;
  assert.deepEqual(rc.virtual_hosts.map((v: any) => v.name), ['shop.example.com:443']);
  assert.equal(rc.virtual_hosts[0].require_tls, undefined);
});

test('gateway server without VirtualService gets the blackhole vhost (no routes: Envoy 404 NR)', () => {
  const cfg = configs().filter((c) => c.kind === 'Gateway');
  const rc = buildRouteConfiguration(push(cfg), gatewayProxy, 'http.8081')!;
  assert.deepEqual(rc.virtual_hosts, [{ name: 'blackhole:8081', domains: ['*'], routes: [], include_request_attempt_count: true }]);
  assert.equal(buildRouteConfiguration(push(cfg), gatewayProxy, 'http.9999'), undefined);
});
