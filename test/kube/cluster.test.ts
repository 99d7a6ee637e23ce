/**
 * The local Kubernetes control plane the other Kubernetes tests and `tsmesh demo --kube` stand
 * on: Kubernetes' own kube-apiserver, kube-controller-manager and kubectl with etcd, on loopback.
 * Checked as a user of kubectl sees it. There is no scheduler or kubelet: the test binds a pod
 * and writes its status through the API as a kubelet would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';

let kube: KubeCluster | undefined;
before(async () => {
  kube = await startKubeCluster(undefined, { controllerManager: true });
});
after(() => kube?.close());

/** kubectl that must succeed; returns stdout. */
async function ok(args: string[], input?: string): Promise<string> {
  const r = await kube!.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

async function json(args: string[]): Promise<any> {
  return JSON.parse(await ok([...args, '-o', 'json']));
}

const APP = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, version: v1}}
    spec:
      containers:
      - name: web
        image: docker.io/library/web:1
        ports: [{containerPort: 8080}]
`;

test('the API server is ready and is Kubernetes v1.37.2', async () => {
  assert.equal((await ok(['get', '--raw', '/readyz'])).trim(), 'ok');
  const v = await json(['version']);
  assert.equal(v.serverVersion.gitVersion, 'v1.37.2');
  assert.equal(v.clientVersion.gitVersion, 'v1.37.2');
  assert.match(kube!.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(kube!.caPem, /-----BEGIN CERTIFICATE-----/);
});

test('kubectl creates a namespace and applies a Service and a Deployment', async () => {
  assert.match(await ok(['create', 'namespace', 'shop']), /namespace\/shop created/);
  const out = await ok(['apply', '-f', '-'], APP);
  assert.match(out, /service\/web created/);
  assert.match(out, /deployment.apps\/web created/);
  const svc = await json(['-n', 'shop', 'get', 'service', 'web']);
  // A ClusterIP from the service range the launcher gives the API server.
  assert.match(svc.spec.clusterIP, /^10\.96\.\d+\.\d+$/);
});

test('the controller manager turns the Deployment into a ReplicaSet and Pending pods', async () => {
  const rs = await until(async () => (await json(['-n', 'shop', 'get', 'replicasets', '-l', 'app=web'])).items[0], 'a ReplicaSet for web', 60_000, 250);
  assert.equal(rs.metadata.ownerReferences[0].kind, 'Deployment');
  const pods = await until(
    async () => {
      const items = (await json(['-n', 'shop', 'get', 'pods', '-l', 'app=web'])).items;
      return items.length === 2 && items;
    },
    'two web pods',
    60_000,
    250,
  );
  for (const p of pods) {
    assert.equal(p.status.phase, 'Pending');
    assert.equal(p.spec.nodeName, undefined, 'no scheduler runs, so nothing binds the pod');
    // The ServiceAccount admission plugin mounted the default ServiceAccount's token.
    assert.equal(p.spec.serviceAccountName, 'default');
  }
});

test('a bound pod whose status says Ready becomes an endpoint of its Service', async () => {
  await ok(['apply', '-f', '-'], `apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {topology.kubernetes.io/region: local, topology.kubernetes.io/zone: local-a}
`);
  const pod = (await json(['-n', 'shop', 'get', 'pods', '-l', 'app=web'])).items[0];
  const name: string = pod.metadata.name;
  // What a scheduler does: a Binding, the pods/binding subresource.
  await ok(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: 'shop' }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-1' } }));
  assert.equal((await json(['-n', 'shop', 'get', 'pod', name])).spec.nodeName, 'node-1');
  // What a kubelet does: status through the status subresource. The IP is only a value stored in
  // the API (nothing dials it); EndpointSlices refuse loopback addresses, so it is not 127.x.
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ip = '10.244.0.5';
  const status = {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
    containerStatuses: [{ name: 'web', image: 'docker.io/library/web:1', imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } }],
  };
  await ok(['-n', 'shop', 'patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);

  const slice = await until(
    async () => {
      const items = (await json(['-n', 'shop', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=web'])).items;
      return items.find((s: any) => (s.endpoints ?? []).some((e: any) => e.addresses.includes(ip)));
    },
    `an EndpointSlice of web with ${ip}`,
    60_000,
    250,
  );
  assert.equal(slice.addressType, 'IPv4');
  assert.deepEqual(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  const ep = slice.endpoints.find((e: any) => e.addresses.includes(ip));
  assert.equal(ep.conditions.ready, true);
  assert.equal(ep.nodeName, 'node-1');
  assert.equal(ep.zone, 'local-a');
  assert.deepEqual(ep.targetRef, { kind: 'Pod', name, namespace: 'shop', uid: pod.metadata.uid });
});

test('a loopback pod IP never becomes an endpoint: Kubernetes refuses 127.0.0.0/8 in EndpointSlices', async () => {
  // Why a node played on one machine must report pod IPs outside 127.0.0.0/8: the real
  // EndpointSlice controller cannot publish them, and says so in an event on the Service.
  await ok(['apply', '-f', '-'], `apiVersion: v1
kind: Service
metadata: {name: lo, namespace: shop}
spec: {selector: {app: lo}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lo, namespace: shop, labels: {app: lo}}
spec: {nodeName: node-1, containers: [{name: lo, image: docker.io/library/lo:1}]}
`);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = { phase: 'Running', podIP: '127.0.1.5', podIPs: [{ ip: '127.0.1.5' }], conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] };
  await ok(['-n', 'shop', 'patch', 'pod', 'lo', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
  const event = await until(
    async () => (await json(['-n', 'shop', 'get', 'events', '--field-selector=involvedObject.kind=Service,involvedObject.name=lo'])).items.find((e: any) => e.reason === 'FailedToUpdateEndpointSlices'),
    'a FailedToUpdateEndpointSlices event on Service lo',
    60_000,
    250,
  );
  assert.match(event.message, /may not be in the loopback range/);
  const slices = (await json(['-n', 'shop', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=lo'])).items;
  assert.deepEqual(slices.flatMap((sl: any) => sl.endpoints ?? []), []);
});

test('objects survive a restart of the API server', async () => {
  const before = await json(['-n', 'shop', 'get', 'deployment', 'web']);
  await kube!.restartApiServer();
  assert.equal((await ok(['get', '--raw', '/readyz'])).trim(), 'ok');
  const after = await json(['-n', 'shop', 'get', 'deployment', 'web']);
  assert.equal(after.metadata.uid, before.metadata.uid);
  assert.equal(after.spec.replicas, 2);
  const ns = await json(['get', 'namespace', 'shop']);
  assert.equal(ns.status.phase, 'Active');
  // And the API server still takes writes, which the controller manager still acts on.
  await ok(['-n', 'shop', 'scale', 'deployment', 'web', '--replicas=3']);
  await until(async () => (await json(['-n', 'shop', 'get', 'pods', '-l', 'app=web'])).items.length === 3, 'a third web pod after the restart', 60_000, 250);
});
