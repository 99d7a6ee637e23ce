/** Config files for the peers a benchmark compares, written to a temp dir. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BODY_1K = 'x'.repeat(1024);

/** nginx as the upstream: answers every request with 1 KiB, one worker, no logging. */
export function nginxUpstream(dir: string, port: number): string {
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx-up.pid;
error_log ${dir}/nginx-up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${port}; location / { default_type text/plain; return 200 '${BODY_1K}'; } }
}
`;
  const f = join(dir, 'nginx-upstream.conf');
  writeFileSync(f, conf);
  return f;
}

/** nginx as a reverse proxy with upstream keep-alive, configured like our proxy: one worker. */
export function nginxProxy(dir: string, port: number, upstreamPort: number): string {
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
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
  const f = join(dir, 'nginx-proxy.conf');
  writeFileSync(f, conf);
  return f;
}

/** HAProxy in HTTP mode with keep-alive both sides, one thread. */
export function haproxyConfig(dir: string, port: number, upstreamPort: number): string {
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
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:${upstreamPort}
`;
  const f = join(dir, 'haproxy.cfg');
  writeFileSync(f, conf);
  return f;
}

/** An Envoy v3 static bootstrap: one HTTP listener routing everything to one static cluster. */
export function httpBootstrap(dir: string, name: string, listenPort: number, upstreamPort: number, adminPort: number): string {
  const bootstrap = {
    node: { id: `router~127.0.0.1~${name}.bench~bench.svc.cluster.local`, cluster: name },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: `listener_${listenPort}`,
          address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'bench',
                    route_config: {
                      name: 'bench',
                      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '0s' } }] }],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [staticCluster('upstream', upstreamPort)],
    },
  };
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(bootstrap, null, 2));
  return f;
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

function staticCluster(name: string, port: number) {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}
