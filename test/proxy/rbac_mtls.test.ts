/**
 * RBAC on identities over real mutual TLS (certificates from the test CA, made with openssl):
 * `authenticated` matches the client certificate's URI SAN (the SPIFFE identity Istio's
 * principals name), and on the network filter its DNS SAN and subject too, as Envoy does; an
 * `authenticated` with no name matches any TLS peer; requested_server_name matches the SNI.
 * HTTP requests with the wrong identity get 403, TCP connections with it are closed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPki, hasOpenssl, type Pki } from '../helpers/certs.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { startEcho, startProxy, staticCluster, TCP_PROXY, type Proxy } from './helpers.ts';
import { startUpstream, type Upstream } from './http/harness.ts';
import { allow, downstreamTls, httpsGet, leaf, perRoute, rbacHttpFilter, TLS_INSPECTOR, tlsRoundTrip } from './rbac_helpers.ts';

const PROXY_ID = 'spiffe://cluster.local/ns/default/sa/proxy';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/productpage';
const OTHER_ID = 'spiffe://cluster.local/ns/other/sa/reviews';

describe('rbac over mutual TLS', { skip: !hasOpenssl() && 'openssl CLI not available' }, () => {
  let pki: Pki;
  let up: Upstream;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: Proxy;
  let server: { cert: string; key: string };
  let client: { cert: string; key: string };
  let other: { cert: string; key: string };
  let dnsOnly: { cert: string; key: string };
  let subjectOnly: { cert: string; key: string };

  const authn = (principal_name?: EnvoyJson): EnvoyJson => ({ authenticated: principal_name ? { principal_name } : {} });

  before(async () => {
    pki = createPki();
    server = leaf(pki, 'proxy', `URI:${PROXY_ID}, DNS:rbac.local`, 'serverAuth');
    client = leaf(pki, 'client', `URI:${CLIENT_ID}, DNS:client.local`, 'clientAuth');
    other = leaf(pki, 'other', `URI:${OTHER_ID}`, 'clientAuth');
    dnsOnly = leaf(pki, 'dnsonly', 'DNS:dns.client.local', 'clientAuth');
    subjectOnly = leaf(pki, 'subjectonly', undefined, 'clientAuth', '/O=tsmesh/CN=legacy');
    up = await startUpstream('up');
    echo = await startEcho();
    const routes: EnvoyJson[] = [
      // Istio's principals: exact names, and namespaces as a regex on the SPIFFE id.
      { match: { prefix: '/principal/' }, route: { cluster: 'up' }, typed_per_filter_config: perRoute({ rules: allow('p', { principals: [authn({ exact: CLIENT_ID })] }) }) },
      { match: { prefix: '/namespace/' }, route: { cluster: 'up' }, typed_per_filter_config: perRoute({ rules: allow('p', { principals: [authn({ safe_regex: { regex: '.*/ns/default/.*' } })] }) }) },
      { match: { prefix: '/deny-other/' }, route: { cluster: 'up' }, typed_per_filter_config: perRoute({ rules: { action: 'DENY', policies: { p: { permissions: [{ any: true }], principals: [authn({ exact: OTHER_ID })] } } } }) },
      { match: { prefix: '/any-peer/' }, route: { cluster: 'up' }, typed_per_filter_config: perRoute({ rules: allow('p', { principals: [authn()] }) }) },
      { match: { prefix: '/sni/' }, route: { cluster: 'up' }, typed_per_filter_config: perRoute({ rules: allow('p', { permissions: [{ requested_server_name: { exact: 'rbac.local' } }] }) }) },
    ];
    const httpChain: EnvoyJson = {
      transport_socket: downstreamTls(pki, server, true),
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
            stat_prefix: 'mtls',
            route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] },
            http_filters: [rbacHttpFilter({}), { name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
          },
        },
      ],
    };
    const tcpChain = (name: string, rules: EnvoyJson): EnvoyJson => ({
      name,
      address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
      listener_filters: [TLS_INSPECTOR],
      filter_chains: [
        {
          transport_socket: downstreamTls(pki, server, true),
          filters: [
            { name: 'envoy.filters.network.rbac', typed_config: { '@type': NETWORK_FILTER.RBAC, stat_prefix: `${name}.`, rules } },
            { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster: 'echo' } },
          ],
        },
      ],
    });
    proxy = await startProxy({
      clusters: [staticCluster('up', [up.port]), staticCluster('echo', [echo.port])],
      listeners: [
        { name: 'https', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, listener_filters: [TLS_INSPECTOR], filter_chains: [httpChain] },
        tcpChain('tcp_uri', allow('p', { principals: [authn({ exact: CLIENT_ID })] })),
        tcpChain('tcp_dns', allow('p', { principals: [authn({ exact: 'dns.client.local' })] })),
        tcpChain('tcp_subject', allow('p', { principals: [authn({ exact: 'CN=legacy,O=tsmesh' })] })),
        tcpChain('tcp_sni', allow('p', { permissions: [{ requested_server_name: { suffix: '.local' } }] })),
      ],
    });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
    await echo?.close();
    pki?.dispose();
  });

  test("HTTP: the client certificate's SPIFFE id decides, exact or by namespace; a DENY on another identity holds", async () => {
    const get = async (path: string, who: { cert: string; key: string }, servername = 'rbac.local') => {
      const r = await httpsGet(proxy.port('https'), path, { ca: pki.ca, cert: who.cert, key: who.key, servername });
      return `${r.status}${r.status === 403 ? ` ${r.body}` : ''}`;
    };
    assert.deepEqual(
      {
        principalClient: await get('/principal/x', client),
        principalOther: await get('/principal/x', other),
        namespaceClient: await get('/namespace/x', client),
        namespaceOther: await get('/namespace/x', other),
        denyOtherClient: await get('/deny-other/x', client),
        denyOtherOther: await get('/deny-other/x', other),
        anyPeer: await get('/any-peer/x', dnsOnly),
        sni: await get('/sni/x', client),
        sniOther: await get('/sni/x', client, 'other.local'),
      },
      {
        principalClient: '200',
        principalOther: '403 RBAC: access denied',
        namespaceClient: '200',
        namespaceOther: '403 RBAC: access denied',
        denyOtherClient: '200',
        denyOtherOther: '403 RBAC: access denied',
        anyPeer: '200',
        sni: '200',
        sniOther: '403 RBAC: access denied',
      },
    );
  });

  test('TCP: URI SAN, then DNS SAN, then subject name the peer; a connection from anyone else is closed', async () => {
    const send = async (listener: string, who: { cert: string; key: string }, servername = 'rbac.local') =>
      (await tlsRoundTrip(proxy.port(listener), 'ping', { ca: pki.ca, cert: who.cert, key: who.key, servername })) || '(closed)';
    assert.deepEqual(
      {
        uri: await send('tcp_uri', client),
        uriOther: await send('tcp_uri', other),
        dns: await send('tcp_dns', dnsOnly),
        dnsOther: await send('tcp_dns', client),
        subject: await send('tcp_subject', subjectOnly),
        subjectOther: await send('tcp_subject', other),
        sni: await send('tcp_sni', other, 'echo.local'),
        sniOther: await send('tcp_sni', other, 'echo.example'),
      },
      { uri: 'ping', uriOther: '(closed)', dns: 'ping', dnsOther: '(closed)', subject: 'ping', subjectOther: '(closed)', sni: 'ping', sniOther: '(closed)' },
    );
  });
});
