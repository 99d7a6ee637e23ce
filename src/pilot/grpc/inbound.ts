/**
 * Listeners for proxyless gRPC servers (Istio's grpcgen buildInboundListeners): an XdsServer
 * bound to `ip:port` asks for `xds.istio.io/grpc/lds/inbound/<ip>:<port>` (the bootstrap's
 * server_listener_resource_name_template) and serves by what it gets back.
 *
 * gRPC servers NACK listener_filters, so there is no TLS inspector, and they only match filter
 * chains whose transport_protocol is raw_buffer (gRFC A36): one port cannot tell mTLS from
 * plaintext. So, as Istio does, a port has exactly one chain:
 * - STRICT: mTLS, client certificate required (grpc/tls.ts);
 * - PERMISSIVE: plaintext, except on a workload labelled `security.istio.io/tlsMode: istio`,
 *   which auto mTLS clients reach with mTLS, so it gets the mTLS chain (Istio's rule);
 * - DISABLE: plaintext.
 * The chain's HttpConnectionManager carries its routes inline (gRPC servers do not fetch RDS for
 * inbound): every path, non-forwarding, the AuthorizationPolicy rbac filters, router last.
 *
 * The HCM's stat_prefix names the mode (gRPC ignores it) so that the two chains differ in their
 * filter bytes: grpc-js-xds 1.14 compares a new listener with the serving one filter by filter,
 * then by TLS with the test inverted, so two chains differing only by their transport socket
 * look "equivalent" and a STRICT <-> PERMISSIVE change would never reach the server.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { TLS_MODE_LABEL } from '../../registry/serviceentry.ts';
import { HCM, HCM_TYPE, httpFilter } from '../listener/filters.ts';
import { mtlsModeFor, type MtlsMode } from '../listener/peer_authentication.ts';
import { socketAddress } from '../util.ts';
import { grpcDownstreamTlsSocket } from './tls.ts';
import { authzHttpFilters } from '../authz/index.ts';

/** The prefix of Istio's server listener names (`server_listener_resource_name_template`). */
export const GRPC_INBOUND_PREFIX = 'xds.istio.io/grpc/lds/inbound/';

/** Inbound listeners for the names asked; names that are not `<prefix><ip>:<port>` are skipped. */
export function buildGrpcInboundListeners(push: PushContext, proxy: Proxy, names: string[]): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const name of names) {
    const addr = parseInboundName(name);
    if (addr) out.push(inboundListener(name, addr.host, addr.port, grpcInboundMode(push, proxy, addr.port), authzHttpFilters(push, proxy, { grpc: true })));
  }
  return out;
}

/** The mode a gRPC server port gets: PeerAuthentication's, with PERMISSIVE resolved as above. */
export function grpcInboundMode(push: PushContext, proxy: Proxy, port: number): 'STRICT' | 'DISABLE' {
  const mode: MtlsMode = mtlsModeFor(push, proxy, port);
  if (mode === 'PERMISSIVE') return proxy.labels[TLS_MODE_LABEL] === 'istio' ? 'STRICT' : 'DISABLE';
  return mode;
}

/** `<prefix><ip>:<port>` or `<prefix>[<ipv6>]:<port>` → host and port. */
export function parseInboundName(name: string): { host: string; port: number } | undefined {
  if (!name.startsWith(GRPC_INBOUND_PREFIX)) return undefined;
  const addr = name.slice(GRPC_INBOUND_PREFIX.length);
  const colon = addr.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = Number(addr.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  let host = addr.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return host ? { host, port } : undefined;
}

function inboundListener(name: string, host: string, port: number, mode: 'STRICT' | 'DISABLE', authz: EnvoyJson[]): EnvoyJson {
  const mtls = mode === 'STRICT';
  const chain: EnvoyJson = {
    name: chainName(mtls),
    filters: [{ name: HCM, typed_config: inboundHcm(chainName(mtls), authz) }],
  };
  if (mtls) chain.transport_socket = grpcDownstreamTlsSocket();
  // The server checks the address against the one it bound; listener_filters must stay unset.
  return { name, address: socketAddress(host, port), filter_chains: [chain] };
}

function chainName(mtls: boolean): string {
  return mtls ? 'inbound-mtls' : 'inbound-plaintext';
}

function inboundHcm(statPrefix: string, authz: EnvoyJson[]): EnvoyJson {
  return {
    '@type': HCM_TYPE,
    stat_prefix: statPrefix,
    route_config: {
      name: 'inbound',
      virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, non_forwarding_action: {} }] }],
    },
    // AuthorizationPolicy as gRPC's RBAC filter (gRFC A41), before the router.
    http_filters: [...authz, httpFilter('envoy.filters.http.router')],
  };
}
