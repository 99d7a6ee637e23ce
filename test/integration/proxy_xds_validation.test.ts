/**
 * A real `tsmesh proxy` on a real ADS stream validates what it is sent before it ACKs:
 * - a RouteConfiguration it cannot compile is NACKed naming the route and field, and the previous
 *   routes keep serving (it used to be ACKed, then every request got 404: issue 7 bug 3);
 * - a field pilot emits that the proxy does not enforce yet (TcpKeepalive.keepalive_probes: Node
 *   sets only the keep-alive time) is ACKed, counted in /stats and logged, never a reason to NACK
 *   the sidecar's whole CDS;
 * - a field the support table does not list (Cluster.preconnect_policy) is NACKed naming the
 *   field with TSMESH_ERR_UNSUPPORTED_FIELD, and the previous cluster keeps serving.
 * The ADS server is our DiscoveryServer with a test generator (pilot never emits these).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { TYPE, type EnvoyJson, type NamedResource } from '../../src/xds/types.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import { ERR } from '../../src/api/errors.ts';
import type { Generator, PushContext } from '../../src/pilot/types.ts';
import { listen } from '../../samples/common/server.ts';
import { freePort } from '../helpers/processes.ts';
import { spawnAdsProxy, startAdsServer } from '../helpers/ads_world.ts';
import { until } from '../helpers/poll.ts';

const ROUTE = 'route_0';
const CLUSTER = 'backend';

interface World {
  route: 'good' | 'uncompilable' | 'fixed';
  cluster: 'good' | 'keepalive_probes' | 'preconnect_policy';
  listenPort: number;
  backendPort: number;
}

function routeConfig(w: World): EnvoyJson {
  // path_separated_prefix may not end with "/": valid protobuf, but no route Envoy can build.
  const match = w.route === 'uncompilable' ? { path_separated_prefix: '/api/' } : { prefix: '/' };
  const body = w.route === 'fixed' ? { direct_response: { status: 200, body: { inline_string: 'fixed routes' } } } : { route: { cluster: CLUSTER } };
  return { name: ROUTE, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match, ...body }] }] };
}

function cluster(w: World): EnvoyJson {
  return {
    name: CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: w.backendPort } } } }] }] },
    ...(w.cluster === 'keepalive_probes' ? { upstream_connection_options: { tcp_keepalive: { keepalive_time: 60, keepalive_probes: 3 } } } : {}),
    ...(w.cluster === 'preconnect_policy' ? { preconnect_policy: { per_upstream_preconnect_ratio: 1.5 } } : {}),
  };
}

function generator(): Generator {
  return (push, _proxy, typeUrl, names) => {
    const w = (push as PushContext & { world: World }).world;
    let out: NamedResource[] = [];
    if (typeUrl === TYPE.LISTENER) {
      const hcm = {
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
          stat_prefix: 'in',
          rds: { route_config_name: ROUTE, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
        },
      };
      out = [{ name: 'l', resource: { name: 'l', address: { socket_address: { address: '127.0.0.1', port_value: w.listenPort } }, filter_chains: [{ filters: [hcm] }] } }];
    }
    if (typeUrl === TYPE.ROUTE) out = [{ name: ROUTE, resource: routeConfig(w) }];
    if (typeUrl === TYPE.CLUSTER) out = [{ name: CLUSTER, resource: cluster(w) }];
    return out.filter((r) => !names || names.includes(r.name));
  };
}

test('the proxy NACKs a route it cannot compile and a field it does not honour; the previous config keeps serving', { timeout: 120_000 }, async (t) => {
  const backend = await listen(createServer((_req, res) => res.end('from the backend')), 0, '127.0.0.1');
  const world: World = { route: 'good', cluster: 'good', listenPort: await freePort(), backendPort: backend.port };
  const { ads, port: adsPort } = await startAdsServer(generator(), world);
  const proxy = await spawnAdsProxy(adsPort, 'v');
  const adminPort = proxy.adminPort;
  t.after(async () => {
    await proxy.stop();
    await ads.close();
    await backend.close();
  });

  const get = async (path = '/') => {
    const r = await fetch(`http://127.0.0.1:${world.listenPort}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { status: r.status, body: await r.text() };
  };
  const status = (typeUrl: string) => ads.connections()[0]?.types[typeUrl];
  const waitFor = (what: string, cond: () => boolean | Promise<boolean>) => until(cond, what, 30_000, 50).catch((e: Error) => {
    throw new Error(`${e.message}
${proxy.output().slice(-2000)}`);
  });

  await waitFor('routes ACKed', () => status(TYPE.ROUTE)?.synced === true && status(TYPE.ROUTE)?.ackedVersion !== '');
  const goodRoutes = status(TYPE.ROUTE)!.ackedVersion;
  assert.deepEqual(await get('/api/x'), { status: 200, body: 'from the backend' });

  // Bug 3: the uncompilable route is NACKed, naming the resource and the route's field path.
  world.route = 'uncompilable';
  ads.configUpdate({ full: true, reason: 'test: uncompilable route' });
  await waitFor('a NACK of the route', () => status(TYPE.ROUTE)?.lastNack !== undefined);
  const rn = status(TYPE.ROUTE)!.lastNack!;
  t.diagnostic(`RDS NACK: ${rn.message}`);
  assert.match(rn.message, /RouteConfiguration route_0: virtual_hosts\[0\]\.routes\[0\]: .*path_separated_prefix/);
  assert.equal(status(TYPE.ROUTE)!.ackedVersion, goodRoutes);
  for (let i = 0; i < 10; i++) assert.deepEqual(await get('/api/x'), { status: 200, body: 'from the backend' }, 'the previous routes keep serving');

  // A not-yet-honoured field pilot emits is ACKed and counted, not NACKed.
  const before = status(TYPE.CLUSTER)!.ackedVersion;
  world.cluster = 'keepalive_probes';
  ads.configUpdate({ full: true, reason: 'test: not-yet-honoured field' });
  await waitFor('the cluster with keepalive_probes ACKed', () => status(TYPE.CLUSTER)?.ackedVersion !== before && status(TYPE.CLUSTER)?.synced === true);
  assert.equal(status(TYPE.CLUSTER)!.lastNack, undefined);
  const counted = `envoy_support.unsupported_field_ignored.envoy.config.core.v3.TcpKeepalive.keepalive_probes: `;
  const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  assert.match(stats, new RegExp(`${counted.replace(/\./g, '\\.')}[1-9]`), 'counted in /stats');
  assert.deepEqual(await get('/'), { status: 200, body: 'from the backend' });

  // An unsupported field is NACKed naming it; the previous cluster keeps serving.
  const goodClusters = status(TYPE.CLUSTER)!.ackedVersion;
  world.cluster = 'preconnect_policy';
  ads.configUpdate({ full: true, reason: 'test: unsupported field' });
  await waitFor('a NACK of the cluster', () => status(TYPE.CLUSTER)?.lastNack !== undefined);
  const cn = status(TYPE.CLUSTER)!.lastNack!;
  t.diagnostic(`CDS NACK: ${cn.message}`);
  assert.match(cn.message, new RegExp(`cluster backend\\.preconnect_policy: .*\\[${ERR.UNSUPPORTED_FIELD}\\]`));
  assert.equal(status(TYPE.CLUSTER)!.ackedVersion, goodClusters);
  assert.deepEqual(await get('/'), { status: 200, body: 'from the backend' });
  const dump = await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).text();
  assert.ok(!dump.includes('preconnect_policy'), 'the rejected cluster is not applied');

  // Fixed routes after the NACK are ACKed and serve.
  world.route = 'fixed';
  world.cluster = 'good';
  ads.configUpdate({ full: true, reason: 'test: fixed' });
  await waitFor('fixed routes to serve', async () => (await get('/')).body === 'fixed routes');
});
