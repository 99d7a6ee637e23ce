import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import { gatewayNamesForProxy, virtualServicesForHost, virtualServicesForProxy } from '../../../src/pilot/virtualservice/index.ts';
import { bookinfoServices, kubeService, push, sidecar, vhost, yamlConfigs } from './fixtures.ts';

const vs = (name: string, ns: string, body: string, ts?: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}${ts ? `, creationTimestamp: '${ts}'` : ''}}
spec:
${body}
---
`;

const names = (list: Array<{ metadata: { name: string } }>) => list.map((c) => c.metadata.name);

test('sidecars take mesh-bound VirtualServices; routers take those naming their Gateway', () => {
  const cfg = yamlConfigs(
    vs('plain', 'default', '  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews}}]}]') +
      vs('meshed', 'default', '  hosts: [ratings]\n  gateways: [mesh, bookinfo-gateway]\n  http: [{route: [{destination: {host: ratings}}]}]') +
      vs('edge', 'default', '  hosts: ["*"]\n  gateways: [bookinfo-gateway]\n  http: [{route: [{destination: {host: productpage}}]}]') +
      vs('other-gw', 'default', '  hosts: ["*"]\n  gateways: [istio-system/other]\n  http: [{route: [{destination: {host: productpage}}]}]') +
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`,
  );
  const p = push(cfg);
  assert.deepEqual(names(virtualServicesForProxy(p, sidecar())), ['meshed', 'plain']);
  const router = sidecar('istio-system', { istio: 'ingressgateway' }, { type: 'router' });
  assert.deepEqual([...gatewayNamesForProxy(p, router)], ['default/bookinfo-gateway']);
  assert.deepEqual(names(virtualServicesForProxy(p, router)), ['edge', 'meshed']);
});

test('VirtualService exportTo: "." hides it from other namespaces', () => {
  const cfg = yamlConfigs(vs('private', 'default', '  hosts: [reviews]\n  exportTo: ["."]\n  http: [{route: [{destination: {host: reviews, subset: v2}}]}]'));
  const p = push(cfg);
  assert.equal(virtualServicesForProxy(p, sidecar('default')).length, 1);
  assert.equal(virtualServicesForProxy(p, sidecar('other')).length, 0);
  const rcOther = buildRouteConfiguration(p, sidecar('other'), '9080');
  assert.equal(vhost(rcOther, 'reviews.default.svc.cluster.local:9080').routes[0].name, 'default');
});

test('short hosts resolve in the VirtualService namespace, not the caller', () => {
  const services = [...bookinfoServices(), kubeService('reviews', 'team', [[9080, 'http', 'HTTP']], '10.0.1.14')];
  const cfg = yamlConfigs(vs('reviews', 'team', '  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews, subset: v9}}]}]'));
  const rc = buildRouteConfiguration(push(cfg, services), sidecar('default'), '9080');
  assert.equal(vhost(rc, 'reviews.team.svc.cluster.local:9080').routes[0].route.cluster, 'outbound|9080|v9|reviews.team.svc.cluster.local');
  assert.equal(vhost(rc, 'reviews.default.svc.cluster.local:9080').routes[0].name, 'default');
});

test('wildcard hosts: exact beats wildcard, most specific wildcard wins', () => {
  const cfg = yamlConfigs(
    vs('wide', 'default', '  hosts: ["*.svc.cluster.local"]\n  http: [{route: [{destination: {host: details, subset: wide}}]}]') +
      vs('narrow', 'default', '  hosts: ["*.default.svc.cluster.local"]\n  http: [{route: [{destination: {host: details, subset: narrow}}]}]') +
      vs('exact', 'default', '  hosts: [reviews.default.svc.cluster.local]\n  http: [{route: [{destination: {host: reviews, subset: exact}}]}]'),
  );
  const p = push(cfg);
  const vss = virtualServicesForProxy(p, sidecar());
  assert.deepEqual(names(virtualServicesForHost(vss, 'reviews.default.svc.cluster.local')), ['exact']);
  assert.deepEqual(names(virtualServicesForHost(vss, 'ratings.default.svc.cluster.local')), ['narrow']);
  assert.deepEqual(names(virtualServicesForHost(vss, 'x.other.svc.cluster.local')), ['wide']);
  assert.deepEqual(names(virtualServicesForHost(vss, 'api.example.com')), []);
  const rc = buildRouteConfiguration(p, sidecar(), '9080');
  assert.equal(vhost(rc, 'ratings.default.svc.cluster.local:9080').routes[0].route.cluster, 'outbound|9080|narrow|details.default.svc.cluster.local');
});

test('two VirtualServices for one host merge, older first', () => {
  const cfg = yamlConfigs(
    vs('b-newer', 'default', '  hosts: [reviews]\n  http: [{match: [{uri: {prefix: /new}}], route: [{destination: {host: reviews, subset: v2}}]}]', '2024-02-01T00:00:00Z') +
      vs('a-older', 'default', '  hosts: [reviews]\n  http: [{match: [{uri: {prefix: /old}}], route: [{destination: {host: reviews, subset: v1}}]}]', '2024-01-01T00:00:00Z'),
  );
  const routes = vhost(buildRouteConfiguration(push(cfg), sidecar(), '9080'), 'reviews.default.svc.cluster.local:9080').routes;
  assert.deepEqual(routes.map((r: any) => r.match.prefix), ['/old', '/new']);
});

test('delegate: the delegate routes merge under the root match; conflicts are dropped', () => {
  const cfg = yamlConfigs(
    vs('root', 'default', `  hosts: [reviews]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    timeout: 3s
    delegate: {name: reviews-api, namespace: team}
  - route: [{destination: {host: reviews, subset: v1}}]`) +
      vs('reviews-api', 'team', `  http:
  - name: v2
    match: [{uri: {prefix: /api/v2}, headers: {x-team: {exact: a}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]
  - name: bad
    match: [{uri: {prefix: /other}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v9}}]
  - route: [{destination: {host: ratings.default.svc.cluster.local}}]`),
  );
  const p = push(cfg);
  // The delegate alone (no hosts) never applies.
  assert.deepEqual(names(virtualServicesForProxy(p, sidecar())), ['root']);
  const routes = vhost(buildRouteConfiguration(p, sidecar(), '9080'), 'reviews.default.svc.cluster.local:9080').routes;
  assert.deepEqual(
    routes.map((r: any) => [r.name, r.match.prefix, r.match.headers?.[0]?.name, r.route.cluster, r.route.timeout]),
    [
      ['api-v2', '/api/v2', 'x-team', 'outbound|9080|v2|reviews.default.svc.cluster.local', '3s'],
      ['api', '/api', undefined, 'outbound|9080||ratings.default.svc.cluster.local', '3s'],
      [undefined, '/', undefined, 'outbound|9080|v1|reviews.default.svc.cluster.local', '0s'],
    ],
  );
});

test('delegate not exported to the root namespace contributes nothing', () => {
  const cfg = yamlConfigs(
    vs('root', 'default', `  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /api}}]
    delegate: {name: reviews-api, namespace: team}
  - route: [{destination: {host: reviews, subset: v1}}]`) +
      vs('reviews-api', 'team', `  exportTo: ["."]
  http:
  - route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]`),
  );
  const routes = vhost(buildRouteConfiguration(push(cfg), sidecar(), '9080'), 'reviews.default.svc.cluster.local:9080').routes;
  assert.deepEqual(routes.map((r: any) => r.route.cluster), ['outbound|9080|v1|reviews.default.svc.cluster.local']);
});

test('VirtualService host that is no service gets its own vhost on port 80', () => {
  const cfg = yamlConfigs(vs('ext', 'default', '  hosts: [api.example.com]\n  http: [{timeout: 2s, route: [{destination: {host: api.example.com}}]}]'));
  const rc80 = buildRouteConfiguration(push(cfg), sidecar(), '80')!;
  const vh = vhost(rc80, 'api.example.com:80');
  assert.deepEqual(vh.domains, ['api.example.com', 'api.example.com:80']);
  assert.equal(vh.routes[0].route.cluster, 'outbound|80||api.example.com');
  assert.equal(vh.routes[0].route.timeout, '2s');
  const rc9080 = buildRouteConfiguration(push(cfg), sidecar(), '9080')!;
  assert.ok(!rc9080.virtual_hosts.some((v: any) => v.name.startsWith('api.example.com')));
});

test('Sidecar egress hosts limit the services and VirtualServices a proxy sees', () => {
  const cfg = yamlConfigs(
    `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress: [{hosts: ["./reviews.default.svc.cluster.local"]}]
---
` + vs('ratings', 'default', '  hosts: [ratings]\n  http: [{route: [{destination: {host: ratings, subset: v1}}]}]'),
  );
  const p = push(cfg);
  assert.equal(virtualServicesForProxy(p, sidecar()).length, 0);
  const rc = buildRouteConfiguration(p, sidecar(), '9080')!;
  assert.deepEqual(rc.virtual_hosts.map((v: any) => v.name), ['reviews.default.svc.cluster.local:9080', 'allow_any']);
});
