import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intersectHosts, parseServerHost } from '../../../src/pilot/gateway/index.ts';
import { BOOKINFO_DIR, find, generateAll, loadYaml, parseYamlText, pushOf, routeSummary, routerProxy } from './helpers.ts';

test('server hosts: `ns/host`, `./host`, `*/host` and bare hosts', () => {
  assert.deepEqual(parseServerHost('bookinfo/a.example.com', 'edge'), { namespace: 'bookinfo', host: 'a.example.com' });
  assert.deepEqual(parseServerHost('./a.example.com', 'edge'), { namespace: 'edge', host: 'a.example.com' });
  assert.deepEqual(parseServerHost('*/a.example.com', 'edge'), { namespace: '*', host: 'a.example.com' });
  assert.deepEqual(parseServerHost('a.example.com', 'edge'), { namespace: '*', host: 'a.example.com' });
  assert.equal(intersectHosts('*.example.com', 'a.example.com'), 'a.example.com');
  assert.equal(intersectHosts('a.example.com', '*'), 'a.example.com');
  assert.equal(intersectHosts('a.example.com', 'b.example.com'), undefined);
});

// A Gateway in namespace `edge` that lets only `bookinfo` VirtualServices claim *.bookinfo.com,
// only its own namespace claim ops.example.com, and anyone claim shared.example.com.
const YAML = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge-gateway, namespace: edge }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ["bookinfo/*.bookinfo.com", "./ops.example.com", "*/shared.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop, namespace: bookinfo }
spec:
  hosts: [shop.bookinfo.com]
  gateways: [edge/edge-gateway]
  http:
  - route: [{ destination: { host: productpage.default.svc.cluster.local, port: { number: 9080 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: sneaky, namespace: default }
spec:
  hosts: [evil.bookinfo.com, ops.example.com]
  gateways: [edge/edge-gateway]
  http:
  - route: [{ destination: { host: details, port: { number: 9080 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ops, namespace: edge }
spec:
  hosts: [ops.example.com, "*.bookinfo.com"]
  gateways: [edge-gateway]
  http:
  - route: [{ destination: { host: ratings.default.svc.cluster.local, port: { number: 9080 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shared, namespace: default }
spec:
  hosts: [shared.example.com]
  gateways: [edge/edge-gateway]
  http:
  - match: [{ uri: { prefix: /reviews } }]
    route: [{ destination: { host: reviews, port: { number: 9080 } } }]
`;

test('a Gateway in another namespace: `namespace/` host prefixes decide which VirtualServices bind', () => {
  const push = pushOf([...loadYaml(`${BOOKINFO_DIR}/platform/kube/bookinfo.yaml`), ...parseYamlText(YAML)]);
  const r = generateAll(push, routerProxy());
  assert.deepEqual(r.listeners.map((l) => l.name), ['0.0.0.0_8080']);
  const rc = find(r.routes, 'http.8080');
  const summary = Object.fromEntries(rc.virtual_hosts.map((v: any) => [v.name, routeSummary(v)]));
  assert.deepEqual(summary, {
    // Only the bookinfo namespace may claim *.bookinfo.com: default's evil.bookinfo.com and edge's wildcard are out.
    'shop.bookinfo.com:8080': [['prefix /', 'outbound|9080||productpage.default.svc.cluster.local']],
    // `./` is the Gateway's own namespace (edge), so default's claim is ignored.
    'ops.example.com:8080': [['prefix /', 'outbound|9080||ratings.default.svc.cluster.local']],
    'shared.example.com:8080': [['prefix /reviews', 'outbound|9080||reviews.default.svc.cluster.local']],
  });
  assert.deepEqual(find(r.routes, 'http.8080').virtual_hosts.find((v: any) => v.name === 'shop.bookinfo.com:8080').domains, ['shop.bookinfo.com', 'shop.bookinfo.com:*']);
});

test('a VirtualService exported only to its own namespace still binds to a Gateway in that namespace', () => {
  const push = pushOf([
    ...loadYaml(`${BOOKINFO_DIR}/platform/kube/bookinfo.yaml`),
    ...parseYamlText(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: private, namespace: default }
spec:
  hosts: [private.example.com]
  exportTo: ["."]
  gateways: [gw]
  http:
  - route: [{ destination: { host: details, port: { number: 9080 } } }]
`),
  ]);
  // The router runs in istio-system; what counts is the Gateway's namespace.
  const rc = find(generateAll(push, routerProxy()).routes, 'http.8080');
  assert.deepEqual(rc.virtual_hosts.map((v: any) => v.name), ['private.example.com:8080']);
});
