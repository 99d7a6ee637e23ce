/**
 * A stand-in Kubernetes API on loopback that serves a fixed set of objects (read-only), so that
 * `istioctl analyze` on a "live cluster" sees them: lists (with `metadata.name!=` /
 * `metadata.namespace!=` field selectors, as istioctl uses to leave out kube-system), single
 * gets, and watches held open without events. Objects are served as given (one without a
 * namespace stays without one, as in Istio's analyzer tests). JSON only. Not a Kubernetes: no
 * writes, no discovery of resources beyond what clients ask for by path.
 */
import { createServer, type ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface ObjectsApi {
  kubeconfig: string;
  close(): Promise<void>;
}

/** `Pod` → `pods`, `Ingress` → `ingresses`, `NetworkPolicy` → `networkpolicies`, `Endpoints` → `endpoints`. */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  if (k === 'endpoints') return k;
  if (/(s|x|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

/** The kind a resource path lists, for an empty list's `kind` (client-go decodes lists by it). */
const KINDS: Record<string, string> = {
  namespaces: 'Namespace', services: 'Service', pods: 'Pod', endpointslices: 'EndpointSlice', endpoints: 'Endpoints', nodes: 'Node',
  secrets: 'Secret', configmaps: 'ConfigMap', serviceaccounts: 'ServiceAccount', deployments: 'Deployment', daemonsets: 'DaemonSet',
  statefulsets: 'StatefulSet', replicasets: 'ReplicaSet', ingresses: 'Ingress', ingressclasses: 'IngressClass',
  mutatingwebhookconfigurations: 'MutatingWebhookConfiguration', validatingwebhookconfigurations: 'ValidatingWebhookConfiguration',
  customresourcedefinitions: 'CustomResourceDefinition', leases: 'Lease',
};

function kindOf(resource: string): string {
  return KINDS[resource] ?? resource.charAt(0).toUpperCase() + resource.slice(1).replace(/ies$/, 'y').replace(/(ses|xes)$/, (m) => m.slice(0, -2)).replace(/s$/, '');
}

/** Whether an object passes a field selector like `metadata.namespace!=kube-system,metadata.name!=x`. */
function passes(o: Record<string, any>, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) return true;
    const v = m[1] === 'metadata.name' ? o.metadata?.name : m[1] === 'metadata.namespace' ? o.metadata?.namespace ?? '' : undefined;
    if (v === undefined) return true;
    return m[2] === '!=' ? v !== m[3] : v === m[3];
  });
}

export async function startObjectsApi(kubeconfigPath: string, objects: readonly Record<string, any>[]): Promise<ObjectsApi> {
  const served: Record<string, any>[] = objects.map((o, i) => ({ ...o, metadata: { uid: `uid-${i}`, resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z', ...o.metadata } }));
  const watches = new Set<ServerResponse>();
  const json = (res: ServerResponse, code: number, obj: unknown) => {
    const b = JSON.stringify(obj);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
    res.end(b);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/$/, '');
    if (path === '/version') return json(res, 200, { major: '1', minor: '34', gitVersion: 'v1.34.0', platform: 'linux/amd64' });
    if (path === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (req.method !== 'GET') return json(res, 405, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'MethodNotAllowed', code: 405 });
    const parts = path.split('/').filter(Boolean);
    const groupVersion = parts[0] === 'api' ? 'v1' : `${parts[1]}/${parts[2]}`;
    let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
    if (rest.length === 0) return json(res, 200, { kind: 'APIResourceList', groupVersion, resources: [] });
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource = '', name] = rest;
    const group = groupVersion.includes('/') ? groupVersion.split('/')[0] : '';
    const items = served.filter((o) => {
      const g = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/')[0] : '';
      return g === group && pluralOf(String(o.kind)) === resource && (namespace === undefined || (o.metadata.namespace ?? '') === namespace) && passes(o, url.searchParams.get('fieldSelector'));
    });
    const partial = /as=PartialObjectMetadata/.test(String(req.headers.accept ?? ''));
    const shape = (o: Record<string, any>) => (partial ? { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } : o);
    if (name) {
      const o = items.find((x) => x.metadata.name === name);
      return o ? json(res, 200, shape(o)) : json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    }
    const watch = url.searchParams.get('watch');
    if (watch === 'true' || watch === '1') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      if (url.searchParams.get('sendInitialEvents') === 'true') {
        for (const o of items) res.write(`${JSON.stringify({ type: 'ADDED', object: shape(o) })}\n`);
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: partial ? 'PartialObjectMetadata' : 'Status', metadata: { resourceVersion: '1', annotations: { 'k8s.io/initial-events-end': 'true' } } } })}\n`);
      }
      watches.add(res);
      res.on('close', () => watches.delete(res));
      return;
    }
    const kind = partial ? 'PartialObjectMetadataList' : `${kindOf(resource)}List`;
    return json(res, 200, { kind, apiVersion: partial ? 'meta.k8s.io/v1' : groupVersion, metadata: { resourceVersion: '1' }, items: items.map(shape) });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(kubeconfigPath, `apiVersion: v1
kind: Config
clusters: [{name: stand-in, cluster: {server: "http://127.0.0.1:${port}"}}]
contexts: [{name: stand-in, context: {cluster: stand-in, user: stand-in}}]
current-context: stand-in
users: [{name: stand-in, user: {}}]
`);
  return {
    kubeconfig: kubeconfigPath,
    close: () =>
      new Promise<void>((r) => {
        for (const w of watches) w.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
