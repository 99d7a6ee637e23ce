/**
 * The ADS server with pilot's real generator and PushContext (Bookinfo), through AdsClient in
 * both modes: the same path a tsmesh proxy takes against `tsmesh controlplane`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient } from '../../src/xds/client/ads_client.ts';
import type { Watch } from '../../src/xds/client/types.ts';
import { DiscoveryServer } from '../../src/xds/server/discovery_server.ts';
import { SILENT_LOGGER } from '../../src/xds/server/core.ts';
import { TYPE } from '../../src/xds/types.ts';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { BOOKINFO, BOOKINFO_NETWORKING, MESH, bookinfoWorkloads, loadYaml, realRegistry, sidecarNode } from '../pilot/fixtures.ts';
import { until } from './fixtures.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';

const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';

function bookinfo() {
  const base = loadYaml(BOOKINFO);
  const state = { configs: [...base, ...loadYaml(`${BOOKINFO_NETWORKING}/destination-rule-all.yaml`)], workloads: bookinfoWorkloads(base) };
  const build = () => buildPushContext({ mesh: MESH, configs: state.configs, registry: realRegistry(state.configs, state.workloads) });
  return { state, build };
}

function client(address: string, node: ReturnType<typeof sidecarNode>, mode: 'sotw' | 'delta') {
  const c = new AdsClient({ address, node, mode, backoff: { initialMs: 5, maxMs: 20 } });
  let eds: Watch | undefined;
  let rds: Watch | undefined;
  const edsUpdates: string[][] = [];
  c.watch(TYPE.CLUSTER, '*', {
    onUpdate: (u) => eds!.setNames([...u.resources.values()].filter((r) => r.resource.type === 'EDS').map((r) => r.resource.eds_cluster_config?.service_name ?? r.resource.name)),
  });
  eds = c.watch(TYPE.ENDPOINT, [], { onUpdate: (u) => edsUpdates.push([...u.added.keys(), ...u.changed.keys()]) });
  c.watch(TYPE.LISTENER, '*', {
    onUpdate: (u) => {
      const names = new Set<string>();
      for (const l of u.resources.values()) {
        for (const fc of l.resource.filter_chains ?? []) for (const f of fc.filters ?? []) if (f.typed_config?.rds?.route_config_name) names.add(f.typed_config.rds.route_config_name);
      }
      rds!.setNames([...names]);
    },
  });
  rds = c.watch(TYPE.ROUTE, [], { onUpdate: () => {} });
  return { c, edsUpdates };
}

for (const mode of ['sotw', 'delta'] as const) {
  test(`pilot generator, ${mode}: Bookinfo config reaches a sidecar; a VirtualService and an endpoint change push what changed`, async () => {
    const { state, build } = bookinfo();
    const server = new DiscoveryServer({ generator: generate, parseProxy, shapeKey: proxyShapeKey, buildPushContext: build, debounce: { afterMs: 5, maxMs: 500 }, log: SILENT_LOGGER });
    const port = await server.listen();
    const productpage = state.workloads.find((w) => w.name.startsWith('productpage'))!;
    const { c, edsUpdates } = client(`127.0.0.1:${port}`, sidecarNode(productpage), mode);
    try {
      c.start();
      await until(() => c.resources(TYPE.ROUTE).has('9080') && c.resources(TYPE.ENDPOINT).has(REVIEWS), 'bookinfo config', 10_000);
      assert.ok(c.resources(TYPE.CLUSTER).has('outbound|9080|v3|reviews.default.svc.cluster.local'), 'subset cluster from the DestinationRule');
      const reviewsHosts = () => c.resources(TYPE.ENDPOINT).get(REVIEWS)!.resource.endpoints.flatMap((e: any) => e.lb_endpoints).length;
      assert.equal(reviewsHosts(), 3);
      await until(() => Object.values(server.connections()[0]!.types).every((t) => t.synced && t.ackedNonce !== ''), 'all ACKed');

      // A VirtualService changes RDS only.
      const routeBefore = c.resources(TYPE.ROUTE).get('9080')!.version;
      const responses: string[] = [];
      c.on('response', (t) => responses.push(t));
      state.configs = [...state.configs, ...loadYaml(`${BOOKINFO_NETWORKING}/virtual-service-reviews-v3.yaml`)];
      server.configUpdate({ full: true, reason: 'VirtualService default/reviews' });
      await until(() => c.resources(TYPE.ROUTE).get('9080')!.version !== routeBefore, 'route update');
      const vh = c.resources(TYPE.ROUTE).get('9080')!.resource.virtual_hosts.find((v: any) => v.domains.some((d: string) => d.startsWith('reviews')));
      assert.equal(vh.routes[0].route.cluster, 'outbound|9080|v3|reviews.default.svc.cluster.local');
      await server.idle();
      assert.deepEqual(responses, [TYPE.ROUTE]);

      // One reviews pod goes away: an endpoint-only push for reviews sends its EDS only.
      responses.length = 0;
      edsUpdates.length = 0;
      state.workloads = state.workloads.filter((w) => w.name !== 'reviews-v1-0');
      server.configUpdate({ full: false, services: ['reviews.default.svc.cluster.local'], reason: 'endpoints of reviews' });
      await until(() => reviewsHosts() === 2, 'reviews endpoints');
      await server.idle();
      assert.deepEqual(responses, [TYPE.ENDPOINT]);
      assert.ok(edsUpdates.every((names) => names.every((n) => n.endsWith('|reviews.default.svc.cluster.local'))), JSON.stringify(edsUpdates));
    } finally {
      c.close();
      await server.close();
    }
  });
}
