/**
 * Locality load balancing end to end, with nothing but Istio YAML and pod labels: pods say where
 * they run with `topology.istio.io/locality` (region.zone), the client's sidecar sends to its own
 * zone, fails over to the other zone when its zone's endpoint is ejected, comes back when it
 * recovers, and `retryRemoteLocalities` sends a retry to the other zone while the local endpoint
 * still fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { startMesh } from '../helpers/mesh.ts';
import { until } from '../helpers/poll.ts';
import { kubeService, plaintextPeers } from '../helpers/yaml.ts';

const ECHO = 'echo.default.svc.cluster.local';

const SERVICE = `${kubeService('echo')}---\n${plaintextPeers('echo')}`;

const destinationRule = (consecutive: number) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: ${ECHO}
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: ${consecutive}, interval: 1s, baseEjectionTime: 2s, maxEjectionPercent: 100 }
`;

const retries = (remote: boolean) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [${ECHO}]
  http:
  - retries: { attempts: 2, retryOn: 5xx, retryRemoteLocalities: ${remote} }
    route: [{ destination: { host: ${ECHO} } }]
`;

interface Echo {
  failing: boolean;
  close(): Promise<void>;
}

/** Answers `{"who": name}` with 200, or 503 while `failing`. */
function startEcho(name: string, ip: string): Promise<Echo & { server: Server }> {
  const state = { failing: false };
  const server = createServer((req, res) => {
    req.resume();
    const body = JSON.stringify({ who: name });
    res.writeHead(state.failing ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  return new Promise((resolve) =>
    server.listen(8080, ip, () =>
      resolve({
        server,
        get failing() {
          return state.failing;
        },
        set failing(v: boolean) {
          state.failing = v;
        },
        close: () => new Promise<void>((done) => (server.close(() => done()), server.closeAllConnections())),
      }),
    ),
  );
}

test('locality from pod labels: same-zone first, failover on ejection, back on recovery; retryRemoteLocalities retries in the other zone', { timeout: 300_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'echo.yaml': SERVICE, 'dr.yaml': destinationRule(2) } });
  const echoes = new Map<string, Echo>();
  t.after(() => Promise.all([...echoes.values()].map((e) => e.close())));
  const pod = (name: string, locality: string) =>
    mesh.startPod({
      name,
      labels: { app: 'echo', 'topology.istio.io/locality': locality },
      ports: { http: 8080 },
      app: async (ip) => {
        const e = await startEcho(name, ip);
        echoes.set(name, e);
        return e;
      },
    });
  await Promise.all([pod('echo-a', 'us.zone-a'), pod('echo-b', 'us.zone-b')]);
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client', 'topology.istio.io/locality': 'us.zone-a' } });
  await client.waitFor('echo:80', '/', (r) => r.status === 200);

  const tally = async (n: number): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await client.request('echo:80', `/r/${i}`);
      const key = r.status === 200 ? r.json().who : String(r.status);
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  };

  // Both zones healthy: everything stays in the client's zone.
  await until(async () => (await tally(10))['echo-a'] === 10, 'traffic in zone-a', 30_000);
  const local = await tally(100);
  console.log(`locality (labels): all healthy, 100 requests ${JSON.stringify(local)}`);
  assert.deepEqual(local, { 'echo-a': 100 });

  // zone-a's endpoint fails: ejected after 2 consecutive 5xx, traffic fails over to zone-b.
  echoes.get('echo-a')!.failing = true;
  let seen = 0;
  await until(
    async () => {
      const r = await client.request('echo:80', '/probe');
      seen++;
      return r.status === 200 && r.json().who === 'echo-b';
    },
    'failover to zone-b',
    30_000,
  );
  const failover = await tally(100);
  console.log(`locality (labels): zone-a failing, failover after ${seen} requests, then 100 requests ${JSON.stringify(failover)}`);
  assert.deepEqual(failover, { 'echo-b': 100 });

  // zone-a recovers: back once its ejection ends (baseEjectionTime 2s).
  echoes.get('echo-a')!.failing = false;
  const back = Date.now();
  await until(async () => (await tally(5))['echo-a'] === 5, 'traffic back to zone-a', 30_000);
  console.log(`locality (labels): zone-a recovered, traffic back after ${Date.now() - back} ms`);

  // No ejection (threshold out of reach), zone-a fails every request: a retry that stays in the
  // client's zone finds the same failing endpoint; retryRemoteLocalities moves it to zone-b.
  await mesh.apply('dr.yaml', destinationRule(1000), [client]);
  echoes.get('echo-a')!.failing = true;
  await mesh.apply('vs.yaml', retries(false), [client]);
  const stayLocal = await tally(20);
  await mesh.apply('vs.yaml', retries(true), [client]);
  const remote = await tally(20);
  console.log(`locality (labels): zone-a failing, not ejected; retries in zone ${JSON.stringify(stayLocal)}, retryRemoteLocalities ${JSON.stringify(remote)}`);
  assert.deepEqual(stayLocal, { '503': 20 });
  assert.deepEqual(remote, { 'echo-b': 20 });
});
