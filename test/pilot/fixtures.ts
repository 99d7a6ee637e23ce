/**
 * Test-only inputs for pilot: YAML loading and a tiny ServiceDiscovery built from Kubernetes
 * Service objects, ServiceEntries and a workload list (stands in until src/registry lands).
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Config, MeshConfig } from '../../src/api/types.ts';
import type { Endpoint, Protocol, Service, ServiceDiscovery, Workload } from '../../src/registry/model.ts';
import type { NodeJson } from '../../src/xds/types.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { Registry } from '../../src/registry/index.ts';
import type { ConfigStore } from '../../src/api/types.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

export const ISTIO = ISTIO_DATA;
export const BOOKINFO = `${ISTIO}/samples/bookinfo/platform/kube/bookinfo.yaml`;
export const BOOKINFO_NETWORKING = `${ISTIO}/samples/bookinfo/networking`;

export const MESH: MeshConfig = {
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
  enableAutoMtls: true,
};

/** Parses a multi-document YAML file into Configs (namespace defaults to `namespace`). */
export function loadYaml(path: string, namespace = 'default'): Config[] {
  return parseYamlText(readFileSync(path, 'utf8'), namespace);
}

export function parseYamlText(text: string, namespace = 'default'): Config[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter((o) => o && typeof o === 'object' && o.kind)
    .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? namespace }, spec: o.spec ?? {} }));
}

function protocolOf(name: string | undefined, appProtocol?: string): Protocol {
  const p = (appProtocol ?? (name ?? '').split('-')[0] ?? '').toLowerCase();
  const map: Record<string, Protocol> = { http: 'HTTP', http2: 'HTTP2', grpc: 'GRPC', 'grpc-web': 'GRPC-WEB', https: 'HTTPS', tls: 'TLS', tcp: 'TCP', mongo: 'MONGO', redis: 'REDIS', mysql: 'MYSQL', udp: 'UDP' };
  return map[p] ?? 'UNSUPPORTED';
}

/** In-memory ServiceDiscovery: Kubernetes Services + ServiceEntries over a fixed workload list. */
export class FakeRegistry implements ServiceDiscovery {
  private readonly svcs: Service[] = [];
  constructor(configs: Config[], private readonly pods: Workload[], clusterIps: Record<string, string> = {}) {
    for (const c of configs) {
      if (c.kind === 'Service') {
        const ns = c.metadata.namespace;
        const hostname = `${c.metadata.name}.${ns}.svc.cluster.local`;
        this.svcs.push({
          hostname, namespace: ns, name: c.metadata.name,
          ports: (c.spec.ports ?? []).map((p: any) => ({ name: p.name ?? '', port: p.port, protocol: protocolOf(p.name, p.appProtocol), ...(typeof p.targetPort === 'number' && p.targetPort !== p.port ? { targetPort: p.targetPort } : {}) })),
          addresses: clusterIps[hostname] ? [clusterIps[hostname]!] : [],
          labels: c.metadata.labels ?? {}, selector: c.spec.selector, resolution: 'STATIC',
          exportTo: exportToOf(c.metadata.annotations?.['networking.istio.io/exportTo']), meshExternal: false, registry: 'kubernetes',
        });
      } else if (c.kind === 'ServiceEntry') {
        for (const host of c.spec.hosts ?? []) {
          this.svcs.push({
            hostname: host, namespace: c.metadata.namespace, name: host,
            ports: (c.spec.ports ?? []).map((p: any) => ({ name: p.name, port: p.number, protocol: (p.protocol ?? 'TCP').toUpperCase(), ...(p.targetPort ? { targetPort: p.targetPort } : {}) })),
            addresses: c.spec.addresses ?? [], labels: {}, selector: c.spec.workloadSelector?.labels,
            resolution: c.spec.resolution ?? 'NONE', exportTo: c.spec.exportTo ?? ['*'],
            meshExternal: c.spec.location !== 'MESH_INTERNAL', registry: 'serviceentry',
          });
        }
      }
    }
  }
  services(): Service[] { return this.svcs; }
  getService(h: string): Service | undefined { return this.svcs.find((s) => s.hostname === h); }
  workloads(): Workload[] { return this.pods; }
  onChange(): () => void { return () => {}; }
  endpoints(hostname: string, port: number): Endpoint[] {
    const svc = this.getService(hostname);
    const sp = svc?.ports.find((p) => p.port === port);
    if (!svc || !sp || !svc.selector) return [];
    return this.pods
      .filter((w) => w.namespace === svc.namespace && Object.entries(svc.selector!).every(([k, v]) => w.labels[k] === v))
      .map((w) => ({
        service: hostname, servicePortName: sp.name, address: w.address, port: sp.targetPort ?? sp.port,
        labels: w.labels, locality: w.locality, serviceAccount: w.serviceAccount, weight: w.weight ?? 1,
        healthy: w.healthy ?? true, workloadName: w.name, namespace: w.namespace, tlsModeIstio: w.labels['security.istio.io/tlsMode'] === 'istio',
      }));
  }
}

function exportToOf(a: string | undefined): string[] {
  return a ? a.split(',').map((s) => s.trim()) : ['*'];
}

/** One pod per Bookinfo Deployment at 127.0.1.<n>, with the sidecar-injected tlsMode label. */
export function bookinfoWorkloads(configs: Config[]): Workload[] {
  const deployments = configs.filter((c) => c.kind === 'Deployment').sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  return deployments.map((d, i) => ({
    name: `${d.metadata.name}-0`, namespace: d.metadata.namespace, address: `127.0.1.${i + 1}`,
    labels: { ...d.spec.template.metadata.labels, 'security.istio.io/tlsMode': 'istio' },
    serviceAccount: d.spec.template.spec.serviceAccountName,
    // reviews-v3 sits in another zone so locality grouping shows in the goldens.
    locality: { region: 'region1', zone: d.metadata.name === 'reviews-v3' ? 'zone2' : 'zone1' },
    source: 'test',
  }));
}

/** Node of a Bookinfo pod's sidecar, as Istio's bootstrap would send it. */
/** An injected sidecar's node: its agent holds a workload certificate (TSMESH_WORKLOAD_CERTIFICATES). */
export function sidecarNode(w: Workload, extra: Record<string, unknown> = {}): NodeJson {
  return {
    id: `sidecar~${w.address}~${w.name}.${w.namespace}~${w.namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: w.namespace, LABELS: w.labels, ISTIO_VERSION: '1.24.0', TSMESH_WORKLOAD_CERTIFICATES: 'true', ...extra },
    locality: { region: w.locality.region, zone: w.locality.zone },
  };
}

// ---------- ready-made pushes ----------

/** Bookinfo plus the named files from samples/bookinfo/networking, as one push. */
export function bookinfoPush(networkingFiles: string[] = [], mesh: MeshConfig = MESH): { push: PushContext; workloads: Workload[]; configs: Config[] } {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...networkingFiles.flatMap((f) => loadYaml(`${BOOKINFO_NETWORKING}/${f}`))];
  const workloads = bookinfoWorkloads(base);
  return { push: buildPushContext({ mesh, configs, registry: realRegistry(configs, workloads) }), workloads, configs };
}

/**
 * src/registry's Registry over a fixed config list, with each workload registered as its proxy
 * would. The ConfigStore is a read-only list so these tests do not depend on validation.
 */
export function realRegistry(configs: Config[], workloads: Workload[]): Registry {
  const store: ConfigStore = {
    list: (kind, ns) => configs.filter((c) => c.kind === kind && (ns === undefined || c.metadata.namespace === ns)),
    get: (kind, name, ns) => configs.find((c) => c.kind === kind && c.metadata.name === name && c.metadata.namespace === ns),
    all: () => configs,
    watch: () => () => {},
    errors: () => [],
  };
  const registry = new Registry({ store, log: () => {} });
  for (const w of workloads) {
    registry.registerProxy({ name: w.name, namespace: w.namespace, ip: w.address, labels: w.labels, serviceAccount: w.serviceAccount, locality: w.locality });
  }
  return registry;
}

/** The sidecar of the Bookinfo workload whose name starts with `prefix`. */
export function bookinfoProxy(workloads: Workload[], prefix = 'productpage', extra: Record<string, unknown> = {}): Proxy {
  const w = workloads.find((x) => x.name.startsWith(prefix));
  if (!w) throw new Error(`no workload ${prefix}`);
  return parseProxy(sidecarNode(w, extra));
}

/** A push from inline YAML (Services, ServiceEntries, Istio configs) over the given workloads. */
export function pushFromYaml(yaml: string, workloads: Workload[] = [], mesh: MeshConfig = MESH, clusterIps: Record<string, string> = {}): PushContext {
  const configs = parseYamlText(yaml);
  return buildPushContext({ mesh, configs, registry: new FakeRegistry(configs, workloads, clusterIps) });
}

/** A workload with sensible defaults for tests. */
export function workload(name: string, address: string, labels: Record<string, string>, more: Partial<Workload> = {}): Workload {
  return { name, namespace: 'default', address, labels, locality: {}, source: 'test', ...more };
}

/** A sidecar proxy for a test workload (or a bare namespace when no workload is given). */
export function proxyFor(w: Workload | { namespace: string; labels?: Record<string, string>; address?: string; name?: string }, extra: Record<string, unknown> = {}): Proxy {
  const full: Workload = 'source' in w ? w : workload(w.name ?? 'client', w.address ?? '127.0.9.9', w.labels ?? {}, { namespace: w.namespace });
  return parseProxy(sidecarNode(full, extra));
}
