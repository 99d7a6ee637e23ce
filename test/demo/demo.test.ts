/**
 * The demo's orchestration, with stand-ins for `tsmesh controlplane` and `tsmesh proxy`
 * (fixtures/) and the real Bookinfo apps: order, readiness, progress lines, demo.json, failure
 * reporting, and that stopping leaves no process and no port behind. Plan tests live here too:
 * they bind the same loopback addresses, and tests inside one file never run concurrently.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/api/types.ts';
import { inboundPorts, makePlan } from '../../src/demo/plan.ts';
import { freePort } from '../../src/demo/ports.ts';
import { startDemo, type Launcher } from '../../src/demo/run.ts';
import { readState } from '../../src/demo/state.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const ISTIO = `${ISTIO_DATA}/samples/bookinfo`;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-demo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function fakes(gatewayPort: number): Launcher {
  return {
    controlplane: (args) => ({ command: process.execPath, args: [join(FIXTURES, 'fake_controlplane.mjs'), ...args] }),
    proxy: (args) => ({ command: process.execPath, args: [join(FIXTURES, 'fake_proxy.mjs'), ...args, '--listen', String(gatewayPort)] }),
  };
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function ports() {
  const port = await freePort('127.0.0.1');
  // The control plane and gateway admin bind port 0 and say which port they got.
  const xdsPort = 0;
  const httpPort = 0;
  // Its own pod address range, so a demo in another test file (or a user's) never collides.
  return { port, xdsPort, httpPort, gatewayAdminPort: 0, podNet: '127.0.41.', appNet: '127.0.42.' };
}

test('starts control plane, 6 pods with sidecars and the gateway; stops them all; starts again at once', async () => {
  const p = await ports();
  const stateDir = join(dir, 'state');
  const out = new Capture();
  const demo = startDemo({ repoRoot, ...p, stateDir, out, launcher: fakes(p.port) });
  const state = await demo.started;
  assert.ok(state, out.text);

  // The ports the control plane and the gateway's admin bound (asked for 0), as they said.
  const xdsPort = Number(state.controlplane.grpc.split(':')[1]);
  const httpPort = Number(new URL(state.controlplane.http).port);
  assert.ok(xdsPort > 0 && httpPort > 0 && Number(new URL(state.gateway.admin).port) > 0, JSON.stringify(state));
  // Progress: one line per part, in start order.
  assert.ok(out.text.includes(`✔ control plane (xDS 127.0.0.1:${xdsPort}, HTTP 127.0.0.1:${httpPort}) ready`), out.text);
  for (const [name, n] of [['details-v1', 1], ['productpage-v1', 2], ['ratings-v1', 3], ['reviews-v1', 4], ['reviews-v2', 5], ['reviews-v3', 6]] as const) {
    assert.ok(out.text.includes(`✔ ${name} (127.0.41.${n}) ready`), `${name} line in:\n${out.text}`);
  }
  assert.ok(out.text.includes(`✔ istio-ingressgateway (127.0.0.1:${p.port}) ready`));
  assert.ok(out.text.indexOf('✔ control plane') < out.text.indexOf('✔ details-v1'));
  assert.ok(out.text.indexOf('✔ reviews-v3') < out.text.indexOf('✔ istio-ingressgateway'));
  // --port moved the demo's copy of our sample Gateway, and said so.
  assert.match(out.text, new RegExp(`--port ${p.port}: the demo's copy of Gateway default/bookinfo-gateway listens on ${p.port} instead of 8080`));
  assert.match(readFileSync(join(stateDir, 'config', 'gateway-default-bookinfo-gateway.yaml'), 'utf8'), new RegExp(`number: ${p.port}`));
  assert.match(readFileSync(join(repoRoot, 'samples/bookinfo/config/bookinfo-gateway.yaml'), 'utf8'), /number: 8080/);
  // The summary: URLs and next commands.
  assert.ok(out.text.includes(`http://127.0.0.1:${p.port}/productpage`));
  assert.ok(out.text.includes(`http://127.0.0.1:${httpPort}/debug/syncz`));
  assert.match(out.text, /npx tsmesh apply -f \S*samples\/bookinfo\/config\/networking\/virtual-service-reviews-50-v3\.yaml --controlplane http:\/\/127\.0\.0\.1:\d+/);
  assert.match(out.text, /Press Ctrl-C to stop everything/);
  assert.ok(out.text.includes('(one per pod: 127.0.42.N:15000)'), 'the sidecar admin hint names this demo\'s app addresses');

  // demo.json says where everything is.
  const saved = readState(join(stateDir, 'demo.json'))!;
  assert.deepEqual(saved, state);
  assert.equal(saved.pid, process.pid);
  assert.equal(saved.controlplane.http, `http://127.0.0.1:${httpPort}`);
  assert.equal(saved.controlplane.grpc, `127.0.0.1:${xdsPort}`);
  assert.equal(saved.gateway.url, `http://127.0.0.1:${p.port}`);
  assert.equal(saved.pods.length, 6);
  assert.equal(saved.processes.length, 14, 'control plane + 6 apps + 6 sidecars + gateway');
  const reviews = saved.pods.find((x) => x.name === 'reviews-v2')!;
  assert.deepEqual([reviews.podIP, reviews.appIP, reviews.appPort], ['127.0.41.5', '127.0.42.5', 9080]);
  const bootstrap = JSON.parse(readFileSync(reviews.bootstrap, 'utf8'));
  assert.equal(bootstrap.node.id, 'sidecar~127.0.41.5~reviews-v2.default~default.svc.cluster.local');
  assert.equal(bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, xdsPort);

  // The real app answers at its app address.
  const health = await fetch(`http://127.0.42.5:9080/health`);
  assert.equal(health.status, 200);
  for (const proc of saved.processes) assert.ok(existsSync(proc.log), proc.log);

  await demo.stop();
  assert.equal(await demo.exitCode, 0);
  for (const proc of saved.processes) assert.equal(alive(proc.pid), false, `${proc.name} (${proc.pid}) still alive`);
  assert.equal(existsSync(join(stateDir, 'demo.json')), false, 'state file removed');
  assert.match(out.text, /stopping 14 processes…\nstopped\n$/);

  // Same ports, right away.
  const out2 = new Capture();
  const again = startDemo({ repoRoot, ...p, stateDir, out: out2, launcher: fakes(p.port) });
  assert.ok(await again.started, out2.text);
  await again.stop();
  assert.equal(await again.exitCode, 0);
});

test('a part that fails is shown with why and its log; everything started is stopped; exit 1', async () => {
  const p = await ports();
  const stateDir = join(dir, 'fail');
  const out = new Capture();
  process.env.FAKE_PROXY_FAIL = 'ratings-v1';
  try {
    const demo = startDemo({ repoRoot, ...p, stateDir, out, launcher: fakes(p.port) });
    assert.equal(await demo.started, undefined);
    assert.equal(await demo.exitCode, 1);
    assert.match(out.text, /✖ ratings-v1 failed: ratings-v1 sidecar exited with code 3: Error: fake proxy told to fail for sidecar~127\.0\.41\.3~ratings-v1\.default~default\.svc\.cluster\.local, log at \S+ratings-v1\.sidecar\.log/);
    assert.doesNotMatch(out.text, /istio-ingressgateway/, 'the gateway never started');
    for (const proc of demo.supervisor.list()) assert.equal(alive(proc.pid), false, `${proc.name} still alive`);
    assert.equal(existsSync(join(stateDir, 'demo.json')), false);
  } finally {
    delete process.env.FAKE_PROXY_FAIL;
  }
});

test('a control plane that never gets ready times out with its log', async () => {
  const p = await ports();
  const out = new Capture();
  const launcher: Launcher = { ...fakes(p.port), controlplane: () => ({ command: process.execPath, args: ['-e', "console.log('starting, never ready'); setInterval(() => {}, 1000)"] }) };
  const demo = startDemo({ repoRoot, ...p, stateDir: join(dir, 'cp'), out, launcher, timeouts: { controlplaneMs: 500 } });
  assert.equal(await demo.started, undefined);
  assert.equal(await demo.exitCode, 1);
  assert.match(out.text, /✖ control plane failed: not ready after 1s \(waiting for "tsmesh controlplane ready" in its log\), log at \S+controlplane\.log/);
  for (const proc of demo.supervisor.list()) assert.equal(alive(proc.pid), false);
});

test('a proxy whose listeners never bind times out, quoting its last complaint', async () => {
  const p = await ports();
  const out = new Capture();
  process.env.FAKE_PROXY_NACK = 'router~';
  try {
    const demo = startDemo({ repoRoot, ...p, stateDir: join(dir, 'nack'), out, launcher: fakes(p.port), timeouts: { gatewayMs: 700 } });
    assert.equal(await demo.started, undefined);
    assert.equal(await demo.exitCode, 1);
    assert.match(out.text, new RegExp(`✖ istio-ingressgateway failed: not ready after 1s \\(waiting for a listener on 127\\.0\\.0\\.1:${p.port}\\); its log says: \\[warning\\] xDS Listener rejected \\(NACK\\): listener 0\\.0\\.0\\.0_8080: unknown network filter type, log at \\S+istio-ingressgateway\\.log`));
    for (const proc of demo.supervisor.list()) assert.equal(alive(proc.pid), false);
  } finally {
    delete process.env.FAKE_PROXY_NACK;
  }
});

test('a busy gateway port: a clear error that says how to pick another, nothing started', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as AddressInfo).port;
  try {
    const r = await makePlan({ repoRoot, port, podNet: '127.0.43.', appNet: '127.0.44.' });
    assert.equal(r.ok, false);
    const errors = (r as { errors: string[] }).errors;
    assert.match(errors[0]!, new RegExp(`^port ${port} on 127\\.0\\.0\\.1 is in use, and the ingress gateway listens there: pick another port with \`npx tsmesh demo --port \\d+\``));
    const out = new Capture();
    const demo = startDemo({ repoRoot, port, podNet: '127.0.43.', appNet: '127.0.44.', stateDir: join(dir, 'busy'), out });
    assert.equal(await demo.started, undefined);
    assert.equal(await demo.exitCode, 1);
    assert.equal(demo.supervisor.list().length, 0);
  } finally {
    busy.close();
  }
});

test('busy control-plane ports: port 0 (the control plane says which port it got), and the plan says so', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as AddressInfo).port;
  try {
    const r = await makePlan({ repoRoot, podNet: '127.0.45.', appNet: '127.0.46.', port: await freePort('127.0.0.1'), xdsPort: taken });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.plan.xdsPort, 0);
    assert.ok(r.plan.notes.includes(`port ${taken} is in use: the control plane serves xDS on another port`), r.plan.notes.join('\n'));
  } finally {
    busy.close();
  }
});

test("Istio's own files: accepted; --port must match the user's Gateway (their files are never changed)", { skip: !existsSync(ISTIO) && 'Istio data not present' }, async () => {
  const configs = [join(ISTIO, 'platform/kube/bookinfo.yaml'), join(ISTIO, 'networking/bookinfo-gateway.yaml'), join(ISTIO, 'networking/destination-rule-all.yaml')];
  const other = await freePort('127.0.0.1');
  const r = await makePlan({ repoRoot, podNet: '127.0.45.', appNet: '127.0.46.', configs, port: other });
  assert.equal(r.ok, false);
  assert.equal((r as { exitCode: number }).exitCode, 2);
  assert.match((r as { errors: string[] }).errors[0]!, new RegExp(`--port ${other}: the ingress gateway listens where your Gateways say: 8080 \\(Gateway default/bookinfo-gateway in \\S*bookinfo-gateway\\.yaml\\)`));
  const ok = await makePlan({ repoRoot, podNet: '127.0.45.', appNet: '127.0.46.', configs, xdsPort: 0, httpPort: 0 });
  if (!ok.ok) {
    // Only acceptable failure: something on this machine already holds 8080.
    assert.match(ok.errors.join('\n'), /port 8080 on 127\.0\.0\.1 is in use/);
    return;
  }
  assert.equal(ok.plan.gatewayPort, 8080);
  assert.deepEqual(ok.plan.pods.map((x) => `${x.slot.name}=${x.launch.description}`), [
    'details-v1=Bookinfo details v1',
    'productpage-v1=Bookinfo productpage v1',
    'ratings-v1=Bookinfo ratings v1',
    'reviews-v1=Bookinfo reviews v1',
    'reviews-v2=Bookinfo reviews v2',
    'reviews-v3=Bookinfo reviews v3',
  ]);
});

test('inbound ports: the container ports that Services selecting the pod target', async () => {
  const r = await makePlan({ repoRoot, podNet: '127.0.45.', appNet: '127.0.46.', port: await freePort('127.0.0.1'), xdsPort: 0, httpPort: 0 });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.plan.pods.map((x) => [x.slot.name, x.inboundPorts]), [
    ['details-v1', [9080]], ['productpage-v1', [9080]], ['ratings-v1', [9080]], ['reviews-v1', [9080]], ['reviews-v2', [9080]], ['reviews-v3', [9080]],
  ]);
  const slot = r.plan.pods[0]!.slot;
  const svc = (ports: unknown[], selector: Record<string, string> = { app: 'details' }) =>
    ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec: { selector, ports } }) as Config;
  const d = { ...slot, deployment: { ...slot.deployment, ports: { http: 9080, grpc: 7070 }, containerPorts: [7070, 9080] } };
  assert.deepEqual(inboundPorts([svc([{ port: 80, targetPort: 'grpc' }, { port: 9080 }])], d), [7070, 9080]);
  assert.deepEqual(inboundPorts([svc([{ port: 80, targetPort: 9080 }], { app: 'reviews' })], d), []);
  assert.deepEqual(inboundPorts([svc([{ port: 80, targetPort: 1234 }])], d), []);
});

test('a config with an invalid resource stops the demo before anything starts', async () => {
  const r = await makePlan({ repoRoot, configs: [join(FIXTURES, 'does-not-exist.yaml')] });
  assert.equal(r.ok, false);
  assert.match((r as { errors: string[] }).errors.join('\n'), /does-not-exist\.yaml: cannot read: ENOENT[\s\S]*the demo did not start/);
});
