/**
 * An empty Kubernetes API on loopback, only so that pilot-discovery can start: Istio's master
 * (2026-08) builds its ServiceEntry registry on the Kubernetes multicluster controller, which
 * exists only with a Kubernetes client, so `--configDir` alone panics at start-up. This server
 * answers every list with nothing (namespaces aside: the mesh's own), holds watches open without
 * events, accepts writes by echoing them (leader election, CA secret, root-cert ConfigMaps) and
 * says 404 to reads of single objects. The mesh itself still comes from the YAML directory:
 * istiod's Kubernetes registry sees no Services, Pods or EndpointSlices. JSON only
 * (ISTIO_KUBE_CLIENT_CONTENT_TYPE=json). Not a Kubernetes: a stand-in with no state.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface FakeKube {
  kubeconfig: string;
  requests(): number;
  close(): Promise<void>;
}

/** Kinds of the lists istiod's informers ask for; others are derived from the plural. */
const KINDS: Record<string, string> = {
  namespaces: 'Namespace', services: 'Service', pods: 'Pod', endpointslices: 'EndpointSlice', endpoints: 'Endpoints',
  nodes: 'Node', secrets: 'Secret', configmaps: 'ConfigMap', serviceaccounts: 'ServiceAccount', leases: 'Lease',
  customresourcedefinitions: 'CustomResourceDefinition', mutatingwebhookconfigurations: 'MutatingWebhookConfiguration',
  validatingwebhookconfigurations: 'ValidatingWebhookConfiguration', ingresses: 'Ingress', ingressclasses: 'IngressClass',
  gatewayclasses: 'GatewayClass', httproutes: 'HTTPRoute', grpcroutes: 'GRPCRoute', tcproutes: 'TCPRoute', tlsroutes: 'TLSRoute',
  udproutes: 'UDPRoute', referencegrants: 'ReferenceGrant', backendtlspolicies: 'BackendTLSPolicy', serviceentries: 'ServiceEntry',
  workloadentries: 'WorkloadEntry', workloadgroups: 'WorkloadGroup', clustertrustbundles: 'ClusterTrustBundle',
  certificatesigningrequests: 'CertificateSigningRequest', daemonsets: 'DaemonSet', deployments: 'Deployment',
};
function kindOf(resource: string): string {
  return KINDS[resource] ?? resource.charAt(0).toUpperCase() + resource.slice(1).replace(/ies$/, 'y').replace(/s$/, '');
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, uid: `uid-${name}`, resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z', ...extra });

/** Starts the stand-in and writes a kubeconfig pointing at it. */
export async function startFakeKube(kubeconfigPath: string, namespaces: string[]): Promise<FakeKube> {
  const nsItems = [...new Set(['istio-system', 'default', 'kube-system', ...namespaces])].map((n) => ({
    metadata: meta(n, { labels: { 'kubernetes.io/metadata.name': n } }),
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }));
  let count = 0;
  const watches = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    count++;
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => handle(req, res, body));
  });
  const json = (res: ServerResponse, code: number, obj: unknown) => {
    const b = JSON.stringify(obj);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
    res.end(b);
  };
  const status = (res: ServerResponse, code: number, reason: string) => json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 300 ? 'Success' : 'Failure', reason, code });

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/$/, '');
    if (path === '/version') return json(res, 200, { major: '1', minor: '34', gitVersion: 'v1.34.0', platform: 'linux/amd64' });
    if (path === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return void res.end('ok');
    // /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]]  or  /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME]
    const parts = path.split('/').filter(Boolean);
    let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
    if (rest.length === 0) return json(res, 200, { kind: 'APIResourceList', groupVersion: parts.slice(1).join('/'), resources: [] });
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource = '', name] = rest;
    const isNamespaces = resource === 'namespaces' && !namespace;
    const groupVersion = parts[0] === 'api' ? 'v1' : `${parts[1]}/${parts[2]}`;
    // Metadata-only informers ask for PartialObjectMetadataList in the Accept header.
    const partial = /as=PartialObjectMetadata/.test(String(req.headers.accept ?? ''));
    const itemKind = partial ? { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' } : { kind: kindOf(resource), apiVersion: groupVersion };
    const listKind = { kind: `${itemKind.kind}List`, apiVersion: itemKind.apiVersion };
    if (req.method === 'GET') {
      if (name) {
        const ns = isNamespaces ? nsItems.find((n) => n.metadata.name === name) : undefined;
        return ns ? json(res, 200, { ...itemKind, ...ns }) : status(res, 404, 'NotFound');
      }
      const items = (isNamespaces ? nsItems : []).map((it) => ({ ...itemKind, ...(partial ? { metadata: it.metadata } : it) }));
      const watch = url.searchParams.get('watch');
      if (watch === 'true' || watch === '1') {
        // Initial events when asked for (client-go's WatchList), then nothing until the timeout.
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        if (url.searchParams.get('sendInitialEvents') === 'true') {
          for (const it of items) res.write(`${JSON.stringify({ type: 'ADDED', object: it })}\n`);
          res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { ...itemKind, metadata: { resourceVersion: '1', annotations: { 'k8s.io/initial-events-end': 'true' } } } })}\n`);
        }
        watches.add(res);
        const t = setTimeout(() => res.end(), Math.min(Number(url.searchParams.get('timeoutSeconds') ?? 300), 300) * 1000);
        res.on('close', () => {
          clearTimeout(t);
          watches.delete(res);
        });
        return;
      }
      return json(res, 200, { ...listKind, metadata: { resourceVersion: '1' }, items });
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      let obj: Record<string, any> = {};
      try {
        obj = JSON.parse(body || '{}');
      } catch {
        return status(res, 400, 'BadRequest');
      }
      obj.metadata = { ...(obj.metadata ?? {}), ...meta(obj.metadata?.name ?? name ?? 'x'), ...(namespace ? { namespace } : {}) };
      return json(res, req.method === 'POST' ? 201 : 200, obj);
    }
    if (req.method === 'DELETE') return status(res, 200, '');
    return status(res, 404, 'NotFound'); // PATCH of an object that was never stored
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(
    kubeconfigPath,
    `apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: http://127.0.0.1:${port}
contexts:
- name: bench
  context:
    cluster: bench
    user: bench
current-context: bench
users:
- name: bench
  user: {}
`,
  );
  return {
    kubeconfig: kubeconfigPath,
    requests: () => count,
    close: () =>
      new Promise<void>((r) => {
        for (const w of watches) w.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
