import { test } from 'node:test';
import assert from 'node:assert/strict';
import { find, terminalConfig, generateAll, loadYaml, parseYamlText, pushOf, routerProxy, TCP_ECHO_DIR } from './helpers.ts';

const V1 = 'outbound|9000|v1|tcp-echo.default.svc.cluster.local';
const V2 = 'outbound|9000|v2|tcp-echo.default.svc.cluster.local';

test('tcp-echo-all-v1: a TCP server on 31400 → tcp_proxy to the v1 subset', () => {
  const push = pushOf([...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-services.yaml`), ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-all-v1.yaml`)]);
  const r = generateAll(push, routerProxy());
  assert.deepEqual(r.listeners.map((l) => l.name), ['0.0.0.0_31400']);
  const l = find(r.listeners, '0.0.0.0_31400');
  assert.equal(l.bind_to_port, true);
  assert.equal(l.filter_chains.length, 1);
  const tcp = terminalConfig(l.filter_chains[0]);
  assert.equal(tcp['@type'], 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy');
  assert.equal(tcp.cluster, V1);
  assert.deepEqual(r.routes, []);
  assert.ok(r.clusters.some((c) => c.name === V1) && r.clusters.some((c) => c.name === V2));
});

test('tcp-echo-20-v2: the weighted tcp route becomes weighted clusters 80/20', () => {
  const push = pushOf([
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-services.yaml`),
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-all-v1.yaml`).filter((c) => c.kind !== 'VirtualService'),
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-20-v2.yaml`),
  ]);
  const r = generateAll(push, routerProxy());
  const tcp = terminalConfig(find(r.listeners, '0.0.0.0_31400').filter_chains[0]);
  assert.equal(tcp.cluster, undefined);
  assert.deepEqual(tcp.weighted_clusters, { clusters: [{ name: V1, weight: 80 }, { name: V2, weight: 20 }] });
});

test('a TCP server with no tcp route for its port gets no listener', () => {
  const push = pushOf([
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-services.yaml`),
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-all-v1.yaml`).filter((c) => c.kind !== 'VirtualService'),
  ]);
  assert.deepEqual(generateAll(push, routerProxy()).listeners, []);
});

test('TLS terminated at the gateway, then TCP: SNI chain with a DownstreamTlsContext and tcp_proxy', () => {
  const push = pushOf([
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-services.yaml`),
    ...loadYaml(`${TCP_ECHO_DIR}/tcp-echo-all-v1.yaml`).filter((c) => c.kind === 'DestinationRule'),
    ...parseYamlText(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: echo-tls }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 9443, name: tls, protocol: TLS }
    hosts: [echo.example.com]
    tls: { mode: SIMPLE, serverCertificate: /c/echo.pem, privateKey: /c/echo-key.pem }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo-tls }
spec:
  hosts: [echo.example.com]
  gateways: [echo-tls]
  tcp:
  - route: [{ destination: { host: tcp-echo, subset: v2, port: { number: 9000 } } }]
`),
  ]);
  const l = find(generateAll(push, routerProxy()).listeners, '0.0.0.0_9443');
  const chain = l.filter_chains[0];
  assert.deepEqual(chain.filter_chain_match, { server_names: ['echo.example.com'] });
  assert.equal(chain.transport_socket.typed_config.common_tls_context.alpn_protocols, undefined, 'no HTTP ALPN on a TCP server');
  assert.equal(terminalConfig(chain).cluster, V2);
});
