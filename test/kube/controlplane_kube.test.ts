/**
 * The control plane in Kubernetes mode against a real kube-apiserver and kube-controller-manager
 * (test/helpers/kube.ts): what a sidecar receives over ADS comes from Services, Pods and the
 * EndpointSlice controller's slices; kubectl-applied Istio config changes routes; an API server
 * restart loses nothing and pushes nothing twice; of two replicas one (the Lease holder) writes
 * status.validationMessages; the CA takes projected service-account tokens via TokenReview.
 * There is no kubelet: the test writes Node and Pod status as one would. Pod IPs are in
 * 198.18.0.0/15, not 127.x: Kubernetes refuses loopback addresses in EndpointSlices (no traffic
 * goes to them here).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { caStateDir, spawnTsmesh } from '../helpers/processes.ts';
import { istioCrds } from '../../src/kube/crds/index.ts';
import { KubernetesMode } from '../../src/kube/controlplane.ts';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { AdsClient } from '../../src/xds/client/ads_client.ts';
import type { Watch } from '../../src/xds/client/types.ts';
import { TYPE } from '../../src/xds/types.ts';
import { CaClient } from '../../src/agent/ca_client.ts';
import { createWorkloadCsr } from '../../src/agent/csr.ts';
import type { KubeConfigStore } from '../../src/kube/config/store.ts';

const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
const REVIEWS_V1 = 'outbound|9080|v1|reviews.default.svc.cluster.local';
const NODE = 'node-1';

let kube: KubeCluster;
let heartbeat: NodeJS.Timeout | undefined;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await kube.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** What a kubelet reports for its node: Ready, heartbeat now (the node lifecycle controller checks it). */
async function nodeHeartbeat(): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'tsmesh test', lastHeartbeatTime: now, lastTransitionTime: now }] };
  await kube.kubectl(['patch', 'node', NODE, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

/** A pod bound to NODE and reported Running and Ready at `ip`, as the kubelet would. */
async function runPod(name: string, labels: Record<string, string>, serviceAccount: string, ip: string): Promise<void> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeName: NODE, serviceAccountName: serviceAccount, containers: [{ name: 'app', image: 'tsmesh/none', ports: [{ name: 'http', containerPort: 9080 }] }] },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(pod));
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ready = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
  const status = { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '127.0.0.1', startTime: now, conditions: [ready('Initialized'), ready('ContainersReady'), ready('Ready'), ready('PodScheduled')] };
  await kubectl(['patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

interface Running {
  kube: KubernetesMode;
  cp: ControlPlane<KubeConfigStore>;
}

/**
 * tsmesh's control plane in Kubernetes mode, in process, closed after the test. The lease is long
 * (15 s, renew deadline 10 s) so that a slow etcd write on a busy 2-core machine does not cost the
 * leader its lease mid-test; a released lease (close) is taken over at the next retry (300 ms).
 */
async function startControlPlane(t: { after(fn: () => unknown): void }, identity: string): Promise<Running> {
  const log = () => {};
  const mode = await KubernetesMode.connect({ kubeconfig: kube.kubeconfig, identity, lease: { durationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 300 }, statusDebounceMs: 100, syncTimeoutMs: 20_000, log });
  const cp = new ControlPlane<KubeConfigStore>({ ...mode.controlPlaneOptions(), grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir: caStateDir(t), debounce: { afterMs: 10, maxMs: 100 }, log });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await mode.close();
    await cp.close();
  };
  t.after(close);
  try {
    await cp.start();
  } catch (e) {
    await close();
    throw e;
  }
  mode.attach(cp);
  return { kube: mode, cp };
}

/** A sidecar's ADS client: every cluster, their endpoints and route "9080". */
function sidecar(t: { after(fn: () => unknown): void }, cp: ControlPlane<any>) {
  return sidecarAt(t, `127.0.0.1:${cp.grpcPort}`);
}

/** The same at any gRPC target (several replicas: `ipv4:127.0.0.1:p1,127.0.0.1:p2`). */
function sidecarAt(t: { after(fn: () => unknown): void }, address: string) {
  const node = { id: 'sidecar~198.18.10.9~productpage-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage' }, ISTIO_VERSION: '1.24.0', TSMESH_WORKLOAD_CERTIFICATES: 'true' } };
  const client = new AdsClient({ address, node, mode: 'sotw', backoff: { initialMs: 5, maxMs: 50 } });
  let eds: Watch | undefined;
  const updates = { cds: 0, eds: 0, rds: 0 };
  client.watch(TYPE.CLUSTER, '*', {
    onUpdate: (u) => {
      updates.cds++;
      eds!.setNames([...u.resources.values()].filter((r) => r.resource.type === 'EDS').map((r) => r.resource.eds_cluster_config?.service_name ?? r.resource.name));
    },
  });
  eds = client.watch(TYPE.ENDPOINT, [], { onUpdate: () => updates.eds++ });
  client.watch(TYPE.ROUTE, ['9080'], { onUpdate: () => updates.rds++ });
  client.start();
  t.after(() => client.close());
  const endpoints = (cluster: string): Array<{ address: string; region: string; zone: string }> =>
    (client.resources(TYPE.ENDPOINT).get(cluster)?.resource.endpoints ?? []).flatMap((l: any) =>
      l.lb_endpoints.map((e: any) => ({ address: e.endpoint.address.socket_address.address as string, region: l.locality?.region ?? '', zone: l.locality?.zone ?? '' })),
    );
  const routeClusters = () =>
    new Set<string>(((client.resources(TYPE.ROUTE).get('9080')?.resource.virtual_hosts ?? []) as any[]).flatMap((vh) => vh.routes.flatMap((r: any) => [r.route?.cluster, ...(r.route?.weighted_clusters?.clusters ?? []).map((c: any) => c.name)]).filter(Boolean)));
  return { client, endpoints, routeClusters, updates };
}

/** The control plane's counters as Prometheus reports them on /metrics. */
async function metric(cp: ControlPlane<any>, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cp.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * What the routing tests start from, whichever runs first (or alone with --test-name-pattern):
 * both reviews pods ready and reviews routed to v1 by a DestinationRule and VirtualService.
 */
async function reviewsV1AndV2(): Promise<void> {
  await runPod('reviews-v2', { app: 'reviews', version: 'v2' }, 'reviews', '198.18.10.2');
  await kubectl(['apply', '-f', '-'], `${destinationRule}---\n${virtualService('v1')}`);
}

const virtualService = (subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: ${subset}}
`;

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

describe('control plane on Kubernetes', { timeout: 600_000 }, () => {
  // Registered here, not from inside before(): node:test runs an after() added in a hook when that hook ends.
  after(() => kube?.close());
  before(async () => {
    kube = await startKubeCluster(undefined, { controllerManager: true });
    // The CRDs as `tsmesh install` makes them (create: they are too big for apply's annotation).
    await kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: istioCrds() }));
    // Polled rather than `kubectl wait`, which errors on a CRD whose status is not written yet.
    await until(async () => {
      const crds = JSON.parse(await kubectl(['get', 'crd', '-l', 'app=istio-pilot', '-o', 'json'])).items as any[];
      return crds.length > 0 && crds.every((c) => (c.status?.conditions ?? []).some((x: any) => x.type === 'Established' && x.status === 'True'));
    }, 'the Istio CRDs established', 60_000, 200);
    await kubectl(['create', 'namespace', 'istio-system']);
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1a' } } }));
    await nodeHeartbeat();
    heartbeat = setInterval(() => void nodeHeartbeat().catch(() => undefined), 10_000);
    await kubectl(['create', 'serviceaccount', 'reviews']);
    await kubectl(['apply', '-f', '-'], `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default, labels: {app: reviews}}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
`);
    await runPod('reviews-v1', { app: 'reviews', version: 'v1' }, 'reviews', '198.18.10.1');
  });
  after(() => clearInterval(heartbeat));

  test('EndpointSlices reach a sidecar as EDS with the Node locality; kubectl-applied routing changes its routes', async (t) => {
    const { cp } = await startControlPlane(t, 'cp-eds');
    const s = sidecar(t, cp);
    const first = await until(() => s.endpoints(REVIEWS).find((e) => e.address === '198.18.10.1'), 'reviews-v1 in EDS (from the EndpointSlice controller)', 60_000);
    assert.deepEqual(first, { address: '198.18.10.1', region: 'eu-west', zone: 'eu-west-1a' });
    const svc = cp.registry.getService('reviews.default.svc.cluster.local');
    assert.ok(svc?.addresses[0], 'the Service carries its cluster IP');

    // A second pod becomes ready: the slice grows, the sidecar sees both.
    await runPod('reviews-v2', { app: 'reviews', version: 'v2' }, 'reviews', '198.18.10.2');
    await until(() => s.endpoints(REVIEWS).length === 2, 'both reviews pods in EDS', 60_000);

    await kubectl(['apply', '-f', '-'], `${destinationRule}---\n${virtualService('v1')}`);
    await until(() => s.routeClusters().has(REVIEWS_V1) && !s.routeClusters().has(REVIEWS), 'route 9080 to send reviews to v1', 30_000);
    // The subset's cluster comes with the route; its endpoints follow over EDS.
    const v1 = await until(() => s.endpoints(REVIEWS_V1).length > 0 && s.endpoints(REVIEWS_V1), 'endpoints of the v1 subset', 30_000);
    assert.deepEqual(v1.map((e) => e.address), ['198.18.10.1'], 'the v1 subset holds the v1 pod only (labels from the Pod)');

  });

  test('an API server restart loses nothing and pushes nothing twice', async (t) => {
    await reviewsV1AndV2();
    const { cp, kube: mode } = await startControlPlane(t, 'cp-restart');
    const s = sidecar(t, cp);
    await until(() => s.endpoints(REVIEWS).length === 2 && s.routeClusters().has(REVIEWS_V1), 'the sidecar synced', 60_000);
    await cp.discovery.idle();
    const triggers = async () => ({
      config: await metric(cp, 'pilot_push_triggers', 'type="config"'),
      service: await metric(cp, 'pilot_push_triggers', 'type="service"'),
      endpoint: await metric(cp, 'pilot_push_triggers', 'type="endpoint"'),
    });
    const before = await triggers();
    const updates = { ...s.updates };
    const lists = [...mode.store.informers.values()].reduce((n, i) => n + i.lists, 0);

    await kube.restartApiServer();
    // Changed right away, likely while the informers are still reconnecting: it must arrive once.
    await kubectl(['apply', '-f', '-'], virtualService('v2'));
    await until(() => s.routeClusters().has('outbound|9080|v2|reviews.default.svc.cluster.local'), 'the change made across the restart to reach the sidecar', 60_000);
    await cp.discovery.idle();

    const afterRestart = await triggers();
    assert.equal(afterRestart.config - before.config, 1, 'one config push: the VirtualService change, nothing replayed');
    assert.equal(afterRestart.service - before.service, 0, 'no service push: nothing about Services changed');
    assert.equal(afterRestart.endpoint - before.endpoint, 0, 'no endpoint push: nothing about endpoints changed');
    assert.equal(s.updates.eds, updates.eds, 'the sidecar got no EDS response again');
    assert.equal(s.endpoints(REVIEWS).length, 2, 'nothing lost: both endpoints still served');
    assert.equal(cp.store.list('DestinationRule').length, 1, 'nothing lost: the DestinationRule still served');
    t.diagnostic(`informer lists before ${lists}, after ${[...mode.store.informers.values()].reduce((n, i) => n + i.lists, 0)} (a relist happens on 410 Gone)`);
    await kubectl(['apply', '-f', '-'], virtualService('v1'));
  });

  test('of two replicas the Lease holder alone writes status.validationMessages; the other takes over when it goes', async (t) => {
    const a = await startControlPlane(t, 'cp-a');
    const b = await startControlPlane(t, 'cp-b');
    const leader = await until(() => (a.kube.leader.leading ? a : b.kube.leader.leading ? b : undefined), 'a leader', 60_000);
    const other = leader === a ? b : a;
    assert.equal(other.kube.leader.leading, false, 'one leader at a time');
    const lease = JSON.parse(await kubectl(['get', 'lease', '-n', 'istio-system', 'istio-analyze-leader', '-o', 'json']));
    assert.equal(lease.spec.holderIdentity, leader.kube.leader.identity);

    // A route to a host that does not exist: Istio's IST0101 (ReferencedResourceNotFound).
    const dangling = (name: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.example.com]
  http:
  - route:
    - destination: {host: nowhere.default.svc.cluster.local}
`;
    const messages = async (name: string) => JSON.parse(await kubectl(['get', 'virtualservice', name, '-o', 'json'])).status?.validationMessages ?? [];
    await kubectl(['apply', '-f', '-'], dangling('dangling-1'));
    const m1 = await until(async () => {
      const ms = await messages('dangling-1');
      return ms.length > 0 ? ms : undefined;
    }, 'status.validationMessages on dangling-1', 30_000, 200);
    assert.ok(m1.some((m: any) => m.type?.code === 'IST0101' && m.level === 'ERROR'), JSON.stringify(m1));
    assert.ok(leader.kube.status.writes > 0, 'the leader wrote');
    assert.equal(other.kube.status.writes, 0, 'the other replica wrote nothing');

    // The leader goes (it releases the Lease): the other replica takes over and writes.
    await leader.kube.close();
    await until(() => other.kube.leader.leading, 'the other replica to lead', 30_000);
    await kubectl(['apply', '-f', '-'], dangling('dangling-2'));
    const m2 = await until(async () => {
      const ms = await messages('dangling-2');
      return ms.length > 0 ? ms : undefined;
    }, 'status.validationMessages on dangling-2 from the new leader', 30_000, 200);
    assert.ok(m2.some((m: any) => m.type?.code === 'IST0101'));
    assert.ok(other.kube.status.writes > 0);
    await kubectl(['delete', 'virtualservice', 'dangling-1', 'dangling-2']);
  });

  test('a CSR with a projected service-account token (audience istio-ca) gets that SA\'s SPIFFE id; another audience is refused', async (t) => {
    const { cp } = await startControlPlane(t, 'cp-ca');
    await kubectl(['create', 'serviceaccount', 'ratings']);
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-kube-csr-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sign = async (audience: string, spiffe: string) => {
      const token = (await kubectl(['create', 'token', 'ratings', '--audience', audience])).trim();
      const tokenFile = join(dir, `token-${audience}`);
      writeFileSync(tokenFile, token);
      const client = new CaClient({ address: `127.0.0.1:${cp.secureGrpcPort}`, rootCertFile: join(cp.stateDir, 'ca', 'root-cert.pem'), tokenFile, timeoutMs: 10_000 });
      try {
        const { csrPem } = await createWorkloadCsr(spiffe);
        return await client.sign(csrPem, 3600);
      } finally {
        client.close();
      }
    };
    const id = 'spiffe://cluster.local/ns/default/sa/ratings';
    const chain = await sign('istio-ca', id);
    assert.equal(new X509Certificate(chain[0]!).subjectAltName, `URI:${id}`);

    await assert.rejects(sign('not-istio', id), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /istio-ca|not accepted/.test(e.details));
    await assert.rejects(sign('istio-ca', 'spiffe://cluster.local/ns/default/sa/reviews'), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
  });

  test('a sidecar given both replicas (ipv4:a,b) fails over to the other when its replica is killed', async (t) => {
    await reviewsV1AndV2();
    // Replica a in its own process, so it can be SIGKILLed: no GOAWAY, no Lease release, sockets just die.
    const ready = /tsmesh controlplane ready: xds grpc [^\s,]+:(\d+)/;
    const a = await spawnTsmesh(['controlplane', '--kubeconfig', kube.kubeconfig, '--grpc-port', '0', '--http-port', '0', '--secure-grpc-port', '0', '--zipkin-port', 'off', '--state-dir', caStateDir(t)], ready, { env: { POD_NAME: 'cp-fo-a' }, timeoutMs: 90_000 });
    t.after(() => a.stop('SIGKILL'));
    const aPort = Number(ready.exec(a.output())![1]);
    const b = await startControlPlane(t, 'cp-fo-b');
    // pick_first: the sidecar takes the first address that answers, a.
    const s = sidecarAt(t, `ipv4:127.0.0.1:${aPort},127.0.0.1:${b.cp.grpcPort}`);
    await until(() => s.endpoints(REVIEWS).length === 2 && s.routeClusters().has(REVIEWS_V1), 'the sidecar synced', 60_000);
    assert.equal(b.cp.discovery.liveConnections().length, 0, 'the sidecar is served by replica a');
    assert.equal(await a.stop('SIGKILL'), null, 'replica a killed');
    await until(() => b.cp.discovery.liveConnections().length > 0, 'the sidecar reconnected to replica b', 30_000);
    // Config still flows: a change made now reaches it through the surviving replica.
    await kubectl(['apply', '-f', '-'], virtualService('v2'));
    await until(() => s.routeClusters().has('outbound|9080|v2|reviews.default.svc.cluster.local'), 'the change through the surviving replica', 30_000);
    await kubectl(['apply', '-f', '-'], virtualService('v1'));
  });

  test('tsmesh controlplane --kubeconfig serves the cluster; a missing kubeconfig is an error that says what to do', async (t) => {
    await reviewsV1AndV2();
    const stateDir = caStateDir(t);
    const ready = /tsmesh controlplane ready: xds grpc [^\s,]+:(\d+), http [^\s,]+:(\d+).* resources from (https:\S+)/;
    const proc = await spawnTsmesh(['controlplane', '--kubeconfig', kube.kubeconfig, '--grpc-port', '0', '--http-port', '0', '--secure-grpc-port', '0', '--zipkin-port', 'off', '--state-dir', stateDir], ready, { env: { POD_NAME: 'cp-cli' }, timeoutMs: 90_000 });
    t.after(() => proc.stop());
    const m = ready.exec(proc.output())!;
    assert.equal(m[3], kube.server);
    const registryz = await until(async () => {
      const r = (await (await fetch(`http://127.0.0.1:${m[2]}/debug/registryz`)).json()) as { endpoints: Record<string, Array<{ address: string }>> };
      const eps = r.endpoints['reviews.default.svc.cluster.local|9080'] ?? [];
      return eps.length === 2 ? eps : undefined;
    }, 'reviews endpoints on /debug/registryz', 30_000);
    assert.deepEqual(registryz.map((e) => e.address).sort(), ['198.18.10.1', '198.18.10.2']);
    assert.equal(await proc.stop('SIGTERM'), 0);

    const bad = await spawnTsmesh(['controlplane', '--kubeconfig', join(stateDir, 'nope.kubeconfig')], /never/, { timeoutMs: 30_000 }).catch((e: Error) => e);
    assert.ok(bad instanceof Error && /exited with 2/.test(bad.message) && /kubeconfig .*nope\.kubeconfig not found; point --kubeconfig/.test(bad.message), String(bad));
  });

  test('meshConfig.discoverySelectors from the istio ConfigMap: only selected namespaces contribute, as their labels change', async (t) => {
    const { cp } = await startControlPlane(t, 'cp-selectors');
    await kubectl(['create', 'namespace', 'hidden']);
    await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: Service\nmetadata: {name: vault, namespace: hidden}\nspec:\n  ports: [{name: http, port: 8200}]\n');
    const has = (host: string) => cp.registry.getService(host) !== undefined;
    await until(() => has('vault.hidden.svc.cluster.local'), 'vault while nothing restricts discovery', 30_000);

    await kubectl(['label', 'namespace', 'default', 'tsmesh-discovery=on']);
    await kubectl(['create', 'configmap', 'istio', '-n', 'istio-system', '--from-literal=mesh=discoverySelectors:\n- matchLabels: {tsmesh-discovery: "on"}\n']);
    t.after(async () => {
      await kube.kubectl(['delete', 'configmap', 'istio', '-n', 'istio-system']);
      await kube.kubectl(['delete', 'namespace', 'hidden', '--wait=false']);
    });
    await until(() => !has('vault.hidden.svc.cluster.local'), 'vault gone once the selectors leave its namespace out', 30_000);
    assert.ok(has('reviews.default.svc.cluster.local'), 'the selected namespace still contributes');

    await kubectl(['label', 'namespace', 'hidden', 'tsmesh-discovery=on']);
    await until(() => has('vault.hidden.svc.cluster.local'), 'vault back once its namespace is labelled', 30_000);
  });
});
