/**
 * The HTTP side wired into the core proxy: a bootstrap with an http_connection_manager listener
 * (inline route_config) and STATIC clusters served by the core's ProxyServer, cluster manager and
 * connection pools — one HTTP/1.1 upstream and one h2c upstream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startProxy, staticCluster, type Proxy } from '../helpers.ts';
import { request, startH2Upstream, startUpstream, type Upstream } from './harness.ts';
import { CLUSTER_EXT, HTTP_FILTER, NETWORK_FILTER } from '../../../src/xds/type_urls.ts';

const HCM = NETWORK_FILTER.HTTP_CONNECTION_MANAGER;
const ROUTER = HTTP_FILTER.ROUTER;
const H2_OPTS = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS,
    explicit_http_config: { http2_protocol_options: {} },
  },
};

describe('HCM inside the core ProxyServer', () => {
  let h1: Upstream, h2: Upstream;
  let proxy: Proxy;
  before(async () => {
    h1 = await startUpstream('h1');
    h2 = await startH2Upstream('h2');
    proxy = await startProxy({
      clusters: [staticCluster('web', [h1.port]), staticCluster('web2', [h2.port], { typed_extension_protocol_options: H2_OPTS })],
      listeners: [
        {
          name: 'http',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'ingress_http',
                    route_config: {
                      name: 'local',
                      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/h2' }, route: { cluster: 'web2' } }, { match: { prefix: '/' }, route: { cluster: 'web' } }] }],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
  });
  after(async () => {
    await proxy.close();
    await Promise.all([h1.close(), h2.close()]);
  });

  test('routes to an HTTP/1.1 and an h2c cluster through the core cluster manager', async () => {
    const port = proxy.port('http');
    const r1 = await request(port, { path: '/hello' });
    assert.equal(r1.status, 200);
    assert.equal(JSON.parse(r1.body).name, 'h1');
    const r2 = await request(port, { method: 'POST', path: '/h2/x', body: 'b' });
    assert.equal(r2.status, 200);
    const seen = JSON.parse(r2.body);
    assert.equal(seen.protocol, 'h2');
    assert.equal(seen.body, 'b');
  });

  test('h2c prior-knowledge client through the core listener', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.port('http')}`);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': '/via-h2c' });
        let b = '';
        req.on('data', (d) => (b += d));
        req.on('end', () => resolve(b));
        req.on('error', reject);
      });
      assert.equal(JSON.parse(body).name, 'h1');
    } finally {
      session.close();
    }
  });
});
