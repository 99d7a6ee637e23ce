/** Config files for the peers a benchmark compares, written to a temp dir. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BODY_1K = 'x'.repeat(1024);

/**
 * gRPC on the wire for the bench's unary call (no .proto needed: h2load and the check client send
 * these bytes as they are): a length-prefixed message each way, the 5-byte gRPC frame header
 * (uncompressed flag, big-endian length) then a tiny protobuf (field 1, string "abc").
 */
export const GRPC_PATH = '/bench.Echo/Call';
export const GRPC_MESSAGE = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x03, 0x61, 0x62, 0x63]);

/** The request body file h2load POSTs for the gRPC rows. */
export function grpcRequestFile(dir: string): string {
  const f = join(dir, 'grpc-request.bin');
  writeFileSync(f, GRPC_MESSAGE);
  return f;
}

/** Extra listeners of the nginx upstream: h2c (same 1 KiB) and a gRPC server. */
export interface UpstreamPorts {
  /** Address to listen on (default 127.0.0.1). */
  address?: string;
  h2cPort?: number;
  /**
   * A unary gRPC answer from nginx itself: every request gets 200, content-type application/grpc,
   * GRPC_MESSAGE as the body and grpc-status 0 in HTTP/2 trailers (add_trailer). nginx is the
   * fastest gRPC upstream at hand, so the upstream never limits what the proxies show.
   */
  grpcPort?: number;
}

/** nginx as the upstream: answers every request with 1 KiB, one worker, no logging. */
export function nginxUpstream(dir: string, port: number, extra: UpstreamPorts = {}): string {
  const a = extra.address ?? '127.0.0.1';
  const servers = [`  server { listen ${a}:${port}; location / { default_type text/plain; return 200 '${BODY_1K}'; } }`];
  if (extra.h2cPort) servers.push(`  server { listen ${a}:${extra.h2cPort} http2; location / { default_type text/plain; return 200 '${BODY_1K}'; } }`);
  if (extra.grpcPort) {
    // The body holds NUL bytes: nginx keeps quoted strings as length + bytes, so they pass as is.
    servers.push(
      `  server { listen ${a}:${extra.grpcPort} http2; location / { default_type application/grpc; add_trailer grpc-status 0; return 200 '${GRPC_MESSAGE.toString('latin1')}'; } }`,
    );
  }
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx-up.pid;
error_log ${dir}/nginx-up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
${servers.join('\n')}
}
`;
  const f = join(dir, 'nginx-upstream.conf');
  writeFileSync(f, Buffer.from(conf, 'latin1'));
  return f;
}

/** The ports a peer proxy listens on besides HTTP/1.1: h2c to the same upstream, and gRPC (h2c). */
export interface ProxyPorts {
  h2cPort?: number;
  grpc?: { port: number; upstreamPort: number };
}

/**
 * nginx as a reverse proxy with upstream keep-alive, configured like our proxy: one worker. h2c
 * listeners use `listen ... http2` without TLS (prior knowledge), as tsmesh's listener does; gRPC
 * goes through grpc_pass with a keep-alive pool (nginx does not multiplex upstream streams).
 */
export function nginxProxy(dir: string, port: number, upstreamPort: number, extra: ProxyPorts = {}): string {
  const loc = 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }';
  const servers = [`  server { listen 127.0.0.1:${port}; ${loc} }`];
  if (extra.h2cPort) servers.push(`  server { listen 127.0.0.1:${extra.h2cPort} http2; ${loc} }`);
  if (extra.grpc) {
    servers.push(`  upstream grpc_backend { server 127.0.0.1:${extra.grpc.upstreamPort}; keepalive 64; }`);
    servers.push(`  server { listen 127.0.0.1:${extra.grpc.port} http2; location / { grpc_pass grpc://grpc_backend; } }`);
  }
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx-px.pid;
error_log ${dir}/nginx-px.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream backend { server 127.0.0.1:${upstreamPort}; keepalive 64; }
${servers.join('\n')}
}
`;
  const f = join(dir, 'nginx-proxy.conf');
  writeFileSync(f, conf);
  return f;
}

/** HAProxy in HTTP mode with keep-alive both sides, one thread; h2c via `proto h2` binds. */
export function haproxyConfig(dir: string, port: number, upstreamPort: number, extra: ProxyPorts = {}): string {
  const grpc = extra.grpc
    ? `frontend fe_grpc
  bind 127.0.0.1:${extra.grpc.port} proto h2
  default_backend be_grpc
backend be_grpc
  http-reuse always
  server g1 127.0.0.1:${extra.grpc.upstreamPort} proto h2
`
    : '';
  const conf = `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}
${extra.h2cPort ? `  bind 127.0.0.1:${extra.h2cPort} proto h2\n` : ''}  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:${upstreamPort}
${grpc}`;
  const f = join(dir, 'haproxy.cfg');
  writeFileSync(f, conf);
  return f;
}

/** Transport sockets (Envoy JSON) for a hop: TLS on its listeners, and toward its upstreams. */
export interface HopTls {
  listener?: object;
  cluster?: object;
  grpcCluster?: object;
}

/**
 * An Envoy v3 static bootstrap: one HTTP listener routing everything to one static cluster (codec
 * AUTO: HTTP/1.1 or h2c prior knowledge on the same port, upstream HTTP/1.1); with `grpc`, a
 * second listener to an HTTP/2 cluster (explicit http2_protocol_options) for the gRPC rows.
 */
export function httpBootstrap(
  dir: string,
  name: string,
  listenPort: number,
  upstreamPort: number,
  adminPort: number,
  grpc?: { port: number; upstreamPort: number },
  tls: HopTls = {},
  /** What the HTTP/1.1 listener gets besides the router (the authorization and telemetry cost lines). */
  extra: HcmExtra = {},
): string {
  const listeners = [httpListener(listenPort, 'upstream', tls.listener, extra)];
  const clusters: object[] = [staticCluster('upstream', upstreamPort, tls.cluster), ...(extra.clusters ?? [])];
  if (grpc) {
    listeners.push(httpListener(grpc.port, 'grpc_upstream', tls.listener));
    clusters.push({
      ...staticCluster('grpc_upstream', grpc.upstreamPort, tls.grpcCluster),
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });
  }
  const bootstrap = {
    node: { id: `router~127.0.0.1~${name}.bench~bench.svc.cluster.local`, cluster: name, ...(extra.nodeMetadata ? { metadata: extra.nodeMetadata } : {}) },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: { listeners, clusters },
  };
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(bootstrap, null, 2));
  return f;
}

/** Additions to the bench's HTTP/1.1 listener: filters before the router, HCM fields, clusters they need, node metadata. */
export interface HcmExtra {
  httpFilters?: object[];
  hcm?: Record<string, unknown>;
  clusters?: object[];
  nodeMetadata?: Record<string, unknown>;
}

function httpListener(port: number, cluster: string, transportSocket?: object, extra: HcmExtra = {}) {
  return {
    name: `listener_${port}`,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        ...(transportSocket ? { transport_socket: transportSocket } : {}),
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'bench',
              route_config: {
                name: 'bench',
                virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, timeout: '0s' } }] }],
              },
              ...extra.hcm,
              http_filters: [...(extra.httpFilters ?? []), { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          },
        ],
      },
    ],
  };
}

/** An Envoy v3 static bootstrap: one tcp_proxy listener to one static cluster. */
export function tcpBootstrap(dir: string, name: string, listenPort: number, upstreamPort: number, adminPort: number): string {
  const bootstrap = {
    node: { id: `router~127.0.0.1~${name}.bench~bench.svc.cluster.local`, cluster: name },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: `tcp_${listenPort}`,
          address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.tcp_proxy',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'tcp', cluster: 'sink' },
                },
              ],
            },
          ],
        },
      ],
      clusters: [staticCluster('sink', upstreamPort)],
    },
  };
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(bootstrap, null, 2));
  return f;
}

function staticCluster(name: string, port: number, transportSocket?: object) {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    ...(transportSocket ? { transport_socket: transportSocket } : {}),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}
