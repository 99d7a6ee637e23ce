/**
 * Bookinfo-like PushContexts for the route tests: services as the Kubernetes registry would give
 * them, configs parsed from YAML the way the config store reads them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Config, MeshConfig } from '../../../src/api/types.ts';
import type { Service } from '../../../src/registry/model.ts';
import type { Proxy, PushContext } from '../../../src/pilot/types.ts';
import type { EnvoyJson } from '../../../src/xds/types.ts';
import { ISTIO_DATA } from '../../helpers/istio_data.ts';

export const ISTIO_BOOKINFO = `${ISTIO_DATA}/samples/bookinfo/networking`;

export function kubeService(name: string, namespace: string, ports: Array<[number, string, Service['ports'][number]['protocol']]>, vip: string, extra: Partial<Service> = {}): Service {
  return {
    hostname: `${name}.${namespace}.svc.cluster.local`,
    namespace,
    name,
    ports: ports.map(([port, pname, protocol]) => ({ port, name: pname, protocol })),
    addresses: [vip],
    labels: { app: name },
    selector: { app: name },
    resolution: 'STATIC',
    exportTo: ['*'],
    meshExternal: false,
    registry: 'kubernetes',
    ...extra,
  };
}

export function bookinfoServices(): Service[] {
  return [
    kubeService('details', 'default', [[9080, 'http', 'HTTP']], '10.0.0.11'),
    kubeService('productpage', 'default', [[9080, 'http', 'HTTP']], '10.0.0.12'),
    kubeService('ratings', 'default', [[9080, 'http', 'HTTP']], '10.0.0.13'),
    kubeService('reviews', 'default', [[9080, 'http', 'HTTP']], '10.0.0.14'),
  ];
}

export function mesh(mode: 'ALLOW_ANY' | 'REGISTRY_ONLY' = 'ALLOW_ANY'): MeshConfig {
  return { trustDomain: 'cluster.local', rootNamespace: 'istio-system', outboundTrafficPolicy: { mode }, enableAutoMtls: true };
}

/**
 * Configs from YAML text, namespace defaulted like kubectl does; fails the test on a YAML error.
 * (Read with the yaml package directly so these tests do not depend on src/api's validation.)
 */
export function yamlConfigs(text: string, namespace = 'default'): Config[] {
  const out: Config[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`fixture YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const v = doc.toJS() as Record<string, any> | null;
    if (!v) continue;
    out.push({ apiVersion: v.apiVersion, kind: v.kind, metadata: { ...v.metadata, namespace: v.metadata?.namespace ?? namespace }, spec: v.spec ?? {} });
  }
  return out;
}

export function istioFile(name: string): Config[] {
  return yamlConfigs(readFileSync(join(ISTIO_BOOKINFO, name), 'utf8'));
}

export function push(configs: Config[], services: Service[] = bookinfoServices(), m: MeshConfig = mesh()): PushContext {
  return { version: 'test', mesh: m, configs, services, endpoints: new Map(), workloads: [] };
}

export function sidecar(namespace = 'default', labels: Record<string, string> = { app: 'productpage', version: 'v1' }, extra: Partial<Proxy> = {}): Proxy {
  return {
    id: `sidecar~10.1.0.5~pod-1.${namespace}~${namespace}.svc.cluster.local`,
    type: 'sidecar',
    ipAddresses: ['10.1.0.5'],
    workloadName: 'pod-1',
    namespace,
    dnsDomain: `${namespace}.svc.cluster.local`,
    labels,
    metadata: {},
    locality: {},
    ...extra,
  };
}

export function vhost(rc: EnvoyJson | undefined, name: string): EnvoyJson {
  const vh = rc?.virtual_hosts?.find((v: EnvoyJson) => v.name === name);
  if (!vh) throw new Error(`no virtual host ${name}; have ${rc?.virtual_hosts?.map((v: EnvoyJson) => v.name).join(', ')}`);
  return vh;
}

/** Every cluster name a route configuration references (route, weighted and mirror clusters). */
export function referencedClusters(rc: EnvoyJson): string[] {
  const out: string[] = [];
  for (const vh of rc.virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      if (r.route?.cluster) out.push(r.route.cluster);
      for (const c of r.route?.weighted_clusters?.clusters ?? []) out.push(c.name);
      for (const m of r.route?.request_mirror_policies ?? []) out.push(m.cluster);
    }
  }
  return out;
}
