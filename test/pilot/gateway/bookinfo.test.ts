import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGatewayListeners, gatewaysForProxy } from '../../../src/pilot/gateway/index.ts';
import { generate } from '../../../src/pilot/generator.ts';
import { TYPE } from '../../../src/xds/types.ts';
import { BOOKINFO_DIR, find, terminalConfig, generateAll, loadYaml, pushOf, routeSummary, routerProxy } from './helpers.ts';

const PRODUCTPAGE = 'outbound|9080||productpage.default.svc.cluster.local';

function bookinfoGatewayPush() {
  return pushOf([...loadYaml(`${BOOKINFO_DIR}/platform/kube/bookinfo.yaml`), ...loadYaml(`${BOOKINFO_DIR}/networking/bookinfo-gateway.yaml`)]);
}

test('bookinfo-gateway: a bound 0.0.0.0_8080 listener whose HCM asks RDS for http.8080', () => {
  const push = bookinfoGatewayPush();
  const proxy = routerProxy();
  assert.deepEqual(gatewaysForProxy(push, proxy).map((g) => g.metadata.name), ['bookinfo-gateway']);
  const { listeners } = generateAll(push, proxy);
  assert.deepEqual(listeners.map((l) => l.name), ['0.0.0.0_8080']);
  const l = listeners[0]!.resource;
  assert.deepEqual(l.address, { socket_address: { address: '0.0.0.0', port_value: 8080 } });
  assert.equal(l.bind_to_port, true);
  assert.equal(l.filter_chains.length, 1);
  const hcm = terminalConfig(l.filter_chains[0]);
  assert.equal(hcm.rds.route_config_name, 'http.8080');
  assert.equal(hcm.stat_prefix, 'outbound_0.0.0.0_8080');
  assert.equal(hcm.use_remote_address, true, 'the gateway is the edge: it sets X-Forwarded-For');
  assert.equal(l.listener_filters, undefined, 'plaintext HTTP needs no tls_inspector');
});

test('bookinfo-gateway: http.8080 has exactly the VirtualService routes to productpage:9080', () => {
  const push = bookinfoGatewayPush();
  const { routes } = generateAll(push, routerProxy());
  assert.deepEqual(routes.map((r) => r.name), ['http.8080']);
  const rc = find(routes, 'http.8080');
  assert.equal(rc.virtual_hosts.length, 1);
  const vh = rc.virtual_hosts[0];
  assert.equal(vh.name, '*:8080');
  assert.deepEqual(vh.domains, ['*']);
  assert.deepEqual(routeSummary(vh), [
    ['path /productpage', PRODUCTPAGE],
    ['prefix /static', PRODUCTPAGE],
    ['path /login', PRODUCTPAGE],
    ['path /logout', PRODUCTPAGE],
    ['prefix /api/v1/products', PRODUCTPAGE],
  ]);
  assert.ok(vh.routes.every((r: any) => r.route.timeout === '0s'), 'no VirtualService timeout → Envoy default disabled, as Istio does');
});

test('bookinfo-gateway: CDS/EDS are the sidecar outbound clusters, without inbound ones', () => {
  const push = bookinfoGatewayPush();
  const { clusters, endpoints } = generateAll(push, routerProxy());
  const names = clusters.map((c) => c.name);
  for (const svc of ['details', 'productpage', 'ratings', 'reviews']) assert.ok(names.includes(`outbound|9080||${svc}.default.svc.cluster.local`), svc);
  assert.ok(!names.some((n) => n.startsWith('inbound|')));
  const pp = find(endpoints, PRODUCTPAGE);
  assert.equal(pp.endpoints.flatMap((e: any) => e.lb_endpoints).length, 1);
});

test('GATEWAY_BIND_ADDRESS metadata moves the bind address, not the listener name', () => {
  const push = bookinfoGatewayPush();
  const [l] = buildGatewayListeners(push, routerProxy(undefined, { GATEWAY_BIND_ADDRESS: '127.0.0.1' }));
  assert.equal(l!.name, '0.0.0.0_8080');
  assert.deepEqual(l!.address, { socket_address: { address: '127.0.0.1', port_value: 8080 } });
  // Not an IP: ignored rather than handing Envoy an address it cannot bind.
  const [l2] = buildGatewayListeners(push, routerProxy(undefined, { GATEWAY_BIND_ADDRESS: 'localhost' }));
  assert.equal(l2!.address.socket_address.address, '0.0.0.0');
});

test('a router whose labels no Gateway selects gets no listeners and no routes', () => {
  const push = bookinfoGatewayPush();
  const proxy = routerProxy({ istio: 'egressgateway' });
  assert.deepEqual(gatewaysForProxy(push, proxy), []);
  const r = generateAll(push, proxy);
  assert.deepEqual(r.listeners, []);
  assert.deepEqual(r.routes, []);
  assert.deepEqual(generate(push, proxy, TYPE.ROUTE, ['http.8080']), []);
  assert.ok(r.clusters.length > 0, 'clusters are still served');
});

test('sidecars do not see gateway-bound VirtualService routes, and get no gateway listeners', () => {
  const push = bookinfoGatewayPush();
  const w = push.workloads.find((x) => x.name.startsWith('productpage'))!;
  const sidecar = routerProxy(w.labels, {}, 'default');
  // Same labels, but a sidecar: Gateway translation never applies.
  const asSidecar = { ...sidecar, type: 'sidecar' as const };
  assert.deepEqual(gatewaysForProxy(push, asSidecar), []);
  const routes = generate(push, asSidecar, TYPE.ROUTE, ['9080']);
  const vh = routes[0]!.resource.virtual_hosts.find((v: any) => v.name === 'productpage.default.svc.cluster.local:9080');
  assert.deepEqual(routeSummary(vh), [['prefix /', PRODUCTPAGE]]);
});

test('two routers with different labels see different Gateways from the same push', () => {
  const push = pushOf([
    ...loadYaml(`${BOOKINFO_DIR}/platform/kube/bookinfo.yaml`),
    ...loadYaml(`${BOOKINFO_DIR}/networking/bookinfo-gateway.yaml`),
  ]);
  assert.equal(generate(push, routerProxy(), TYPE.LISTENER).length, 1);
  assert.equal(generate(push, routerProxy({ istio: 'other' }), TYPE.LISTENER).length, 0);
  // Output is deterministic: the same input gives the same bytes.
  assert.deepEqual(generate(push, routerProxy(), TYPE.ROUTE), generate(push, routerProxy(), TYPE.ROUTE));
});
