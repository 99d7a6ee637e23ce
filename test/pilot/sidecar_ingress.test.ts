/**
 * Sidecar `ingress` listeners: they replace the workload's service ports as its inbound ports —
 * a chain per ingress port (behind virtualInbound under capture, a bound listener under NONE or
 * captureMode NONE), to cluster inbound|<port>|| at the defaultEndpoint, HTTP or TCP by the
 * port's protocol, mTLS as PeerAuthentication says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { checkConsistency } from '../../src/pilot/consistency.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { TYPE, type NamedResource } from '../../src/xds/types.ts';
import { hcmOf, tcpProxyOf } from './filters.ts';
import { BOOKINFO, MESH, bookinfoWorkloads, loadYaml, parseYamlText, realRegistry, sidecarNode } from './fixtures.ts';
import { doc, errorsOf, problems } from '../api/helpers.ts';

const SIDECAR = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: reviews-ingress, namespace: default }
spec:
  workloadSelector: { labels: { app: reviews } }
  ingress:
  - port: { number: 9080, protocol: HTTP, name: http }
    defaultEndpoint: 127.0.0.1:8080
  - port: { number: 9443, protocol: TCP, name: tcp }
    defaultEndpoint: 0.0.0.0:3000
`;

function bookinfo(extra = ''): { push: PushContext; proxy: (md?: Record<string, unknown>, prefix?: string) => Proxy } {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...(extra ? parseYamlText(extra) : [])];
  const workloads = bookinfoWorkloads(base);
  const push = buildPushContext({ mesh: MESH, configs, registry: realRegistry(configs, workloads) });
  return {
    push,
    proxy: (md = {}, prefix = 'reviews-v2') => parseProxy(sidecarNode(workloads.find((w) => w.name.startsWith(prefix))!, md)),
  };
}

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name} in ${rs.map((x) => x.name).join(', ')}`);
  return r.resource;
};
const endpointOf = (clusters: NamedResource[], name: string) => get(clusters, name).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
const portChains = (vi: any) => vi.filter_chains.filter((c: any) => c.filter_chain_match?.destination_port !== undefined);

test('REDIRECT: virtualInbound has chains for the ingress ports only, HTTP → HCM, TCP → tcp_proxy', () => {
  const { push, proxy } = bookinfo(SIDECAR);
  const p = proxy();
  const listeners = generate(push, p, TYPE.LISTENER);
  const vi = get(listeners, 'virtualInbound');
  const chains = portChains(vi);
  // Bookinfo's reviews port 9080 and the extra 9443; PERMISSIVE: an mTLS and a plaintext chain each.
  assert.deepEqual(chains.map((c: any) => [c.name, c.filter_chain_match.destination_port, c.filter_chain_match.transport_protocol]), [
    ['inbound|9080||-mtls', 9080, 'tls'],
    ['inbound|9080||', 9080, 'raw_buffer'],
    ['inbound|9443||-mtls', 9443, 'tls'],
    ['inbound|9443||', 9443, 'raw_buffer'],
  ]);
  for (const c of chains.filter((x: any) => x.filter_chain_match.destination_port === 9080)) {
    assert.equal(hcmOf(c).route_config.virtual_hosts[0].routes[0].route.cluster, 'inbound|9080||');
  }
  for (const c of chains.filter((x: any) => x.filter_chain_match.destination_port === 9443)) {
    assert.equal(tcpProxyOf(c).cluster, 'inbound|9443||');
  }
  // No bound listener for ingress ports under capture.
  assert.ok(!listeners.some((l) => /_9080$|_9443$/.test(l.name) && l.resource.traffic_direction === 'INBOUND'));

  const clusters = generate(push, p, TYPE.CLUSTER);
  assert.deepEqual(endpointOf(clusters, 'inbound|9080||'), { address: '127.0.0.1', port_value: 8080 });
  // 0.0.0.0 means the workload's own address: the app address (127.0.0.1 without TSMESH_APP_ADDRESS).
  assert.deepEqual(endpointOf(clusters, 'inbound|9443||'), { address: '127.0.0.1', port_value: 3000 });
  const set = { clusters, endpoints: generate(push, p, TYPE.ENDPOINT), listeners, routes: generate(push, p, TYPE.ROUTE) };
  assert.deepEqual(checkConsistency(set), []);
});

test('ingress listeners replace the service ports: a Sidecar with only 9443 drops the 9080 chain', () => {
  const only = SIDECAR.replace(/  - port: \{ number: 9080[^\n]*\n[^\n]*\n/, '');
  const { push, proxy } = bookinfo(only);
  const p = proxy();
  const chains = portChains(get(generate(push, p, TYPE.LISTENER), 'virtualInbound'));
  assert.deepEqual([...new Set(chains.map((c: any) => c.filter_chain_match.destination_port))], [9443]);
  const inbound = generate(push, p, TYPE.CLUSTER).filter((c) => c.name.startsWith('inbound|')).map((c) => c.name);
  assert.deepEqual(inbound, ['inbound|9443||']);
  // Another workload the Sidecar does not select keeps its service-derived port.
  const other = portChains(get(generate(push, proxy({}, 'ratings'), TYPE.LISTENER), 'virtualInbound'));
  assert.deepEqual([...new Set(other.map((c: any) => c.filter_chain_match.destination_port))], [9080]);
});

test('PeerAuthentication STRICT holds ingress ports to mTLS', () => {
  const pa = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec: { mtls: { mode: STRICT } }
`;
  const { push, proxy } = bookinfo(`${SIDECAR}\n---\n${pa}`);
  const chains = portChains(get(generate(push, proxy(), TYPE.LISTENER), 'virtualInbound'));
  assert.deepEqual(chains.map((c: any) => c.name), ['inbound|9080||-mtls', 'inbound|9443||-mtls']);
  assert.ok(chains.every((c: any) => c.transport_socket.typed_config.require_client_certificate === true));
});

test('NONE mode binds each ingress port at the pod IP, or at bind; captureMode NONE binds under REDIRECT', () => {
  const withBind = SIDECAR.replace('defaultEndpoint: 0.0.0.0:3000', 'defaultEndpoint: 0.0.0.0:3000\n    bind: 127.0.3.3\n    captureMode: NONE');
  const { push, proxy } = bookinfo(withBind);
  const none = generate(push, proxy({ INTERCEPTION_MODE: 'NONE', TSMESH_APP_ADDRESS: '127.0.2.4' }), TYPE.LISTENER);
  const pod = bookinfoWorkloads(loadYaml(BOOKINFO)).find((w) => w.name.startsWith('reviews-v2'))!.address;
  const inbound = none.filter((l) => l.resource.traffic_direction === 'INBOUND').map((l) => l.name).sort();
  assert.deepEqual(inbound, [`${pod}_9080`, '127.0.3.3_9443'].sort());
  assert.deepEqual(get(none, '127.0.3.3_9443').address, { socket_address: { address: '127.0.3.3', port_value: 9443 } });
  assert.equal(tcpProxyOf(get(none, '127.0.3.3_9443').filter_chains.at(-1)).cluster, 'inbound|9443||');
  // TSMESH_APP_ADDRESS is the workload's address for 0.0.0.0; 127.0.0.1 stays loopback.
  const clusters = generate(push, proxy({ INTERCEPTION_MODE: 'NONE', TSMESH_APP_ADDRESS: '127.0.2.4' }), TYPE.CLUSTER);
  assert.deepEqual(endpointOf(clusters, 'inbound|9443||'), { address: '127.0.2.4', port_value: 3000 });
  assert.deepEqual(endpointOf(clusters, 'inbound|9080||'), { address: '127.0.0.1', port_value: 8080 });

  const redirect = generate(push, proxy(), TYPE.LISTENER);
  assert.deepEqual(portChains(get(redirect, 'virtualInbound')).map((c: any) => c.filter_chain_match.destination_port), [9080, 9080]);
  assert.equal(get(redirect, '127.0.3.3_9443').bind_to_port, true);
});

test('validation: unix:// defaultEndpoint and bind are valid as in Istio, each with a not-enforced warning naming the field; tls is flagged as not enforced', () => {
  const unix = problems(doc('Sidecar', `ingress:\n- port: { number: 9080, protocol: HTTP, name: http }\n  defaultEndpoint: unix:///var/run/app.sock`));
  assert.ok(!unix.some((e) => e.severity !== 'warning'), JSON.stringify(unix));
  assert.ok(unix.some((e) => e.path === 'spec.ingress[0].defaultEndpoint' && /Unix domain socket/.test(e.message)), JSON.stringify(unix));
  const bind = problems(doc('Sidecar', `ingress:\n- port: { number: 9080, protocol: HTTP, name: http }\n  defaultEndpoint: 127.0.0.1:8080\n  bind: unix:///var/run/l.sock`));
  assert.ok(!bind.some((e) => e.severity !== 'warning'), JSON.stringify(bind));
  assert.ok(bind.some((e) => e.path === 'spec.ingress[0].bind' && /Unix domain socket/.test(e.message)), JSON.stringify(bind));
  assert.deepEqual(errorsOf(doc('Sidecar', `ingress:\n- port: { number: 9080 }\n  defaultEndpoint: unix://relative.sock`)).map((e) => e.path), ['spec.ingress[0].defaultEndpoint'], 'a malformed UDS path is still an error');

  const ok = problems(doc('Sidecar', `ingress:\n- port: { number: 9080, protocol: HTTP, name: http }\n  defaultEndpoint: 127.0.0.1:8080\n  captureMode: NONE\n  bind: 10.0.0.1`));
  assert.deepEqual(ok, [], 'enforced ingress fields draw no warning');
  const tls = problems(doc('Sidecar', `ingress:\n- port: { number: 9443, protocol: HTTPS, name: https }\n  defaultEndpoint: 127.0.0.1:8443\n  tls: { mode: SIMPLE, credentialName: c }`));
  assert.ok(tls.some((e) => e.severity === 'warning' && e.path === 'spec.ingress[0].tls'), JSON.stringify(tls));
});
