/**
 * ORIGINAL_DST clusters (what Istio builds for DestinationRule `simple: PASSTHROUGH` and for
 * PassthroughCluster): a request goes to the address the client originally dialled, never
 * load-balanced. In-process on loopback: two backends share a port on 127.0.0.2 and 127.0.0.3,
 * and the capture listener learns the original destination from a PROXY line (explicit mode) or
 * from the pluggable setOriginalDestination (SO_ORIGINAL_DST's stand-in).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setOriginalDestination } from '../../src/proxy/listener/original_dst.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import { closeServer, startProxy, tcpListener } from './helpers.ts';
import { freePort } from '../helpers/processes.ts';

const PASSTHROUGH_CLUSTER = { name: 'outbound|9080||reviews.default.svc.cluster.local', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '1s' };

/** An HTTP server on ip:port answering "<tag> <local address>:<port>". */
async function backend(tag: string, ip: string, port: number): Promise<http.Server> {
  const s = http.createServer((req, res) => res.end(`${tag} ${req.socket.localAddress}:${req.socket.localPort}`));
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, ip, () => resolve()));
  return s;
}

/** The per-port HTTP listener virtualOutbound hands connections to, routing everything to `cluster`. */
function portListener(port: number, cluster: string) {
  return {
    name: `0.0.0.0_${port}`,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    bind_to_port: false,
    filter_chains: [{
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
          stat_prefix: `outbound_0.0.0.0_${port}`,
          route_config: { name: String(port), virtual_hosts: [{ name: 'reviews', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
        },
      }],
    }],
  };
}

/** One HTTP/1.1 request on a fresh connection to the capture port, after an optional PROXY line; the body. */
function get(port: number, proxyLine = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`${proxyLine}GET / HTTP/1.1\r\nhost: reviews:9080\r\nconnection: close\r\n\r\n`));
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (data += d));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('end', () => {
      const [head, body = ''] = data.split('\r\n\r\n');
      resolve(`${head.split('\r\n')[0]} | ${body}`);
    });
  });
}

test('an HTTP request on an ORIGINAL_DST (PASSTHROUGH) cluster reaches the address the client dialled, not a balanced host', async () => {
  const port = await freePort();
  const [a, b] = await Promise.all([backend('a', '127.0.0.2', port), backend('b', '127.0.0.3', port)]);
  const proxy = await startProxy({
    clusters: [PASSTHROUGH_CLUSTER],
    listeners: [tcpListener('virtualOutbound', PASSTHROUGH_CLUSTER.name, 0, { use_original_dst: true }), portListener(port, PASSTHROUGH_CLUSTER.name)],
  }, { explicitProxy: true });
  try {
    const capture = proxy.port('virtualOutbound');
    const line = (ip: string) => `PROXY TCP4 127.0.0.1 ${ip} 40000 ${port}\r\n`;
    // Each request lands on the host it named, every time: no load balancing between a and b.
    for (let i = 0; i < 3; i++) {
      assert.equal(await get(capture, line('127.0.0.2')), `HTTP/1.1 200 OK | a 127.0.0.2:${port}`);
      assert.equal(await get(capture, line('127.0.0.3')), `HTTP/1.1 200 OK | b 127.0.0.3:${port}`);
    }
    // The HTTP listener for the port served them all (not the capture listener's own TCP chain).
    assert.equal(proxy.server.store.counter(`listener.0.0.0.0_${port}.downstream_cx_total`).value(), 6);
    assert.equal(proxy.server.store.counter(`cluster.${PASSTHROUGH_CLUSTER.name}.upstream_rq_total`).value(), 6);

    // The pluggable original destination (SO_ORIGINAL_DST in capture mode) steers it the same way.
    setOriginalDestination(() => ({ ip: '127.0.0.3', port }));
    assert.equal(await get(capture), `HTTP/1.1 200 OK | b 127.0.0.3:${port}`);
  } finally {
    setOriginalDestination(undefined);
    await proxy.close();
    await Promise.all([closeServer(a), closeServer(b)]);
  }
});

test('a TCP connection on an ORIGINAL_DST cluster reaches the address the client dialled', async () => {
  const port = await freePort();
  const servers = await Promise.all(['127.0.0.2', '127.0.0.3'].map(async (ip) => {
    const s = net.createServer((c) => c.end(`tcp ${c.localAddress}`));
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, ip, () => resolve()));
    return s;
  }));
  const proxy = await startProxy({
    clusters: [PASSTHROUGH_CLUSTER],
    listeners: [tcpListener('virtualOutbound', PASSTHROUGH_CLUSTER.name, 0, { use_original_dst: true })],
  }, { explicitProxy: true });
  const read = (proxyLine: string) => new Promise<string>((resolve, reject) => {
    const sock = net.connect(proxy.port('virtualOutbound'), '127.0.0.1', () => sock.write(proxyLine));
    let data = '';
    sock.setEncoding('utf8').on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
  });
  try {
    assert.equal(await read(`PROXY TCP4 127.0.0.1 127.0.0.3 40000 ${port}\r\n`), 'tcp 127.0.0.3');
    assert.equal(await read(`PROXY TCP4 127.0.0.1 127.0.0.2 40000 ${port}\r\n`), 'tcp 127.0.0.2');
  } finally {
    await proxy.close();
    await Promise.all(servers.map((s) => closeServer(s)));
  }
});
