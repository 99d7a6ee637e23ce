/**
 * envoy.filters.network.rbac on the wire: a non-terminal network filter in front of tcp_proxy and
 * of the HTTP connection manager. Allowed connections go on down the chain (the echo answers,
 * HTTP works); denied ones are closed with no byte forwarded and no upstream connection made.
 * DENY, LOG and shadow rules; HTTP-only rules on TCP behave as in Envoy (url_path never matches);
 * stats under <stat_prefix>rbac.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { roundTrip, startEcho, startProxy, staticCluster, TCP_PROXY, type Proxy } from './helpers.ts';
import { request, startUpstream, type Upstream } from './http/harness.ts';
import { allow, counter } from './rbac_helpers.ts';

function rbacNetworkFilter(config: EnvoyJson): EnvoyJson {
  return { name: 'envoy.filters.network.rbac', typed_config: { '@type': NETWORK_FILTER.RBAC, ...config } };
}

function tcpWithRbac(name: string, rbac: EnvoyJson): EnvoyJson {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [rbacNetworkFilter(rbac), { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster: 'echo' } }] }],
  };
}

describe('network rbac in front of tcp_proxy', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: Proxy;
  const listeners: Record<string, EnvoyJson> = {
    // Istio's TCP shape: stat_prefix "tcp."; this one matches the client's address.
    allowed: { stat_prefix: 'allowed.', rules: allow('ns[foo]-policy[tcp]-rule[0]', { principals: [{ direct_remote_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }] }) },
    not_allowed: { stat_prefix: 'not_allowed', rules: allow('p', { principals: [{ remote_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }] }) },
    deny_all: { stat_prefix: 'deny_all.', rules: { action: 'DENY', policies: { 'deny-all': { permissions: [{ any: true }], principals: [{ any: true }] } } } },
    deny_other: { stat_prefix: 'deny_other.', rules: { action: 'DENY', policies: { 'deny-9': { permissions: [{ destination_port: 9 }], principals: [{ any: true }] } } } },
    log: { stat_prefix: 'log.', rules: { action: 'LOG', policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } } },
    shadow: { stat_prefix: 'shadow.', shadow_rules: { action: 'ALLOW' }, shadow_rules_stat_prefix: 'istio_dry_run_allow_', enforcement_type: 'CONTINUOUS' },
    // HTTP-only rules on a TCP connection: url_path never matches (ALLOW with it allows nothing;
    // DENY with it denies nothing), as in Envoy.
    http_only_allow: { stat_prefix: 'http_only_allow.', rules: allow('p', { permissions: [{ url_path: { path: { prefix: '/' } } }] }) },
    http_only_deny: { stat_prefix: 'http_only_deny.', rules: { action: 'DENY', policies: { p: { permissions: [{ url_path: { path: { prefix: '/' } } }], principals: [{ any: true }] } } } },
    // Plaintext: no SNI (the empty string) and no peer certificate.
    sni: { stat_prefix: 'sni.', rules: allow('p', { permissions: [{ requested_server_name: { exact: 'echo.local' } }] }) },
    unauthenticated: { stat_prefix: 'unauth.', rules: allow('p', { principals: [{ authenticated: {} }] }) },
  };

  before(async () => {
    echo = await startEcho();
    proxy = await startProxy({ clusters: [staticCluster('echo', [echo.port])], listeners: Object.entries(listeners).map(([n, r]) => tcpWithRbac(n, r)) });
  });
  after(async () => {
    await proxy?.close();
    await echo?.close();
  });

  const upstreamConnections = () => counter(proxy, 'cluster.echo.upstream_cx_total');

  test('allowed connections reach the echo; denied ones close with nothing forwarded and no upstream connection', async () => {
    const got: Record<string, string> = {};
    for (const name of Object.keys(listeners)) {
      const before = upstreamConnections();
      const reply = await roundTrip(proxy.port(name), 'hello');
      got[name] = `${reply || '(closed)'} upstream+${upstreamConnections() - before}`;
    }
    assert.deepEqual(got, {
      allowed: 'hello upstream+1',
      not_allowed: '(closed) upstream+0',
      deny_all: '(closed) upstream+0',
      deny_other: 'hello upstream+1',
      log: 'hello upstream+1',
      shadow: 'hello upstream+1',
      http_only_allow: '(closed) upstream+0',
      http_only_deny: 'hello upstream+1',
      sni: '(closed) upstream+0',
      unauthenticated: '(closed) upstream+0',
    });
  });

  test('stats are named as Envoy names them', async () => {
    assert.deepEqual(
      {
        allowed: counter(proxy, 'allowed.rbac.allowed'),
        notAllowedDenied: counter(proxy, 'not_allowed.rbac.denied'),
        denyAll: counter(proxy, 'deny_all.rbac.denied'),
        logged: counter(proxy, 'log.rbac.logged'),
        shadowDenied: counter(proxy, 'shadow.rbac.istio_dry_run_allow_shadow_denied'),
        shadowEnforced: counter(proxy, 'shadow.rbac.allowed') + counter(proxy, 'shadow.rbac.denied'),
      },
      { allowed: 1, notAllowedDenied: 1, denyAll: 1, logged: 1, shadowDenied: 1, shadowEnforced: 0 },
    );
  });
});

describe('network rbac in front of the HTTP connection manager', () => {
  let up: Upstream;
  let proxy: Proxy;
  const hcmWithRbac = (name: string, rbac: EnvoyJson): EnvoyJson => ({
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        filters: [
          rbacNetworkFilter(rbac),
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
              stat_prefix: name,
              route_config: { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
            },
          },
        ],
      },
    ],
  });

  before(async () => {
    up = await startUpstream('up');
    proxy = await startProxy({
      clusters: [staticCluster('up', [up.port])],
      listeners: [
        hcmWithRbac('http_allowed', { stat_prefix: 'tcp.', rules: allow('p', { principals: [{ source_ip: { address_prefix: '127.0.0.1', prefix_len: 32 } }] }) }),
        hcmWithRbac('http_denied', { stat_prefix: 'tcp.', rules: { action: 'DENY', policies: { 'deny-all': { permissions: [{ any: true }], principals: [{ any: true }] } } } }),
      ],
    });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
  });

  test('an allowed connection is served by the HCM; a denied one is closed without a response', async () => {
    const ok = await request(proxy.port('http_allowed'), { path: '/x' });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).url, '/x');
    const seen = up.seen.length;
    await assert.rejects(request(proxy.port('http_denied'), { path: '/y' }), /socket hang up|ECONNRESET/);
    assert.equal(up.seen.length, seen, 'the denied request never reached the upstream');
    assert.deepEqual([counter(proxy, 'tcp.rbac.allowed'), counter(proxy, 'tcp.rbac.denied')], [1, 1]);
  });
});
