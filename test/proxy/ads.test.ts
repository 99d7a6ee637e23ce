/** The proxy fed by a real ADS server (src/xds/server): warming order, updates, NACK keeps the last good config. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiscoveryServer } from '../../src/xds/server/discovery_server.ts';
import { SILENT_LOGGER } from '../../src/xds/server/core.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { Generator, PushContext } from '../../src/pilot/types.ts';
import { validateBootstrap } from '../../src/proxy/bootstrap.ts';
import { buildSidecarBootstrap, SIDECAR_DEFAULTS } from '../../src/agent/bootstrap.ts';
import { ProxyServer } from '../../src/proxy/server.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { ownPorts } from '../helpers/ads_world.ts';
import { roundTrip, startTag, tcpListener, until } from './helpers.ts';

interface World {
  ports: number[];
  lbPolicy: string;
  /** Extra Cluster fields (a bad lb config for the NACK case). */
  extra?: EnvoyJson;
}

function generatorFor(world: () => World): Generator {
  return (_push, _proxy, typeUrl, names) => {
    const w = world();
    let out: { name: string; resource: EnvoyJson }[] = [];
    if (typeUrl === TYPE.CLUSTER) out = [{ name: 'svc', resource: { name: 'svc', type: 'EDS', lb_policy: w.lbPolicy, connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, ...w.extra } }];
    if (typeUrl === TYPE.ENDPOINT) out = [{ name: 'svc', resource: { cluster_name: 'svc', endpoints: [{ lb_endpoints: w.ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] } }];
    if (typeUrl === TYPE.LISTENER) out = [{ name: 'tcp', resource: tcpListener('tcp', 'svc') }];
    return out.filter((r) => !names || names.includes(r.name));
  };
}

for (const mode of ['sotw', 'delta'] as const) {
  test(`ADS (${mode}): clusters warm with EDS before listeners; updates apply; a bad cluster is NACKed and the old one serves`, async () => {
    const [a, b] = await Promise.all(['a', 'b'].map(startTag));
    let world: World = { ports: [a.port], lbPolicy: 'ROUND_ROBIN' };
    let builds = 0;
    const ads = new DiscoveryServer({
      generator: generatorFor(() => world),
      parseProxy,
      buildPushContext: () => ({ version: String(++builds), mesh: {}, configs: [], services: [], endpoints: new Map(), workloads: [] }) as unknown as PushContext,
      debounce: { afterMs: 1, maxMs: 50 },
      log: SILENT_LOGGER,
    });
    const xdsPort = await ads.listen('127.0.0.1:0');
    const bootstrap = validateBootstrap(buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, ...(await ownPorts()), discoveryAddress: `127.0.0.1:${xdsPort}`, workloadName: 'app', delta: mode === 'delta' }));
    const server = new ProxyServer({ bootstrap, drainMs: 0, initialFetchTimeoutMs: 5000 });
    try {
      await server.start();
      assert.equal(server.state, 'LIVE');
      const port = server.listeners.active.get('tcp')!.boundPort;
      assert.equal(await roundTrip(port, ''), 'a');

      world = { ports: [b.port], lbPolicy: 'ROUND_ROBIN' };
      ads.configUpdate({ full: true, reason: 'endpoints moved' });
      await until(async () => (await roundTrip(port, '')) === 'b', 'EDS update applied');

      // MAGLEV is supported; a table_size that is not prime is not.
      world = { ports: [b.port], lbPolicy: 'MAGLEV', extra: { maglev_lb_config: { table_size: 1000 } } };
      ads.configUpdate({ full: true, reason: 'bad lb' });
      await until(() => server.store.counter('cluster_manager.cds.update_rejected').value() >= 1, 'CDS NACK');
      assert.match(server.clusters.entries.get('svc')!.config.lb_policy ?? 'ROUND_ROBIN', /ROUND_ROBIN/);
      assert.equal(await roundTrip(port, ''), 'b', 'previous cluster and endpoints keep serving');
    } finally {
      await server.shutdown(0);
      await ads.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
}
