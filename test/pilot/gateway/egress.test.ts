/**
 * Istio's "Egress Gateways" task for HTTP, at the resource level: sidecars send edition.cnn.com
 * to the egress gateway, the egress gateway sends it on to the external (DNS) ServiceEntry host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxy } from '../../../src/pilot/proxy.ts';
import { EGRESS_LABELS, find, terminalConfig, gatewayWorkload, generateAll, parseYamlText, pushOf, routeSummary, routerProxy } from './helpers.ts';

const EGRESS_SVC = 'istio-egressgateway.istio-system.svc.cluster.local';
const TO_GATEWAY = `outbound|80|cnn|${EGRESS_SVC}`;
const TO_CNN = 'outbound|80||edition.cnn.com';

const YAML = `
apiVersion: v1
kind: Service
metadata: { name: istio-egressgateway, namespace: istio-system, labels: { istio: egressgateway } }
spec:
  selector: { istio: egressgateway, app: istio-egressgateway }
  ports:
  - { name: http2, port: 80, targetPort: 8080 }
  - { name: https, port: 443, targetPort: 8443 }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: cnn }
spec:
  hosts: [edition.cnn.com]
  ports:
  - { number: 80, name: http-port, protocol: HTTP }
  - { number: 443, name: https, protocol: HTTPS }
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: istio-egressgateway }
spec:
  selector: { istio: egressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: [edition.cnn.com]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: egressgateway-for-cnn }
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: direct-cnn-through-egress-gateway }
spec:
  hosts: [edition.cnn.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{ gateways: [mesh], port: 80 }]
    route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: { number: 80 } }, weight: 100 }]
  - match: [{ gateways: [istio-egressgateway], port: 80 }]
    route: [{ destination: { host: edition.cnn.com, port: { number: 80 } }, weight: 100 }]
`;

function egressPush() {
  return pushOf(parseYamlText(YAML), [
    gatewayWorkload('istio-egressgateway-0', 'istio-system', '127.0.2.1', EGRESS_LABELS),
    gatewayWorkload('sleep-0', 'default', '127.0.2.2', { app: 'sleep' }),
  ]);
}

const sleepProxy = () =>
  parseProxy({ id: 'sidecar~127.0.2.2~sleep-0.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'sleep' } } });

test('sidecar side: edition.cnn.com:80 goes to the egress gateway cluster (subset cnn)', () => {
  const push = egressPush();
  const r = generateAll(push, sleepProxy());
  const vh = find(r.routes, '80').virtual_hosts.find((v: any) => v.domains.includes('edition.cnn.com'));
  assert.ok(vh, 'a virtual host for edition.cnn.com on port 80');
  assert.deepEqual(routeSummary(vh), [['prefix /', TO_GATEWAY]]);
  const cluster = find(r.clusters, TO_GATEWAY);
  assert.equal(cluster.type, 'EDS');
  // The gateway's endpoint is its pod on the Service's targetPort.
  const cla = find(r.endpoints, TO_GATEWAY);
  assert.deepEqual(cla.endpoints.flatMap((e: any) => e.lb_endpoints.map((l: any) => l.endpoint.address.socket_address)), [{ address: '127.0.2.1', port_value: 8080 }]);
});

test('gateway side: the server port 80 listens on the Service targetPort 8080 and routes to the external cluster', () => {
  const push = egressPush();
  const r = generateAll(push, routerProxy(EGRESS_LABELS));
  assert.deepEqual(r.listeners.map((l) => l.name), ['0.0.0.0_8080']);
  assert.equal(terminalConfig(find(r.listeners, '0.0.0.0_8080').filter_chains[0]).rds.route_config_name, 'http.8080');
  const rc = find(r.routes, 'http.8080');
  assert.equal(rc.virtual_hosts.length, 1);
  const vh = rc.virtual_hosts[0];
  assert.equal(vh.name, 'edition.cnn.com:80');
  assert.deepEqual(vh.domains, ['edition.cnn.com', 'edition.cnn.com:*']);
  // Only the route whose match names this gateway: the mesh route would loop back to the gateway.
  assert.deepEqual(routeSummary(vh), [['prefix /', TO_CNN]]);
  const cnn = find(r.clusters, TO_CNN);
  assert.equal(cnn.type, 'STRICT_DNS', 'resolution DNS');
  assert.deepEqual(cnn.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: 'edition.cnn.com', port_value: 80 });
});

test('the ingress gateway does not pick up the egress Gateway', () => {
  const r = generateAll(egressPush(), routerProxy());
  assert.deepEqual(r.listeners, []);
});
