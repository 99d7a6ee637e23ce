/**
 * A real `tsmesh proxy` NACKs an xDS resource it cannot apply and keeps serving with the previous
 * one. Valid Istio YAML does not make pilot emit such a resource, so the ADS server here is our
 * own DiscoveryServer with a test generator: first a good listener → route → cluster, then the
 * same listener with a network filter whose typed_config type the proxy does not implement
 * (direct_response: Envoy's, known to the codec, not to our proxy), then a good one again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { TYPE, type EnvoyJson, type NamedResource } from '../../src/xds/types.ts';
import type { Generator, PushContext } from '../../src/pilot/types.ts';
import { listen } from '../../samples/common/server.ts';
import { freePort } from '../helpers/processes.ts';
import { spawnAdsProxy, startAdsServer } from '../helpers/ads_world.ts';
import { until } from '../helpers/poll.ts';

const LISTENER = 'listener_0';
const ROUTE = 'route_0';
const CLUSTER = 'backend';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const UNSUPPORTED_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config';

/** What the generator serves; `phase` selects the listener. */
interface World {
  phase: 'good' | 'bad' | 'fixed';
  listenPort: number;
  backendPort: number;
}

function hcm(statPrefix: string): EnvoyJson {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: statPrefix,
      rds: { route_config_name: ROUTE, config_source: { ads: {}, resource_api_version: 'V3' } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
    },
  };
}

function listener(w: World): EnvoyJson {
  const filters =
    w.phase === 'bad'
      ? [{ name: 'envoy.filters.network.direct_response', typed_config: { '@type': UNSUPPORTED_TYPE, response: { inline_string: 'from the bad listener' } } }]
      : [hcm(w.phase === 'good' ? 'first' : 'fixed')];
  return { name: LISTENER, address: { socket_address: { address: '127.0.0.1', port_value: w.listenPort } }, filter_chains: [{ filters }] };
}

function generatorFor(): Generator {
  return (push, _proxy, typeUrl, names) => {
    const w = (push as PushContext & { world: World }).world;
    let out: NamedResource[] = [];
    if (typeUrl === TYPE.LISTENER) out = [{ name: LISTENER, resource: listener(w) }];
    if (typeUrl === TYPE.ROUTE) {
      out = [{ name: ROUTE, resource: { name: ROUTE, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }] }] } }];
    }
    if (typeUrl === TYPE.CLUSTER) {
      out = [
        {
          name: CLUSTER,
          resource: {
            name: CLUSTER,
            type: 'STATIC',
            connect_timeout: '1s',
            load_assignment: { cluster_name: CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: w.backendPort } } } }] }] },
          },
        },
      ];
    }
    return out.filter((r) => !names || names.includes(r.name));
  };
}

test('the proxy NACKs a listener with an unsupported filter type and keeps serving the previous one', { timeout: 120_000 }, async (t) => {
  let served = 0;
  const backend = await listen(
    createServer((_req, res) => {
      served++;
      res.end('from the backend');
    }),
    0,
    '127.0.0.1',
  );
  const world: World = { phase: 'good', listenPort: await freePort(), backendPort: backend.port };
  const { ads, port: adsPort } = await startAdsServer(generatorFor(), world);
  const proxy = await spawnAdsProxy(adsPort, 'nack');
  const adminPort = proxy.adminPort;
  const pool = new Pool(`http://127.0.0.1:${world.listenPort}`, { connections: 2 });
  t.after(async () => {
    await pool.destroy().catch(() => undefined);
    await proxy.stop();
    await ads.close();
    await backend.close();
  });

  const get = async () => {
    const r = await pool.request({ method: 'GET', path: '/', signal: AbortSignal.timeout(10_000) });
    return { status: r.statusCode, body: await r.body.text() };
  };
  const listenerStatus = () => ads.connections()[0]?.types[TYPE.LISTENER];
  const waitFor = (what: string, cond: () => boolean | Promise<boolean>) => until(cond, what, 30_000, 50).catch((e: Error) => {
    throw new Error(`${e.message}
${proxy.output().slice(-2000)}`);
  });

  // 1. The good config is ACKed and serves.
  await waitFor('the first listener to be ACKed', () => listenerStatus()?.synced === true && listenerStatus()?.ackedVersion !== '');
  const goodVersion = listenerStatus()!.ackedVersion;
  assert.deepEqual(await get(), { status: 200, body: 'from the backend' });

  // 2. The bad listener is NACKed: the error names the type; the ACKed version stays.
  world.phase = 'bad';
  ads.configUpdate({ full: true, reason: 'test: bad listener' });
  await waitFor('a NACK of the bad listener', () => listenerStatus()?.lastNack !== undefined);
  const st = listenerStatus()!;
  t.diagnostic(`NACK: ${st.lastNack!.message}`);
  assert.match(st.lastNack!.message, /direct_response/);
  assert.equal(st.lastNack!.version, goodVersion, 'the proxy says it still runs the good version');
  assert.equal(st.ackedVersion, goodVersion);
  assert.notEqual(st.sentVersion, goodVersion);

  // The previous listener keeps serving, on kept-alive and on new connections.
  for (let i = 0; i < 20; i++) assert.deepEqual(await get(), { status: 200, body: 'from the backend' });
  const fresh = await fetch(`http://127.0.0.1:${world.listenPort}/`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(await fresh.text(), 'from the backend');
  const dump = await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json();
  assert.ok(!JSON.stringify(dump).includes('from the bad listener'), 'the rejected listener is not applied');
  assert.equal((await fetch(`http://127.0.0.1:${adminPort}/ready`)).status, 200, 'a NACK does not make the proxy unready');

  // 3. A good listener after the NACK is ACKed and serves.
  world.phase = 'fixed';
  ads.configUpdate({ full: true, reason: 'test: fixed listener' });
  await waitFor('the fixed listener to be ACKed', () => {
    const s = listenerStatus();
    return s?.synced === true && s.ackedVersion !== goodVersion;
  });
  // New connections land on the new listener (its HCM counts under stat_prefix "fixed").
  await waitFor('the fixed listener to serve', async () => {
    const r = await fetch(`http://127.0.0.1:${world.listenPort}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(await r.text(), 'from the backend');
    return /^http\.fixed\.downstream_rq_total: [1-9]/m.test(await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text());
  });
  assert.ok(served >= 23, `backend served ${served}`);
});
