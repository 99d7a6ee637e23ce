/**
 * "Nothing lost" while the mesh changes under load: ~5,000 HTTP requests from 4 keep-alive
 * clients through a client sidecar to server sidecars (pods) and plain backends (WorkloadEntries),
 * while 50 changes go through the control plane, spread over the run: VirtualService weights,
 * subsets and header routes (RDS), DestinationRule subsets and traffic policy (CDS: clusters
 * replaced while requests use their pools), WorkloadEntries and pods added and removed (EDS;
 * a removed WorkloadEntry's backend keeps running, a removed pod's sidecar gets SIGTERM and
 * drains). Retries are off, so any failure shows: every response must be 200 from a backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh, type Pod } from '../helpers/mesh.ts';
import { startBackend, startLoad, type Backend } from '../helpers/lifecycle.ts';
import { until } from '../helpers/poll.ts';
import { TYPE } from '../../src/xds/types.ts';

const ECHO = 'echo.default.svc.cluster.local';
const REQUESTS = 5000;
const CHANGES = 50;
const PER_CHANGE = Math.floor(REQUESTS / (CHANGES + 2));
const DRAIN = ['--drain-time-s', '10'];
/** What a change to each file changes for the client: routes, clusters, or endpoints. */
const CHANGED_TYPE: Record<string, string> = { 'vs.yaml': TYPE.ROUTE, 'dr.yaml': TYPE.CLUSTER, we: TYPE.ENDPOINT };
/** WorkloadEntry backends (no sidecar): 127.0.31.N:8080; we-1 (v3) stays, the others come and go. */
const WE_COUNT = 6;
const weIP = (n: number) => `127.0.31.${n}`;

const BASE = `
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec:
  mtls: { mode: DISABLE }
`;

function workloadEntry(n: number, version: string): string {
  return `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: we-${n}, namespace: default }
spec: { address: ${weIP(n)}, labels: { app: echo, version: ${version} }, ports: { http: 8080 } }
`;
}

/** Subsets v1..v3 always; `canary` (version v3) only while a change has added it. */
function destinationRule(k: number, canary: boolean): string {
  return `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: ${ECHO}
  trafficPolicy:
    # Plaintext like the PeerAuthentication (and the WorkloadEntry backends): no SDS secret in this mesh.
    tls: { mode: DISABLE }
    connectionPool:
      tcp: { maxConnections: ${100 + k}, connectTimeout: ${1 + (k % 3)}s }
      http: { http1MaxPendingRequests: ${1000 + k}, http2MaxRequests: ${1000 + k}${k % 4 === 1 ? ', maxRequestsPerConnection: 50' : ''} }
    outlierDetection: { consecutive5xxErrors: ${5 + k}, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }${canary ? '\n  - { name: canary, labels: { version: v3 }, trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } } }' : ''}
`;
}

/** Routes for change k: a weighted split over `subsets`, optionally a header route first. */
function virtualService(k: number, subsets: string[], header?: string): string {
  const w = subsets.map((_, i) => 1 + ((k * 7 + i * 13) % 10));
  const total = w.reduce((a, b) => a + b, 0);
  const pct = w.map((x) => Math.floor((100 * x) / total));
  pct[0]! += 100 - pct.reduce((a, b) => a + b, 0);
  const headerRoute = header
    ? `  - match: [{ headers: { x-group: { exact: ${header} } } }]
    retries: { attempts: 0 }
    route: [{ destination: { host: ${ECHO}, subset: ${subsets[subsets.length - 1]} } }]
`
    : '';
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [${ECHO}]
  http:
${headerRoute}  - retries: { attempts: 0 }
    route:
${subsets.map((s, i) => `    - { destination: { host: ${ECHO}, subset: ${s} }, weight: ${pct[i]} }`).join('\n')}
`;
}

test('nothing lost: 5,000 requests while routes, clusters and endpoints change 50 times', { timeout: 900_000 }, async (t) => {
  const mesh = await startMesh(t, {
    config: { 'base.yaml': BASE, 'dr.yaml': destinationRule(0, false), 'vs.yaml': virtualService(0, ['v1', 'v2', 'v3'], 'initial'), 'we-1.yaml': workloadEntry(1, 'v3') },
  });
  const backends: Backend[] = [];
  t.after(() => Promise.all(backends.map((b) => b.close())));
  for (let n = 1; n <= WE_COUNT; n++) backends.push(await startBackend(`we-${n}`, weIP(n), 8080));
  const valid = new Set(backends.map((b) => b.name));
  const pods = new Map<string, Pod>();
  const startServer = async (name: string, version: string) => {
    valid.add(name);
    const pod = await mesh.startPod({
      name,
      labels: { app: 'echo', version },
      ports: { http: 8080 },
      proxyArgs: DRAIN,
      app: async (ip) => {
        const b = await startBackend(name, ip, 8080);
        backends.push(b);
        return b;
      },
    });
    pods.set(name, pod);
    return pod;
  };
  await Promise.all([startServer('echo-v1', 'v1'), startServer('echo-v2', 'v2')]);
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' }, proxyArgs: DRAIN });
  for (const who of ['echo-v1', 'echo-v2', 'we-1']) await client.waitFor('echo:80', '/warmup', (r) => r.status === 200 && r.json().who === who);

  // The 50 changes, ten kinds in turn; each keeps every routed subset with at least one endpoint.
  let canary = false;
  let transientWE = 0;
  // Each change waits for the type it changes: a pod started or stopped by the change before
  // pushes EDS on its own schedule, and that push must not pass for this file's.
  const applyClient = (file: string, yaml: string | undefined) => mesh.apply(file, yaml, [client], undefined, [CHANGED_TYPE[file.startsWith('we-') ? 'we' : file]!]);
  const change = async (k: number): Promise<string> => {
    const cycle = Math.floor(k / 10);
    switch (k % 10) {
      case 0:
        await applyClient('vs.yaml', virtualService(k, ['v1', 'v2', 'v3']));
        return 'VirtualService weights';
      case 1:
        await applyClient('dr.yaml', destinationRule(k, canary));
        return 'DestinationRule traffic policy';
      case 2:
        transientWE = 2 + (cycle % (WE_COUNT - 1));
        await applyClient(`we-${transientWE}.yaml`, workloadEntry(transientWE, `v${1 + (cycle % 3)}`));
        return `WorkloadEntry we-${transientWE} added`;
      case 3:
        await applyClient('vs.yaml', virtualService(k, ['v2', 'v1', 'v3'], `g${cycle}`));
        return 'VirtualService header route';
      case 4: {
        if (cycle % 2 === 0) {
          await startServer(`echo-x${cycle}`, cycle % 4 === 0 ? 'v1' : 'v2');
          return `pod echo-x${cycle} added`;
        }
        const name = `echo-x${cycle - 1}`;
        // Like Kubernetes deleting a pod: its sidecar gets SIGTERM, withdraws and drains.
        await pods.get(name)!.stop();
        pods.delete(name);
        return `pod ${name} removed`;
      }
      case 5:
        canary = true;
        await applyClient('dr.yaml', destinationRule(k, canary));
        return 'DestinationRule subset canary added';
      case 6:
        await applyClient('vs.yaml', virtualService(k, ['v1', 'canary', 'v2']));
        return 'VirtualService routes to canary';
      case 7:
        await applyClient(`we-${transientWE}.yaml`, undefined);
        return `WorkloadEntry we-${transientWE} removed`;
      case 8:
        await applyClient('vs.yaml', virtualService(k, ['v3', 'v2'], `h${cycle}`));
        return 'VirtualService subsets v3/v2';
      default:
        canary = false;
        await applyClient('dr.yaml', destinationRule(k, canary));
        return 'DestinationRule subset canary removed';
    }
  };

  let applied = 0;
  const load = startLoad({
    url: client.outbound,
    host: 'echo:80',
    clients: 4,
    max: REQUESTS,
    deadlineMs: 600_000,
    valid: (who) => valid.has(who),
    // Every 8th request is slow, so changes (and removals) find requests in flight.
    path: (i) => (i % 8 === 0 ? `/r/${i}?delay=150` : `/r/${i}`),
    headers: (i): Record<string, string> => (i % 4 === 0 ? { 'x-group': `g${Math.floor(i / (10 * PER_CHANGE))}` } : {}),
    // Spread the changes over the run: request i waits until change ⌊i / PER_CHANGE⌋ - 2 is applied.
    mayStart: (i) => applied >= Math.min(CHANGES, Math.floor(i / PER_CHANGE) - 2),
  });
  const log: string[] = [];
  try {
    for (let k = 0; k < CHANGES; k++) {
      await until(() => load.sent >= k * PER_CHANGE + PER_CHANGE / 2 || load.sent >= REQUESTS, `request ${k * PER_CHANGE}`, 120_000);
      const inFlight = load.inFlight;
      const what = await change(k);
      log.push(`${k + 1}. ${what} (${inFlight} in flight, request #${load.sent})`);
      applied = k + 1;
    }
  } finally {
    applied = CHANGES;
    await load.done;
  }
  console.log(
    `nothing lost: ${load.sent} requests, ${load.ok} ok, ${load.failures.length} failed, ${log.length} changes; by backend ${JSON.stringify(Object.fromEntries(load.byBackend))}\n  ${log.join('\n  ')}` +
      (load.failures.length ? `\nfailures:\n  ${load.failures.slice(0, 30).join('\n  ')}` : ''),
  );
  assert.equal(log.length, CHANGES, 'every change was applied');
  assert.equal(load.sent, REQUESTS, 'every request was sent');
  assert.deepEqual(load.failures.slice(0, 30), [], `${load.failures.length} of ${load.sent} requests failed`);
  assert.equal(load.ok, REQUESTS);
});
