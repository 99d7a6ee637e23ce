
/**
 * Shared helpers for proxy tests: real TCP servers on 127.0.0.1:0 (echo, tag), an in-process
 * ProxyServer from a bootstrap, resource builders for tcp_proxy listeners and clusters, and a
 * poll helper (tests assert on outcomes, never on time).
 */
import net, { type Server } from 'node:net';
import { validateBootstrap } from '../../src/proxy/bootstrap.ts';
import { ProxyServer } from '../../src/proxy/server.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
/** The tests' one wait helper, for the files that import it from here. */
export { until } from '../helpers/poll.ts';

export const TCP_PROXY = NETWORK_FILTER.TCP_PROXY;

const tracked = new WeakMap<Server, Set<net.Socket>>();

/** Listens on 127.0.0.1:0 and tracks accepted sockets so closeServer can end them. */
export function listen(server: Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  tracked.set(server, sockets);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((r) => {
    server.close(() => r());
    for (const s of tracked.get(server) ?? []) s.destroy();
  });
}

/** A TCP echo server that also remembers its live sockets so tests can close them. */
export async function startEcho(): Promise<{ port: number; close: () => Promise<void>; connections: () => number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  const port = await listen(server);
  return {
    port,
    connections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

/** A server that answers every connection with its tag and closes: tells which host was picked. */
export async function startTag(tag: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(tag);
  });
  const port = await listen(server);
  return { port, close: () => closeServer(server) };
}

/** Sends `data`, half-closes, and collects the reply until the proxy closes the connection. */
export function roundTrip(port: number, data = 'hello', host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host, allowHalfOpen: true }, () => c.end(data));
    let got = '';
    c.on('data', (d) => (got += d));
    c.on('error', () => {});
    c.on('close', () => resolve(got));
  });
}

/** An open connection that echoes through the proxy: send and read one reply at a time. */
export async function openConn(port: number): Promise<{ socket: net.Socket; ask: (s: string) => Promise<string>; closed: Promise<void> }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((r, j) => (socket.once('connect', () => r()), socket.once('error', j)));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});
  return { socket, ask: (s: string) => askOn(socket, s), closed };
}

/** Writes `s` and resolves with as many bytes back (an echo's reply); rejects if the socket closes first. */
export function askOn(socket: net.Socket, s: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d;
      if (got.length >= s.length) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before reply (got "${got}")`)));
    socket.write(s);
  });
}

export function staticCluster(name: string, ports: number[], extra: EnvoyJson = {}): EnvoyJson {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] },
    ...extra,
  };
}

export function tcpListener(name: string, cluster: string, port = 0, extra: EnvoyJson = {}): EnvoyJson {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster } }] }],
    ...extra,
  };
}

/** An HTTP listener on 127.0.0.1:`port` (0: any) with an inline route table (or `hcm.rds`) and the router filter. */
export function httpListener(name: string, routes: EnvoyJson[], port = 0, hcm: EnvoyJson = {}): EnvoyJson {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
              stat_prefix: name,
              // An `rds` source in `hcm` replaces the inline route table.
              ...('rds' in hcm ? {} : { route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] } }),
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

export interface Proxy {
  server: ProxyServer;
  /** Bound port of a listener by name. */
  port: (listener: string) => number;
  close: () => Promise<void>;
}

export async function startProxy(staticResources: EnvoyJson, opts: { drainMs?: number; extra?: EnvoyJson; explicitProxy?: boolean } = {}): Promise<Proxy> {
  const bootstrap = validateBootstrap({ node: { id: 'test-proxy', cluster: 'test' }, static_resources: staticResources, ...opts.extra });
  const server = new ProxyServer({ bootstrap, drainMs: opts.drainMs ?? 5000, explicitProxy: opts.explicitProxy, initialFetchTimeoutMs: 2000 });
  await server.start();
  return {
    server,
    port: (name) => {
      const l = server.listeners.active.get(name);
      if (!l) throw new Error(`no active listener ${name}`);
      return l.boundPort;
    },
    close: () => server.shutdown(0),
  };
}

