import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOWNSTREAM_TLS_CONTEXT } from '../../../src/pilot/gateway/index.ts';
import { BOOKINFO_DIR, find, terminalConfig, generateAll, loadYaml, parseYamlText, pushOf, routeSummary, routerProxy } from './helpers.ts';

const BOOKINFO = () => loadYaml(`${BOOKINFO_DIR}/platform/kube/bookinfo.yaml`);
const PRODUCTPAGE = 'outbound|9080||productpage.default.svc.cluster.local';
const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';

const GATEWAYS = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: web, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: [bookinfo.example.com, reviews.example.com]
    tls: { httpsRedirect: true }
  - port: { number: 8443, name: https-bookinfo, protocol: HTTPS }
    hosts: [bookinfo.example.com]
    tls:
      mode: SIMPLE
      serverCertificate: /etc/certs/bookinfo.pem
      privateKey: /etc/certs/bookinfo-key.pem
      minProtocolVersion: TLSV1_3
  - port: { number: 8443, name: https-reviews, protocol: HTTPS }
    hosts: [reviews.example.com]
    tls:
      mode: MUTUAL
      serverCertificate: /etc/certs/reviews.pem
      privateKey: /etc/certs/reviews-key.pem
      caCertificates: /etc/certs/clients-ca.pem
      subjectAltNames: [client.example.com]
  - port: { number: 9443, name: https-sds, protocol: HTTPS }
    hosts: ["*"]
    tls: { mode: SIMPLE, credentialName: bookinfo-credential }
  - port: { number: 15443, name: tls-mesh, protocol: HTTPS }
    hosts: [bookinfo.example.com]
    tls: { mode: ISTIO_MUTUAL }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bookinfo-web, namespace: default }
spec:
  hosts: [bookinfo.example.com]
  gateways: [web]
  http:
  - route: [{ destination: { host: productpage, port: { number: 9080 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-web, namespace: default }
spec:
  hosts: [reviews.example.com]
  gateways: [default/web]
  http:
  - route: [{ destination: { host: reviews } }]
`;

function tlsPush() {
  return pushOf([...BOOKINFO(), ...parseYamlText(GATEWAYS)]);
}

test('HTTPS servers on one port: a filter chain per server, matched by SNI, each with its own RDS name', () => {
  const r = generateAll(tlsPush(), routerProxy());
  assert.deepEqual(r.listeners.map((l) => l.name), ['0.0.0.0_15443', '0.0.0.0_8080', '0.0.0.0_8443', '0.0.0.0_9443']);
  const l = find(r.listeners, '0.0.0.0_8443');
  assert.equal(l.listener_filters[0].name, 'envoy.filters.listener.tls_inspector');
  assert.deepEqual(
    l.filter_chains.map((c: any) => [c.filter_chain_match?.server_names, terminalConfig(c).rds.route_config_name]),
    [
      [['bookinfo.example.com'], 'https.8443.https-bookinfo.web.default'],
      [['reviews.example.com'], 'https.8443.https-reviews.web.default'],
    ],
  );
  // Each HTTPS route configuration holds only its own server's hosts.
  const bookinfo = find(r.routes, 'https.8443.https-bookinfo.web.default');
  assert.deepEqual(bookinfo.virtual_hosts.map((v: any) => [v.name, v.domains]), [['bookinfo.example.com:8443', ['bookinfo.example.com', 'bookinfo.example.com:*']]]);
  assert.deepEqual(routeSummary(bookinfo.virtual_hosts[0]), [['prefix /', PRODUCTPAGE]]);
  const reviews = find(r.routes, 'https.8443.https-reviews.web.default');
  assert.deepEqual(reviews.virtual_hosts.map((v: any) => v.name), ['reviews.example.com:8443']);
  assert.deepEqual(routeSummary(reviews.virtual_hosts[0]), [['prefix /', REVIEWS]]);
});

test('SIMPLE with certificate files: tls_certificates by filename, TLS 1.3 minimum, ALPN h2/http1.1, no client cert', () => {
  const r = generateAll(tlsPush(), routerProxy());
  const chain = find(r.listeners, '0.0.0.0_8443').filter_chains[0];
  const ctx = chain.transport_socket.typed_config;
  assert.equal(chain.transport_socket.name, 'envoy.transport_sockets.tls');
  assert.equal(ctx['@type'], DOWNSTREAM_TLS_CONTEXT);
  assert.deepEqual(ctx.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/etc/certs/bookinfo.pem' }, private_key: { filename: '/etc/certs/bookinfo-key.pem' } }]);
  assert.deepEqual(ctx.common_tls_context.tls_params, { tls_minimum_protocol_version: 'TLSv1_3' });
  assert.deepEqual(ctx.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
  assert.equal(ctx.require_client_certificate, false);
  assert.equal(ctx.common_tls_context.validation_context, undefined);
});

test('MUTUAL: client certificate required and checked against caCertificates and subjectAltNames', () => {
  const r = generateAll(tlsPush(), routerProxy());
  const ctx = find(r.listeners, '0.0.0.0_8443').filter_chains[1].transport_socket.typed_config;
  assert.equal(ctx.require_client_certificate, true);
  assert.deepEqual(ctx.common_tls_context.validation_context, {
    trusted_ca: { filename: '/etc/certs/clients-ca.pem' },
    match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'client.example.com' } }],
  });
  assert.deepEqual(ctx.common_tls_context.tls_params, { tls_minimum_protocol_version: 'TLSv1_2' }, "Istio's default minimum");
});

test('credentialName: the certificate comes over SDS by that name; `*` hosts match any SNI', () => {
  const r = generateAll(tlsPush(), routerProxy());
  const l = find(r.listeners, '0.0.0.0_9443');
  assert.equal(l.filter_chains.length, 1);
  assert.equal(l.filter_chains[0].filter_chain_match, undefined);
  const ctx = l.filter_chains[0].transport_socket.typed_config;
  assert.deepEqual(ctx.common_tls_context.tls_certificate_sds_secret_configs, [{ name: 'bookinfo-credential', sds_config: { ads: {}, resource_api_version: 'V3' } }]);
  assert.equal(ctx.common_tls_context.tls_certificates, undefined);
  // Server host "*" and VirtualService hosts intersect on the more specific names.
  const rc = find(r.routes, 'https.9443.https-sds.web.default');
  assert.deepEqual(rc.virtual_hosts.map((v: any) => v.name), ['bookinfo.example.com:9443', 'reviews.example.com:9443']);
});

test('ISTIO_MUTUAL: the mesh identity from SDS default / ROOTCA, client certificate required', () => {
  const r = generateAll(tlsPush(), routerProxy());
  const ctx = find(r.listeners, '0.0.0.0_15443').filter_chains[0].transport_socket.typed_config;
  assert.equal(ctx.require_client_certificate, true);
  assert.deepEqual(ctx.common_tls_context.tls_certificate_sds_secret_configs.map((s: any) => s.name), ['default']);
  assert.equal(ctx.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name, 'ROOTCA');
});

test('httpsRedirect: every host of the HTTP server gets a virtual host requiring TLS', () => {
  const r = generateAll(tlsPush(), routerProxy());
  const rc = find(r.routes, 'http.8080');
  assert.deepEqual(
    rc.virtual_hosts.map((v: any) => [v.name, v.require_tls]),
    [['bookinfo.example.com:8080', 'ALL'], ['reviews.example.com:8080', 'ALL']],
  );
  // Redirect with no VirtualService at all: still a virtual host, so the 301 happens.
  const push = pushOf([...BOOKINFO(), ...parseYamlText(GATEWAYS).filter((c) => c.kind === 'Gateway')]);
  const only = generateAll(push, routerProxy());
  const vhs = find(only.routes, 'http.8080').virtual_hosts;
  assert.deepEqual(vhs.map((v: any) => [v.name, v.require_tls, v.routes.length]), [['bookinfo.example.com:8080', 'ALL', 0], ['reviews.example.com:8080', 'ALL', 0]]);
});

test('a server no VirtualService serves gets the empty blackhole virtual host (404 NR)', () => {
  const push = pushOf([...BOOKINFO(), ...parseYamlText(GATEWAYS).filter((c) => c.kind === 'Gateway')]);
  const r = generateAll(push, routerProxy());
  const rc = find(r.routes, 'https.8443.https-bookinfo.web.default');
  assert.deepEqual(rc.virtual_hosts, [{ name: 'blackhole:8443', domains: ['*'], routes: [], include_request_attempt_count: true }]);
});

const PASSTHROUGH = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: passthrough, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8443, name: tls, protocol: TLS }
    hosts: ["*.example.com"]
    tls: { mode: PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: sni, namespace: default }
spec:
  hosts: ["*.example.com"]
  gateways: [passthrough]
  tls:
  - match: [{ port: 8443, sniHosts: [reviews.example.com] }]
    route: [{ destination: { host: reviews, port: { number: 9080 } } }]
  - match: [{ port: 8443, sniHosts: [ratings.example.com, details.example.com] }]
    route: [{ destination: { host: ratings, port: { number: 9080 } } }]
  - match: [{ port: 9999, sniHosts: [other.example.com] }]
    route: [{ destination: { host: details, port: { number: 9080 } } }]
`;

test('PASSTHROUGH: SNI-matched chains from the VirtualService tls routes, tcp_proxy to the destination', () => {
  const r = generateAll(pushOf([...BOOKINFO(), ...parseYamlText(PASSTHROUGH)]), routerProxy());
  const l = find(r.listeners, '0.0.0.0_8443');
  assert.equal(l.listener_filters[0].name, 'envoy.filters.listener.tls_inspector');
  assert.deepEqual(
    l.filter_chains.map((c: any) => [c.filter_chain_match.server_names, terminalConfig(c).cluster, c.transport_socket]),
    [
      [['reviews.example.com'], REVIEWS, undefined],
      [['details.example.com', 'ratings.example.com'], 'outbound|9080||ratings.default.svc.cluster.local', undefined],
    ],
  );
  assert.deepEqual(r.routes, [], 'no HTTP on a passthrough port');
});

const AUTO = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: cross-network-gateway, namespace: istio-system }
spec:
  selector: { istio: eastwestgateway }
  servers:
  - port: { number: 15443, name: tls, protocol: TLS }
    hosts: ["*.local"]
    tls: { mode: AUTO_PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews
  subsets:
  - { name: v1, labels: { version: v1 } }
`;

test('AUTO_PASSTHROUGH: outbound_.<port>_.<subset>_.<host> SNI → an sni-dnat cluster without upstream TLS', () => {
  const proxy = routerProxy({ istio: 'eastwestgateway' });
  const r = generateAll(pushOf([...BOOKINFO(), ...parseYamlText(AUTO)]), proxy);
  const l = find(r.listeners, '0.0.0.0_15443');
  const snis = l.filter_chains.map((c: any) => c.filter_chain_match.server_names[0]);
  assert.ok(snis.includes('outbound_.9080_._.reviews.default.svc.cluster.local'));
  assert.ok(snis.includes('outbound_.9080_.v1_.reviews.default.svc.cluster.local'));
  assert.ok(snis.includes('outbound_.9080_._.productpage.default.svc.cluster.local'));
  const chain = l.filter_chains.find((c: any) => c.filter_chain_match.server_names[0] === 'outbound_.9080_.v1_.reviews.default.svc.cluster.local');
  assert.equal(terminalConfig(chain).cluster, 'outbound_.9080_.v1_.reviews.default.svc.cluster.local');
  const dnat = find(r.clusters, 'outbound_.9080_.v1_.reviews.default.svc.cluster.local');
  assert.equal(dnat.transport_socket_matches, undefined, "the client's mTLS passes through untouched");
  assert.equal(dnat.transport_socket, undefined);
  assert.equal(dnat.eds_cluster_config.service_name, 'outbound_.9080_.v1_.reviews.default.svc.cluster.local', 'its own EDS: the endpoints on the gateway\'s network');
  // The outbound cluster itself still originates mesh mTLS.
  assert.ok(find(r.clusters, 'outbound|9080|v1|reviews.default.svc.cluster.local').transport_socket_matches);
});
