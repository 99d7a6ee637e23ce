/**
 * Gateway test inputs: pushes over src/registry's Registry (Istio's sample YAML read in place),
 * router proxies as `tsmesh proxy --type router` announces them, and every generated resource run
 * through the xDS codec and the snapshot consistency check.
 */
import assert from 'node:assert/strict';
import type { Config } from '../../../src/api/types.ts';
import { checkConsistency } from '../../../src/pilot/consistency.ts';
import { generate } from '../../../src/pilot/generator.ts';
import { buildPushContext } from '../../../src/pilot/push_context.ts';
import { parseProxy } from '../../../src/pilot/proxy.ts';
import type { Proxy, PushContext } from '../../../src/pilot/types.ts';
import type { Workload } from '../../../src/registry/model.ts';
import { encodeResource } from '../../../src/xds/codec.ts';
import { TYPE, type EnvoyJson, type NamedResource } from '../../../src/xds/types.ts';
import { terminalFilter } from '../filters.ts';
import { bookinfoWorkloads, ISTIO, loadYaml, MESH, parseYamlText, realRegistry } from '../fixtures.ts';

export { ISTIO, loadYaml, parseYamlText };
export const BOOKINFO_DIR = `${ISTIO}/samples/bookinfo`;
export const TCP_ECHO_DIR = `${ISTIO}/samples/tcp-echo`;
export const INGRESS_LABELS = { istio: 'ingressgateway', app: 'istio-ingressgateway' };
export const EGRESS_LABELS = { istio: 'egressgateway', app: 'istio-egressgateway' };

/** A push from configs, with one registered workload per Deployment plus `extra` workloads. */
export function pushOf(configs: Config[], extra: Workload[] = []): PushContext {
  const workloads = [...bookinfoWorkloads(configs), ...extra];
  return buildPushContext({ mesh: MESH, configs, registry: realRegistry(configs, workloads) });
}

/** The router proxy of a gateway pod (istio-system unless told otherwise), its agent holding a workload certificate. */
export function routerProxy(labels: Record<string, string> = INGRESS_LABELS, metadata: Record<string, unknown> = {}, namespace = 'istio-system', ip = '127.0.0.10'): Proxy {
  return parseProxy({
    id: `router~${ip}~gateway-0.${namespace}~${namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: namespace, LABELS: labels, ISTIO_VERSION: '1.24.0', TSMESH_WORKLOAD_CERTIFICATES: 'true', ...metadata },
  });
}

export function gatewayWorkload(name: string, namespace: string, address: string, labels: Record<string, string>): Workload {
  return { name, namespace, address, labels, locality: {}, source: 'test' };
}

export interface Resources {
  listeners: NamedResource[];
  routes: NamedResource[];
  clusters: NamedResource[];
  endpoints: NamedResource[];
}

/**
 * Everything the proxy would receive through pilot's generator, each resource encoded with
 * Envoy's protos (so Envoy would accept its shape) and the set checked for dangling references.
 */
export function generateAll(push: PushContext, proxy: Proxy): Resources {
  const r: Resources = {
    clusters: generate(push, proxy, TYPE.CLUSTER),
    endpoints: generate(push, proxy, TYPE.ENDPOINT),
    listeners: generate(push, proxy, TYPE.LISTENER),
    routes: generate(push, proxy, TYPE.ROUTE),
  };
  const types: Array<[keyof Resources, string]> = [['clusters', TYPE.CLUSTER], ['endpoints', TYPE.ENDPOINT], ['listeners', TYPE.LISTENER], ['routes', TYPE.ROUTE]];
  for (const [k, t] of types) {
    for (const res of r[k]) {
      assert.doesNotThrow(() => encodeResource(t, res.resource), `${k} ${res.name} must encode`);
    }
  }
  assert.deepEqual(checkConsistency(r), []);
  return r;
}

export function find(list: NamedResource[], name: string): EnvoyJson {
  const r = list.find((x) => x.name === name);
  assert.ok(r, `expected ${name} in [${list.map((x) => x.name).join(', ')}]`);
  return r.resource;
}

/** The typed_config of a chain's terminal filter (tcp_proxy or http_connection_manager), found by type: Istio's telemetry filters precede it. */
export function terminalConfig(chain: EnvoyJson): EnvoyJson {
  return terminalFilter(chain).typed_config;
}

/** Route matches and their cluster, in a compact form for asserting whole route lists. */
export function routeSummary(vh: EnvoyJson): Array<[string, string]> {
  return vh.routes.map((r: EnvoyJson) => {
    const m = r.match.path !== undefined ? `path ${r.match.path}` : `prefix ${r.match.prefix}`;
    const target = r.route?.cluster ?? (r.route?.weighted_clusters ? JSON.stringify(r.route.weighted_clusters.clusters.map((c: EnvoyJson) => [c.name, c.weight])) : r.redirect ? 'redirect' : 'direct');
    return [m, target];
  });
}

