/**
 * `tsmesh describe` and `tsmesh version` against a running Bookinfo demo, with Istio's files
 * applied by `tsmesh apply -f` as a user would: what istioctl x describe shows for a reviews-v1
 * pod (DestinationRule subsets and TLS mode, VirtualService weights, effective mTLS, RBAC
 * policies) and for the productpage service (exposed on the ingress gateway with the bookinfo
 * VirtualService's paths), and istioctl version's lines with one proxy per sidecar plus the gateway.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { TSMESH_VERSION } from '../../src/common/version.ts';
import { ISTIO_BOOKINFO_CONFIGS, ISTIO_NETWORKING, NO_ISTIO_DATA, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { REPO } from '../helpers/processes.ts';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsmesh <args>` to its end (60 s at most). */
function tsmesh(args: string[]): Promise<CliResult> {
  const cmd = tsmeshCommand(args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, { cwd: REPO, env: { ...process.env, TSMESH_CONTROLPLANE: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsmesh ${args.join(' ')} did not finish in 60 s:\n${stdout}\n${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `tsmesh apply -f <file>` on the demo's control plane, then every proxy in sync with it. */
async function apply(demo: IstioDemo, file: string): Promise<void> {
  const before = await demo.syncKey();
  const r = await tsmesh(['apply', '-f', file, '--controlplane', demo.controlplane]);
  assert.equal(r.code, 0, `tsmesh apply -f ${file}:\n${r.stdout}${r.stderr}`);
  await demo.settle(before);
}

function lines(r: CliResult): string[] {
  return r.stdout.split('\n');
}

function assertLine(r: CliResult, want: string | RegExp, what: string): void {
  const ok = lines(r).some((l) => (typeof want === 'string' ? l === want : want.test(l)));
  assert.ok(ok, `${what}: no line ${typeof want === 'string' ? JSON.stringify(want) : want} in:\n${r.stdout}${r.stderr}`);
}

test('describe pod/service and version against the Bookinfo demo', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  const cp = ['--controlplane', demo.controlplane];
  const pod = ['--state-dir', demo.stateDir, ...cp];
  const tmp = mkdtempSync(join(tmpdir(), 'tsmesh-describe-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  await apply(demo, `${ISTIO_NETWORKING}/destination-rule-all-mtls.yaml`);
  await apply(demo, `${ISTIO_NETWORKING}/virtual-service-reviews-50-v3.yaml`);
  const reviewsV1 = demo.state.pods.find((p) => p.deployment === 'reviews-v1')!;

  await t.test('describe pod: the DestinationRule subsets and TLS mode, the VirtualService weight, PERMISSIVE by default', async (st) => {
    const r = await tsmesh(['describe', 'pod', 'deploy/reviews-v1', ...pod]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    st.diagnostic(`tsmesh describe pod deploy/reviews-v1:\n${r.stdout}`);
    assertLine(r, `Pod: ${reviewsV1.name}`, 'pod');
    assertLine(r, '   Pod Revision: default', 'revision');
    assertLine(r, '   Pod Ports: 9080 (reviews), 15090 (istio-proxy)', 'pod ports');
    assertLine(r, 'Service: reviews', 'service');
    assertLine(r, '   Port: http 9080/HTTP targets pod port 9080', 'service port');
    assertLine(r, 'DestinationRule: reviews for "reviews"', 'destination rule');
    assertLine(r, '   Matching subsets: v1', 'matching subset');
    assertLine(r, '      (Non-matching subsets v2,v3)', 'non-matching subsets');
    assertLine(r, '   Traffic Policy TLS Mode: ISTIO_MUTUAL', 'TLS mode');
    assertLine(r, 'VirtualService: reviews', 'virtual service');
    assertLine(r, '   Route to host "reviews" subset "v1" with weight 50%', 'weight');
    assertLine(r, 'Effective PeerAuthentication:', 'peer authentication');
    assertLine(r, '   Workload mTLS mode: PERMISSIVE', 'default mTLS mode');
    // The same pod by name, namespace appended as istioctl takes it.
    const byName = await tsmesh(['describe', 'po', `${reviewsV1.name}.default`, ...pod]);
    assert.equal(byName.code, 0, byName.stdout + byName.stderr);
    assert.equal(byName.stdout, r.stdout);
  });

  await t.test('describe pod: a reviews-v3 pod gets the other half of the weight', async () => {
    const r = await tsmesh(['describe', 'pod', 'deploy/reviews-v3', ...pod]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assertLine(r, '   Matching subsets: v3', 'matching subset');
    assertLine(r, '      (Non-matching subsets v1,v2)', 'non-matching subsets');
    assertLine(r, '   Route to host "reviews" subset "v3" with weight 50%', 'weight');
  });

  await t.test('describe svc productpage: exposed on the ingress gateway with the bookinfo paths', async (st) => {
    const r = await tsmesh(['describe', 'svc', 'productpage', ...cp]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    st.diagnostic(`tsmesh describe svc productpage:\n${r.stdout}`);
    assertLine(r, 'Service: productpage', 'service');
    assertLine(r, '   Port: http 9080/HTTP targets pod port 9080', 'port');
    assertLine(r, `Exposed on Ingress Gateway http://127.0.0.1:${demo.gatewayPort}`, 'ingress');
    assertLine(r, 'VirtualService: bookinfo', 'gateway virtual service');
    for (const path of ['/productpage', '/static*', '/login', '/logout', '/api/v1/products*']) assert.ok(r.stdout.includes(`Match: ${path}`), `no ${path} in:\n${r.stdout}`);
    // And the page really is there.
    assert.equal((await demo.get('/productpage')).status, 200);
  });

  await t.test('STRICT PeerAuthentication and an AuthorizationPolicy selecting the pod', async (st) => {
    const file = join(tmp, 'strict-and-authz.yaml');
    writeFileSync(
      file,
      `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-viewer
  namespace: default
spec:
  selector:
    matchLabels:
      app: reviews
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]
    to:
    - operation:
        methods: ["GET"]
`,
    );
    await apply(demo, file);
    const r = await tsmesh(['describe', 'pod', 'deploy/reviews-v1', ...pod]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    st.diagnostic(`tsmesh describe pod deploy/reviews-v1 (STRICT, AuthorizationPolicy):\n${r.stdout}`);
    assertLine(r, '   Workload mTLS mode: STRICT', 'STRICT');
    assertLine(r, 'Applied PeerAuthentication:', 'applied PeerAuthentication');
    assertLine(r, '   default.default', 'the PeerAuthentication applied');
    assertLine(r, 'RBAC policies: ns[default]-policy[reviews-viewer]-rule[0]', 'RBAC policies');
    // ratings is not selected by the policy: no RBAC line there.
    const ratings = await tsmesh(['describe', 'pod', 'deploy/ratings-v1', ...pod]);
    assert.equal(ratings.code, 0, ratings.stdout + ratings.stderr);
    assert.ok(!ratings.stdout.includes('RBAC policies'), ratings.stdout);
    assertLine(ratings, '   Workload mTLS mode: STRICT', 'STRICT for the namespace');
  });

  await t.test('describe pod: the ingress gateway is a pod too', async () => {
    const r = await tsmesh(['describe', 'pod', 'istio-ingressgateway-1.istio-system', ...pod]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assertLine(r, 'Pod: istio-ingressgateway-1.istio-system', 'gateway pod');
    assertLine(r, '   Pod Ports: 15090 (istio-proxy)', 'gateway ports');
  });

  await t.test('describe: a pod or service that is not there is an error saying so', async () => {
    const r = await tsmesh(['describe', 'pod', 'deploy/nope', ...pod]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no deployment nope in namespace default/i);
    const s = await tsmesh(['describe', 'svc', 'nope', ...cp]);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /services "nope" not found/);
  });

  await t.test('version: client, control plane, and one data plane proxy per sidecar plus the gateway', async (st) => {
    const proxies = demo.state.pods.filter((p) => p.sidecar !== false).length + 1;
    const r = await tsmesh(['version', ...cp]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    st.diagnostic(`tsmesh version (${proxies} proxies in demo.json):\n${r.stdout}`);
    assert.match(r.stdout, /^client version: \d+\.\d+\.\d+\ncontrol plane version: \d+\.\d+\.\d+\ndata plane version: \S+ \((\d+) proxies\)\n$/);
    assert.equal(Number(/\((\d+) proxies\)/.exec(r.stdout)![1]), proxies, r.stdout);
    // Every proxy is a tsmesh proxy of this build (its node's user_agent_build_version).
    assert.equal(r.stdout, `client version: ${TSMESH_VERSION}\ncontrol plane version: ${TSMESH_VERSION}\ndata plane version: ${TSMESH_VERSION} (${proxies} proxies)\n`);
    const j = await tsmesh(['version', '-o', 'json', ...cp]);
    const v = JSON.parse(j.stdout);
    assert.equal(v.dataPlaneVersion.length, proxies);
    assert.ok(v.dataPlaneVersion.some((p: { ID: string }) => p.ID.startsWith(`sidecar~${reviewsV1.podIP}~${reviewsV1.name}.default~`)), j.stdout);
    const local = await tsmesh(['version', '--remote=false']);
    assert.match(local.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
