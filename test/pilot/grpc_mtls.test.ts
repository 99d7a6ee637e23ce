/**
 * Mesh mTLS for proxyless gRPC: what the control plane sends gRPC clients (CDS with an
 * UpstreamTlsContext naming the bootstrap's certificate provider) and gRPC servers (the inbound
 * listener by PeerAuthentication). Each resource also goes through our codec and then through
 * @grpc/grpc-js-xds's own resource validation, the check nobody here wrote: what it NACKs, a gRPC
 * client or server would NACK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { encodeResource } from '../../src/xds/codec.ts';
import { TYPE, type TypeUrl } from '../../src/xds/types.ts';
import { pushFromYaml, sidecarNode, workload } from './fixtures.ts';
import * as xds from '@grpc/grpc-js-xds';
// Deep imports: grpc-js-xds does not export its resource validators.
import { ClusterResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js';
import { ListenerResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js';
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';
import { listenersEquivalent } from '@grpc/grpc-js-xds/build/src/server-listener.js';

// Registers gRPC's HTTP filters (the router) that listener validation looks up; no channel is made.
xds.register();

const HOST = 'echo.default.svc.cluster.local';
const TLS_MODE = 'security.istio.io/tlsMode';
const PREFIX = 'xds.istio.io/grpc/lds/inbound/';

const services = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: v1
kind: Service
metadata: {name: mixed, namespace: default}
spec: {selector: {app: mixed}, ports: [{name: grpc, port: 7070}]}
`;
const workloads = [
  workload('echo-1', '127.0.5.1', { app: 'echo', version: 'v1', [TLS_MODE]: 'istio' }, { serviceAccount: 'echo-sa' }),
  workload('echo-2', '127.0.5.2', { app: 'echo', version: 'v2', [TLS_MODE]: 'istio' }, { serviceAccount: 'echo-sa' }),
  workload('mixed-1', '127.0.5.3', { app: 'mixed', [TLS_MODE]: 'istio' }, { serviceAccount: 'mixed-sa' }),
  workload('mixed-2', '127.0.5.4', { app: 'mixed' }, { serviceAccount: 'mixed-sa' }),
];

/** A gRPC node as the agent's bootstrap names it; `certs` says its agent holds a certificate. */
function grpcProxy(labels: Record<string, string>, certs = true) {
  const w = workload('node-1', '127.0.5.9', labels);
  return parseProxy(sidecarNode(w, { GENERATOR: 'grpc', TSMESH_WORKLOAD_CERTIFICATES: certs ? 'true' : 'false' }));
}

/** What gRPC's xDS client does with one resource of ours: its decoded value or its NACK text. */
function grpcDecode(typeUrl: TypeUrl, resource: Record<string, unknown>, certificateProviders = true): { value?: any; error?: string } {
  const bootstrap = validateBootstrapConfig({
    xds_servers: [{ server_uri: '127.0.0.1:15010', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.5.9~node-1.default~default.svc.cluster.local', locality: {} },
    server_listener_resource_name_template: `${PREFIX}%s`,
    ...(certificateProviders ? { certificate_providers: { default: { plugin_name: 'file_watcher', config: { certificate_file: '/c.pem', private_key_file: '/k.pem', ca_certificate_file: '/r.pem', refresh_interval: '900s' } } } } : {}),
  });
  const type = typeUrl === TYPE.CLUSTER ? ClusterResourceType.get() : ListenerResourceType.get();
  const any = { type_url: typeUrl, value: Buffer.from(encodeResource(typeUrl, resource)) };
  return type.decode({ server: bootstrap.xdsServers[0]!, bootstrap }, any as any);
}

function cluster(push: ReturnType<typeof pushFromYaml>, proxy: ReturnType<typeof grpcProxy>, name: string): any {
  const [c] = generate(push, proxy, TYPE.CLUSTER, [name]);
  assert.ok(c, `cluster ${name} generated`);
  return c.resource;
}

test('gRPC CDS: DestinationRule ISTIO_MUTUAL gives the provider-instance UpstreamTlsContext with the destination SPIFFE ids, and gRPC accepts it', () => {
  const push = pushFromYaml(
    `${services}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec: {host: echo, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}, subsets: [{name: v1, labels: {version: v1}}]}
`,
    workloads,
  );
  const client = grpcProxy({ app: 'client' });
  for (const name of [`outbound|7070||${HOST}`, `outbound|7070|v1|${HOST}`]) {
    const c = cluster(push, client, name);
    assert.equal(c.transport_socket.name, 'envoy.transport_sockets.tls');
    const ctx = c.transport_socket.typed_config;
    assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    const common = ctx.common_tls_context;
    assert.deepEqual(common.tls_certificate_provider_instance, { instance_name: 'default', certificate_name: 'default' });
    assert.deepEqual(common.combined_validation_context.default_validation_context, {
      ca_certificate_provider_instance: { instance_name: 'default', certificate_name: 'ROOTCA' },
      match_subject_alt_names: [{ exact: 'spiffe://cluster.local/ns/default/sa/echo-sa' }],
    });
    // Istio's grpcgen fields, for gRPC libraries that read only those.
    assert.deepEqual(common.tls_certificate_certificate_provider_instance, { instance_name: 'default', certificate_name: 'default' });
    assert.deepEqual(common.combined_validation_context.validation_context_certificate_provider_instance, { instance_name: 'default', certificate_name: 'ROOTCA' });
    assert.equal(common.tls_params, undefined, 'gRPC NACKs tls_params');
    assert.equal(c.transport_socket_matches, undefined);

    const r = grpcDecode(TYPE.CLUSTER, c);
    assert.equal(r.error, undefined, r.error);
    assert.deepEqual(
      { ca: r.value.securityUpdate.caCertificateProviderInstance, id: r.value.securityUpdate.identityCertificateProviderInstance, sans: r.value.securityUpdate.subjectAltNameMatchers.map((m: any) => m.exact) },
      { ca: 'default', id: 'default', sans: ['spiffe://cluster.local/ns/default/sa/echo-sa'] },
    );
    // A client whose bootstrap has no certificate provider refuses it rather than call in plaintext.
    assert.match(grpcDecode(TYPE.CLUSTER, c, false).error ?? '', /Unmatched .*instance_name: default/);
  }
});

test('gRPC CDS: DestinationRule subjectAltNames replace the service accounts; SIMPLE is sent as Envoy would and gRPC refuses it (fails closed)', () => {
  const push = pushFromYaml(
    `${services}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec: {host: echo, trafficPolicy: {tls: {mode: ISTIO_MUTUAL, subjectAltNames: ['spiffe://cluster.local/ns/other/sa/x']}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mixed, namespace: default}
spec: {host: mixed, trafficPolicy: {tls: {mode: SIMPLE}}}
`,
    workloads,
  );
  const client = grpcProxy({ app: 'client' });
  const echo = cluster(push, client, `outbound|7070||${HOST}`);
  assert.deepEqual(echo.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names, [{ exact: 'spiffe://cluster.local/ns/other/sa/x' }]);
  const simple = cluster(push, client, 'outbound|7070||mixed.default.svc.cluster.local');
  assert.ok(simple.transport_socket, 'SIMPLE is not dropped to plaintext');
  assert.match(grpcDecode(TYPE.CLUSTER, simple).error ?? '', /ca_certificate_provider_instance unset/);
});

test('gRPC CDS auto mTLS: only when the client holds a certificate and every endpoint of the cluster is tlsMode=istio', () => {
  const push = pushFromYaml(services, workloads);
  const withCerts = grpcProxy({ app: 'client' });
  const echo = cluster(push, withCerts, `outbound|7070||${HOST}`);
  assert.deepEqual(echo.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names, [{ exact: 'spiffe://cluster.local/ns/default/sa/echo-sa' }]);
  assert.equal(grpcDecode(TYPE.CLUSTER, echo).error, undefined);
  // One endpoint without a sidecar/xDS server: the whole cluster stays plaintext (no per-endpoint sockets in gRPC).
  assert.equal(cluster(push, withCerts, 'outbound|7070||mixed.default.svc.cluster.local').transport_socket, undefined);
  // A client without certificates (bootstrap without providers) gets plaintext, which it can use.
  const noCerts = grpcProxy({ app: 'client' }, false);
  assert.equal(cluster(push, noCerts, `outbound|7070||${HOST}`).transport_socket, undefined);
  // Wildcard CDS applies the same rule.
  const all = generate(push, withCerts, TYPE.CLUSTER).map((c) => [c.name, !!c.resource.transport_socket]);
  assert.deepEqual(all, [[`outbound|7070||${HOST}`, true], ['outbound|7070||mixed.default.svc.cluster.local', false]]);
  // A DestinationRule DISABLE wins over auto mTLS.
  const disabled = pushFromYaml(`${services}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec: {host: echo, trafficPolicy: {tls: {mode: DISABLE}}}
`, workloads);
  assert.equal(cluster(disabled, withCerts, `outbound|7070||${HOST}`).transport_socket, undefined);
});

function peerAuth(mode: string, extra = ''): string {
  return `${services}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: echo, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  mtls: {mode: ${mode}}
${extra}`;
}

function inbound(push: ReturnType<typeof pushFromYaml>, labels: Record<string, string>, name = `${PREFIX}127.0.5.1:7070`): any {
  const ls = generate(push, grpcProxy(labels), TYPE.LISTENER, [name]);
  assert.equal(ls.length, 1, `listener ${name}`);
  return ls[0]!.resource;
}

test('gRPC server listener, STRICT: one mTLS chain requiring a client certificate, inline non-forwarding routes; gRPC accepts it', () => {
  const push = pushFromYaml(peerAuth('STRICT'), workloads);
  const l = inbound(push, { app: 'echo' });
  assert.equal(l.name, `${PREFIX}127.0.5.1:7070`);
  assert.deepEqual(l.address, { socket_address: { address: '127.0.5.1', port_value: 7070 } });
  assert.equal(l.listener_filters, undefined, 'gRPC NACKs listener_filters');
  assert.equal(l.filter_chains.length, 1);
  const chain = l.filter_chains[0];
  assert.equal(chain.name, 'inbound-mtls');
  assert.equal(chain.filter_chain_match, undefined, 'gRPC only matches chains without a transport_protocol');
  const ts = chain.transport_socket;
  assert.equal(ts.name, 'envoy.transport_sockets.tls');
  assert.equal(ts.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
  assert.equal(ts.typed_config.require_client_certificate, true);
  assert.deepEqual(ts.typed_config.common_tls_context.tls_certificate_provider_instance, { instance_name: 'default', certificate_name: 'default' });
  assert.deepEqual(ts.typed_config.common_tls_context.validation_context, { ca_certificate_provider_instance: { instance_name: 'default', certificate_name: 'ROOTCA' } });
  const hcm = chain.filters[0].typed_config;
  assert.deepEqual(hcm.route_config.virtual_hosts[0].routes, [{ match: { prefix: '/' }, non_forwarding_action: {} }]);
  assert.deepEqual(hcm.http_filters.map((f: any) => f.name), ['envoy.filters.http.router']);

  const r = grpcDecode(TYPE.LISTENER, l);
  assert.equal(r.error, undefined, r.error);
  assert.match(grpcDecode(TYPE.LISTENER, l, false).error ?? '', /Unmatched/);
});

test('gRPC server listener: PERMISSIVE and DISABLE are plaintext, PERMISSIVE on a tlsMode=istio workload is mTLS (gRPC cannot tell the two apart on one port)', () => {
  const chainOf = (yaml: string, labels: Record<string, string>) => {
    const l = inbound(pushFromYaml(yaml, workloads), labels);
    assert.equal(grpcDecode(TYPE.LISTENER, l).error, undefined);
    assert.equal(l.filter_chains.length, 1);
    return { name: l.filter_chains[0].name, tls: !!l.filter_chains[0].transport_socket };
  };
  assert.deepEqual(chainOf(peerAuth('PERMISSIVE'), { app: 'echo' }), { name: 'inbound-plaintext', tls: false });
  assert.deepEqual(chainOf(services, { app: 'echo' }), { name: 'inbound-plaintext', tls: false }, 'no PeerAuthentication: PERMISSIVE');
  assert.deepEqual(chainOf(peerAuth('DISABLE'), { app: 'echo' }), { name: 'inbound-plaintext', tls: false });
  assert.deepEqual(chainOf(peerAuth('PERMISSIVE'), { app: 'echo', [TLS_MODE]: 'istio' }), { name: 'inbound-mtls', tls: true });
  assert.deepEqual(chainOf(peerAuth('DISABLE'), { app: 'echo', [TLS_MODE]: 'istio' }), { name: 'inbound-plaintext', tls: false });
  // Istio's precedence: portLevelMtls on the selected workload's port, the root namespace's mesh-wide mode.
  const portLevel = peerAuth('STRICT', '  portLevelMtls: {"7070": {mode: DISABLE}}\n');
  assert.deepEqual(chainOf(portLevel, { app: 'echo' }), { name: 'inbound-plaintext', tls: false });
  const meshWide = `${services}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`;
  assert.deepEqual(chainOf(meshWide, { app: 'other' }), { name: 'inbound-mtls', tls: true });
});

test('gRPC server listener: a gRPC server sees a STRICT <-> plaintext change as a change (it compares listeners before applying them)', () => {
  const decoded = (mode: string) => grpcDecode(TYPE.LISTENER, inbound(pushFromYaml(peerAuth(mode), workloads), { app: 'echo' })).value;
  const strict = decoded('STRICT');
  const plain = decoded('PERMISSIVE');
  assert.equal(listenersEquivalent(plain, strict), false, 'STRICT -> PERMISSIVE reaches the server');
  assert.equal(listenersEquivalent(strict, plain), false, 'PERMISSIVE -> STRICT reaches the server');
});

test('gRPC server listener names: IPv6 and wildcard addresses; malformed names get nothing; client listeners still resolve', () => {
  const push = pushFromYaml(peerAuth('STRICT'), workloads);
  assert.deepEqual(inbound(push, { app: 'echo' }, `${PREFIX}[::]:7070`).address, { socket_address: { address: '::', port_value: 7070 } });
  assert.deepEqual(inbound(push, { app: 'echo' }, `${PREFIX}0.0.0.0:7070`).address, { socket_address: { address: '0.0.0.0', port_value: 7070 } });
  const proxy = grpcProxy({ app: 'echo' });
  const names = [`${PREFIX}127.0.5.1`, `${PREFIX}:7070`, `${PREFIX}127.0.5.1:0`, `${PREFIX}127.0.5.1:x`, `${HOST}:7070`];
  assert.deepEqual(generate(push, proxy, TYPE.LISTENER, names).map((l) => l.name), [`${HOST}:7070`]);
  // Wildcard LDS lists client listeners only: a server always names its own.
  assert.ok(generate(push, proxy, TYPE.LISTENER).every((l) => !l.name.startsWith(PREFIX)));
});
