/**
 * Acceptance (issue 11, point 8): resilience for proxyless gRPC. gRPC's own xDS client
 * (@grpc/grpc-js-xds, which nobody here wrote) runs beside `tsmesh agent --grpc-bootstrap` and
 * calls an echo service with two servers, while the Istio YAML changes under it:
 * - a VirtualService fault abort with httpStatus 503 ends calls with UNAVAILABLE (gRFC A33 maps
 *   HTTP 503 to 14), and one with grpcStatus PERMISSION_DENIED with that status; no call
 *   reaches a server;
 * - with one server failing every call with UNAVAILABLE, VirtualService retries (gRFC A44) make
 *   every call succeed on the other server; without retries calls fail;
 * - a DestinationRule outlierDetection makes the client eject the failing server (gRFC A50):
 *   afterwards every call goes to the good one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { until } from '../helpers/poll.ts';
import { REPO, spawnTsmesh, startControlPlane, type ControlPlaneProc } from '../helpers/processes.ts';
import { loadEchoPackage } from '../../samples/grpc-echo/main.ts';
import { loadBalancerFactory } from '../../src/proxy/upstream/load_balancer.ts';
import '../../src/proxy/upstream/ring_hash.ts';
import { makeHost } from '../../src/proxy/upstream/eds.ts';
import { StatsStore } from '../../src/proxy/stats/stats_store.ts';

const HOST = 'echo.default.svc.cluster.local';

/** A plain gRPC echo server that answers with its name, or fails with UNAVAILABLE while `failing`. */
async function echoServer(name: string): Promise<{ port: number; calls: () => number; setFailing: (f: boolean) => void; close: () => Promise<void> }> {
  const Echo = loadEchoPackage().echo.EchoService;
  let calls = 0;
  let failing = false;
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Echo(call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      calls++;
      if (failing) return cb({ code: grpc.status.UNAVAILABLE, details: `${name} is failing` });
      cb(null, { message: call.request.message, version: name, hostname: name });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    calls: () => calls,
    setFailing: (f) => void (failing = f),
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}

function services(goodPort: number, badPort: number): string {
  return servicesFor([['echo-good', goodPort], ['echo-bad', badPort]]);
}

/** The echo Service and one WorkloadEntry per [name, port] (all on 127.0.0.1). */
function servicesFor(entries: Array<[string, number]>): string {
  const entry = (name: string, port: number) => `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: default }
spec: { address: 127.0.0.1, labels: { app: echo }, serviceAccount: echo-sa, ports: { grpc: ${port} } }
`;
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: grpc, port: 7070 }]
${entries.map(([n, p]) => entry(n, p)).join('')}`;
}

function virtualService(http: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [${HOST}]
  http:
  - ${http}
    route: [{ destination: { host: ${HOST} } }]
`;
}

const OUTLIER = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100 }
`;

/** `tsmesh agent --grpc-bootstrap` for the client workload (certificate from our CA, bootstrap written). */
async function startAgent(t: TestContext, dir: string, cp: ControlPlaneProc): Promise<string> {
  const tokenFile = join(dir, 'client.token');
  writeFileSync(tokenFile, await issueWorkloadToken(cp.stateDir, { namespace: 'default', serviceAccount: 'client-sa' }));
  const bootstrap = join(dir, 'client-bootstrap.json');
  const agent = await spawnTsmesh(
    [
      'agent', '--grpc-bootstrap', bootstrap, '--cert-dir', join(dir, 'client-certs'),
      '--discovery-address', `127.0.0.1:${cp.grpcPort}`, '--ca-address', `127.0.0.1:${cp.secureGrpcPort}`,
      '--ca-root-cert', join(cp.stateDir, 'ca', 'root-cert.pem'), '--token-file', tokenFile,
      '--namespace', 'default', '--service-account', 'client-sa', '--workload-name', 'client', '--labels', 'app=client', '--ip', '127.0.0.1',
    ],
    /tsmesh agent ready/,
  );
  t.after(() => agent.stop());
  return bootstrap;
}

type Answer = { ok: true; reply: { version: string } } | { ok: false; code: number; details: string };

/** The grpc-echo sample client on `xds:///echo...` as its own process; `call(line)` makes one call (a tab then name=value pairs adds metadata). */
function startClient(t: TestContext, bootstrap: string): (line?: string) => Promise<Answer> {
  const client = spawn(process.execPath, ['--import', 'tsx', 'samples/grpc-echo/client.ts', `xds:///${HOST}:7070`, '--timeout-ms', '3000'], {
    cwd: REPO,
    env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap, GRPC_TRACE: process.env.DBG_TRACE ?? '', GRPC_VERBOSITY: process.env.DBG_TRACE ? 'DEBUG' : 'ERROR' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    client.stdin!.end();
    client.kill();
  });
  const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  return async (line = 'hi'): Promise<Answer> => {
    client.stdin!.write(`${line}\n`);
    const { value, done } = await lines.next();
    if (done) throw new Error('the gRPC client process exited');
    return JSON.parse(value) as Answer;
  };
}

test('proxyless gRPC: VirtualService faults, retries and DestinationRule outlier detection are enforced by a grpc-js-xds client', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-resilience-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = await echoServer('good');
  const bad = await echoServer('bad');
  t.after(() => Promise.all([good.close(), bad.close()]));
  writeFileSync(join(dir, 'echo.yaml'), services(good.port, bad.port));
  writeFileSync(join(dir, 'vs.yaml'), virtualService('fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }'));
  const cp = await startControlPlane(dir);
  t.after(() => cp.stop());
  const bootstrap = await startAgent(t, dir, cp);

  const call = startClient(t, bootstrap);
  /** `n` calls: how many each server answered, and the failures by gRPC status code. */
  const batch = async (n: number) => {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const a = await call();
      const k = a.ok ? a.reply.version : `code ${a.code}`;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  };
  const served = () => good.calls() + bad.calls();

  // 1. Fault abort with httpStatus 503: UNAVAILABLE, and no server sees the call.
  const abort = await until(async () => {
    const a = await call();
    return !a.ok && a.code === grpc.status.UNAVAILABLE ? a : undefined;
  }, 'the 503 fault abort to show as UNAVAILABLE', 30_000, 200);
  const before = served();
  const aborted = await batch(20);
  t.diagnostic(`fault abort httpStatus 503: ${JSON.stringify(aborted)}; details "${(abort as { details: string }).details}"`);
  assert.deepEqual(aborted, { 'code 14': 20 });
  assert.equal(served(), before, 'aborted calls never reach a server');

  // grpcStatus: the status itself.
  writeFileSync(join(dir, 'vs.yaml'), virtualService('fault: { abort: { grpcStatus: PERMISSION_DENIED, percentage: { value: 100 } } }'));
  await until(async () => {
    const a = await call();
    return !a.ok && a.code === grpc.status.PERMISSION_DENIED;
  }, 'the grpcStatus fault abort to show as PERMISSION_DENIED', 15_000, 100);
  const denied = await batch(20);
  t.diagnostic(`fault abort grpcStatus PERMISSION_DENIED: ${JSON.stringify(denied)}`);
  assert.deepEqual(denied, { 'code 7': 20 });

  // 2. One server fails every call. Without retries (attempts 0) calls fail; with retries on
  // unavailable every call ends on the good server.
  bad.setFailing(true);
  writeFileSync(join(dir, 'vs.yaml'), virtualService('retries: { attempts: 0 }'));
  const noRetry = await until(async () => {
    const b = await batch(20);
    return b['code 7'] === undefined && (b['code 14'] ?? 0) > 0 ? b : undefined;
  }, 'calls without retries to fail on the bad server', 15_000, 100);
  t.diagnostic(`one server failing, retries off: ${JSON.stringify(noRetry)}`);

  writeFileSync(join(dir, 'vs.yaml'), virtualService('retries: { attempts: 3, retryOn: unavailable }'));
  const badBefore = bad.calls();
  const retried = await until(async () => {
    const b = await batch(40);
    return b.good === 40 ? b : undefined;
  }, 'retries to turn every call into a success', 15_000, 100);
  t.diagnostic(`one server failing, retries on unavailable: ${JSON.stringify(retried)}; the failing server was still tried ${bad.calls() - badBefore} times`);
  assert.ok(bad.calls() > badBefore, 'the failing server was tried, and the retries went to the good one');

  // 3. Outlier detection, retries off so that failures would show: the failing server is
  // ejected, then every call goes to the good one.
  writeFileSync(join(dir, 'vs.yaml'), virtualService('retries: { attempts: 0 }'));
  writeFileSync(join(dir, 'dr.yaml'), OUTLIER);
  const started = Date.now();
  let failedWhileLearning = 0;
  await until(async () => {
    const b = await batch(20);
    failedWhileLearning += b['code 14'] ?? 0;
    return b.good === 20;
  }, 'the client to eject the failing server', 30_000, 0);
  const badAtEjection = bad.calls();
  const after = await batch(100);
  t.diagnostic(`outlier detection: ejected after ${Date.now() - started} ms (${failedWhileLearning} failed calls before); then ${JSON.stringify(after)}, failing server got ${bad.calls() - badAtEjection} of 100`);
  assert.deepEqual(after, { good: 100 });
  assert.equal(bad.calls(), badAtEjection, 'the ejected server gets no calls');
});

const RING_HASH = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy:
    loadBalancer: { consistentHash: { httpHeaderName: x-user } }
`;

test('proxyless gRPC: a DestinationRule consistentHash on a header is ring hash in a grpc-js-xds client, and it picks the host the tsmesh proxy picks', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-grpc-ringhash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const servers = await Promise.all(['e1', 'e2', 'e3'].map((n) => echoServer(n)));
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const byPort = new Map(servers.map((s, i) => [s.port, `e${i + 1}`]));
  writeFileSync(join(dir, 'echo.yaml'), servicesFor(servers.map((s, i) => [`echo-${i + 1}`, s.port])));
  writeFileSync(join(dir, 'dr.yaml'), RING_HASH);
  const cp = await startControlPlane(dir);
  t.after(() => cp.stop());
  const call = startClient(t, await startAgent(t, dir, cp));
  await until(async () => (await call()).ok, 'the client to reach the echo service', 30_000, 200);

  // The proxy's own ring over the same endpoints (what a tsmesh sidecar would pick).
  const ring = loadBalancerFactory('RING_HASH')!({ lb_policy: 'RING_HASH' }, new StatsStore(), () => 0);
  ring.update([servers.map((s) => makeHost('127.0.0.1', s.port))]);

  const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
  const picks = new Map<string, Set<string>>();
  let agree = 0;
  for (const u of users) {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const a = await call(`hi\tx-user=${u}`);
      assert.ok(a.ok, `call for ${u} answered`);
      seen.add(a.reply.version);
    }
    picks.set(u, seen);
    const mine = ring.chooseHost({ hashKey: u });
    if (seen.size === 1 && byPort.get(mine!.port) === [...seen][0]) agree++;
  }
  const spread: Record<string, number> = {};
  for (const s of picks.values()) for (const v of s) spread[v] = (spread[v] ?? 0) + 1;
  t.diagnostic(`ring hash on x-user: 30 users x 4 calls, users per server ${JSON.stringify(spread)}, same host as the tsmesh proxy's ring for ${agree}/30`);
  for (const [u, s] of picks) assert.equal(s.size, 1, `every call of ${u} went to one server (${[...s]})`);
  assert.ok(Object.keys(spread).length >= 2, 'users spread over more than one server');
  assert.equal(agree, users.length, 'grpc-js and the tsmesh proxy send each key to the same host');
});
