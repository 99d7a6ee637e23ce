/**
 * How the proxy opens upstream connections, seen from the upstream:
 * - Cluster.upstream_bind_config (Istio binds inbound passthrough connections to 127.0.0.6):
 *   the upstream sees the connection come from the source address, for HTTP and tcp_proxy;
 * - HttpProtocolOptions.use_downstream_protocol_config (Istio's inbound clusters): an HTTP/1.1
 *   request goes upstream as HTTP/1.1 and an h2 request as h2, through the same cluster.
 * Both were accepted and ignored before (the upstream saw 127.0.0.1, and HTTP/1.1 for both).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import { RESOURCE, CLUSTER_EXT } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { closeServer, listen, roundTrip, startProxy, staticCluster, tcpListener, httpListener } from './helpers.ts';

const SOURCE = '127.0.0.6';

/**
 * Plaintext upstream speaking HTTP/1.1 and h2 (prior knowledge) on one port; answers
 * "<protocol> <peer ip>". HTTP/1.1 connections go to an http.Server; h2 ones are relayed to an
 * http2 server on its own port (which would lose a re-queued preface), the peer remembered by
 * the relay connection's local port.
 */
async function protocolReporter(): Promise<{ port: number; close: () => Promise<void> }> {
  const peers = new Map<number, string>();
  const h1 = http.createServer((req, res) => res.end(`${req.httpVersion} ${req.socket.remoteAddress}`));
  const h2 = http2.createServer((req, res) => res.end(`${req.httpVersion} ${peers.get(req.socket.remotePort ?? 0)}`));
  const h2port = await new Promise<number>((r) => h2.listen(0, '127.0.0.1', () => r((h2.address() as net.AddressInfo).port)));
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (first) => {
      s.pause();
      if (first.subarray(0, 3).toString() !== 'PRI') {
        s.unshift(first);
        h1.emit('connection', s);
        s.resume();
        return;
      }
      const inner = net.connect(h2port, '127.0.0.1', () => {
        peers.set(inner.localPort!, String(s.remoteAddress));
        inner.write(first);
        s.pipe(inner).pipe(s);
        s.resume();
      });
      inner.on('error', () => s.destroy());
      s.on('close', () => inner.destroy());
    });
  });
  const port = await listen(server);
  return {
    port,
    close: async () => {
      await closeServer(server);
      h1.close();
      h1.closeAllConnections();
      await new Promise<void>((r) => h2.close(() => r()));
    },
  };
}

/** A TCP server that answers with the peer address it sees. */
async function peerReporter(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(String(s.remoteAddress));
  });
  const port = await listen(server);
  return { port, close: () => closeServer(server) };
}

async function h1Get(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return res.text();
}

function h2Get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    c.on('error', reject);
    const rq = c.request({ ':path': '/' });
    let body = '';
    rq.setEncoding('utf8');
    rq.on('data', (d) => (body += d));
    rq.on('end', () => {
      c.close();
      resolve(body);
    });
    rq.on('error', reject);
    rq.end();
  });
}

test('upstream_bind_config and use_downstream_protocol_config: the upstream sees 127.0.0.6, and the protocol the client used', async () => {
  const up = await protocolReporter();
  const tcp = await peerReporter();
  const bind = { upstream_bind_config: { source_address: { address: SOURCE, port_value: 0 } } };
  const proxy = await startProxy({
    clusters: [
      staticCluster('inbound', [up.port], {
        ...bind,
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS, use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } },
        },
      }),
      staticCluster('tcp', [tcp.port], bind),
    ],
    listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'inbound' } }], 0, { codec_type: 'AUTO' }), tcpListener('tcp', 'tcp')],
  });
  try {
    const port = proxy.port('http');
    assert.equal(await h1Get(port), `1.1 ${SOURCE}`);
    assert.equal(await h2Get(port), `2.0 ${SOURCE}`);
    assert.equal(await h1Get(port), `1.1 ${SOURCE}`, 'HTTP/1.1 again after h2 (one pool per protocol)');
    assert.equal(await roundTrip(proxy.port('tcp'), ''), SOURCE, 'tcp_proxy connects from the source address too');
  } finally {
    await proxy.close();
    await Promise.all([up.close(), tcp.close()]);
  }
});

test('upstream_bind_config with an address that is not an IP is NACKed naming the field', async () => {
  const proxy = await startProxy({});
  try {
    const r = proxy.server.setResources(RESOURCE.CLUSTER, [staticCluster('c', [1], { upstream_bind_config: { source_address: { address: 'localhost', port_value: 0 } } })], 'v1');
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /cluster c\.upstream_bind_config\.source_address\.address/);
  } finally {
    await proxy.close();
  }
});
