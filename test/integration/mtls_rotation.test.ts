/**
 * Workload certificates rotate under load without losing a request, and a CA outage loses
 * nothing while certificates are still valid. Two sidecars with agents (real CA, real SDS, real
 * TLS): a client reaching a STRICT server over mesh mTLS (auto mTLS). With a 4 s lifetime each
 * agent renews at about half of it; a bounded request loop runs meanwhile and must see only 200s,
 * each carrying the client's SPIFFE id in XFCC (so each went over mTLS). Then, with 20 s
 * certificates, the agents' way to the CA is cut across a renewal: requests keep succeeding, and
 * the agents renew once the CA is reachable again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { startMesh, type Mesh, type Pod } from '../helpers/mesh.ts';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { until } from '../helpers/poll.ts';

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: server, namespace: default }
spec:
  selector: { app: server }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec:
  mtls: { mode: STRICT }
`;

/** The app behind the server's sidecar: echoes the XFCC header it was given. */
function xfccEcho(ip: string): Promise<{ close(): Promise<void> }> {
  const s: Server = createServer((req, res) => res.end(String(req.headers['x-forwarded-client-cert'] ?? '')));
  const close = () => new Promise<void>((r) => (s.close(() => r()), s.closeAllConnections()));
  return new Promise((resolve) => s.listen(8080, ip, () => resolve({ close })));
}

const issued = (pod: Pod) => pod.proxy.output().split('\n').filter((l) => l.includes('agent: certificate issued')).length;

/** The last issued certificate's times, from the agent's log line. */
const lastIssued = (pod: Pod) => pod.proxy.output().split('\n').filter((l) => l.includes('agent: certificate issued')).at(-1) ?? '';
const renewingAt = (pod: Pod) => Date.parse(/renewing at (\S+)/.exec(lastIssued(pod))?.[1] ?? '');
const validUntil = (pod: Pod) => Date.parse(/valid until (\S+?);/.exec(lastIssued(pod))?.[1] ?? '');

interface LoadResult {
  ok: number;
  failures: string[];
}

/**
 * Sequential requests through the client's sidecar (4 in flight) until `done()` or the bounds
 * (count and time) run out. Every answer must be 200 with the client's identity in XFCC.
 */
async function load(client: Pod, done: () => boolean, maxMs: number, maxRequests = 200_000): Promise<LoadResult> {
  const r: LoadResult = { ok: 0, failures: [] };
  const deadline = Date.now() + maxMs;
  let sent = 0;
  const worker = async () => {
    while (!done() && Date.now() < deadline && sent < maxRequests) {
      sent++;
      try {
        const res = await client.request('server', '/', { timeoutMs: 5000 });
        if (res.status === 200 && res.body.includes('URI=spiffe://cluster.local/ns/default/sa/client')) r.ok++;
        else r.failures.push(`${res.status} ${res.body.slice(0, 200)}`);
      } catch (e) {
        r.failures.push(String(e));
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return r;
}

async function meshWithPair(t: Parameters<typeof startMesh>[0], certTtl: string): Promise<{ mesh: Mesh; client: Pod; server: Pod }> {
  const mesh = await startMesh(t, { config: { 'mesh.yaml': CONFIG } });
  const server = await mesh.startPod({ name: 'server', labels: { app: 'server' }, ports: { http: 8080 }, serviceAccount: 'server', identity: { certTtl }, app: xfccEcho });
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' }, serviceAccount: 'client', identity: { certTtl } });
  await client.waitFor('server', '/', (r) => r.status === 200 && r.body.includes('spiffe://cluster.local/ns/default/sa/client'));
  return { mesh, client, server };
}

test('certificates of 4 s rotate at least five times on both sides under load, with zero failed requests', { timeout: 180_000 }, async (t) => {
  const { client, server } = await meshWithPair(t, '4s');
  const start = { client: issued(client), server: issued(server) };
  const rotated = () => issued(client) - start.client >= 5 && issued(server) - start.server >= 5;
  const r = await load(client, rotated, 60_000);
  assert.ok(rotated(), `rotations: client ${issued(client) - start.client}, server ${issued(server) - start.server}\n${client.proxy.output().slice(-2000)}`);
  assert.deepEqual(r.failures.slice(0, 5), [], `${r.failures.length} of ${r.ok + r.failures.length} requests failed`);
  assert.ok(r.ok > 50, `only ${r.ok} requests in the window`);
  t.diagnostic(`${r.ok} requests, 0 failed, while the client rotated ${issued(client) - start.client} and the server ${issued(server) - start.server} times`);
});

/**
 * The way to the CA, as a TCP relay the test can cut: agents reach the CA through it, xDS does
 * not, so only the CA goes away (a partition between workloads and istiod's :15012).
 */
async function caRelay(target: number): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: NetServer | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      server = createNetServer((down) => {
        const up = connect(target, '127.0.0.1');
        for (const s of [down, up]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => undefined);
        }
        down.pipe(up).pipe(down);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server ? server.close(() => resolve()) : resolve();
      server = undefined;
    });
  await open();
  return { port, cut, restore: open, close: cut };
}

test('the CA unreachable across a renewal loses nothing while certificates are valid; the agents renew when it is back', { timeout: 180_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'mesh.yaml': CONFIG } });
  const relay = await caRelay(mesh.secureGrpcPort);
  t.after(() => relay.close());
  const identity = { certTtl: '20s', caAddress: `127.0.0.1:${relay.port}` };
  const server = await mesh.startPod({ name: 'server', labels: { app: 'server' }, ports: { http: 8080 }, serviceAccount: 'server', identity, app: xfccEcho });
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' }, serviceAccount: 'client', identity });
  await client.waitFor('server', '/', (r) => r.status === 200 && r.body.includes('spiffe://cluster.local/ns/default/sa/client'));
  // Cut from now until just past both agents' next renewal (about 10 s into a 20 s
  // certificate), read from their logs, so the outage spans a renewal and ends while both
  // certificates are still valid (a fixed 13 s cut outlived them when the pods were slow to start).
  // When the pods started far apart (a loaded machine), the earlier one's certificate expires
  // before the later one renews: wait for the earlier one's own renewal, which moves its expiry on.
  const window = () => ({ renewBy: Math.max(renewingAt(client), renewingAt(server)) + 1500, expiry: Math.min(validUntil(client), validUntil(server)) });
  for (let i = 0; i < 3 && window().renewBy >= window().expiry - 3000; i++) {
    const earlier = validUntil(client) <= validUntil(server) ? client : server;
    const before = issued(earlier);
    await until(() => issued(earlier) > before, 'the earlier pod renews with the CA reachable', 30_000, 100);
  }
  const { renewBy, expiry } = window();
  assert.ok(renewBy < expiry - 3000, `the outage ends well before the certificates expire: renewals by ${new Date(renewBy).toISOString()}, expiry ${new Date(expiry).toISOString()}`);
  const first = { client: issued(client), server: issued(server) };
  const cutAt = Date.now();
  await relay.cut();
  const down = await load(client, () => false, Math.max(2000, renewBy - Date.now()));
  assert.deepEqual(down.failures.slice(0, 5), [], `with the CA unreachable: ${down.failures.length} of ${down.ok + down.failures.length} failed`);
  assert.ok(down.ok > 20, `only ${down.ok} requests`);
  assert.equal(issued(client), first.client, 'no certificate while the CA is unreachable');
  assert.match(client.proxy.output(), /agent: .*(fail|retry|unavailable)/i, 'the agent noticed and retries');

  await relay.restore();
  const back = await load(client, () => issued(client) > first.client && issued(server) > first.server, 60_000);
  assert.ok(issued(client) > first.client && issued(server) > first.server, 'both agents renewed once the CA was reachable again');
  assert.deepEqual(back.failures.slice(0, 5), [], `after the CA came back: ${back.failures.length} of ${back.ok + back.failures.length} failed\n${server.proxy.output().slice(-3000)}`);
  t.diagnostic(`CA unreachable ${((renewBy - cutAt) / 1000).toFixed(1)} s: ${down.ok} requests, 0 failed; after it came back: ${back.ok} requests until both renewed`);
});
