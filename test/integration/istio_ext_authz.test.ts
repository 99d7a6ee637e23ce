/**
 * Istio's "External Authorization" task (tasks/security/authorization/authz-custom) in the demo:
 * namespace foo with sidecars, Istio's httpbin and curl applied unmodified, the sample external
 * authorizer (tsmesh's samples/ext-authz, Istio's sample reimplemented) as a workload without a
 * sidecar behind Istio's own `ext-authz` Service, and the task's meshConfig with both providers.
 * The task's CUSTOM policy on httpbin's `/headers`, once with the gRPC provider and once with the
 * HTTP one: `x-ext-authz: deny` → 403 with the sample's text, `allow` → 200 and httpbin sees the
 * header the authorizer added, `/ip` is not checked → 200. Requests are the task's curl commands
 * run in the curl pod (`tsmesh exec ... -- curl`).
 *
 * Beyond the task, the same authorizer with a sidecar under STRICT mTLS answers the HTTP checks
 * too (they reach it through the mesh: its EDS endpoint, mutual TLS).
 *
 * Two differences from the task, both because the demo has no container runtime: the authorizer's
 * Deployment gets the command `node samples/ext-authz/main.ts`, which the demo runs (its Service is
 * Istio's), and the HTTP provider also lists headersToUpstreamOnAllow so that the header the task
 * shows for the gRPC provider reaches httpbin with the HTTP provider too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ISTIO_SAMPLES, NO_ISTIO_DATA, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { NO_CURL, readyPod, runTsmesh } from '../helpers/tasks.ts';
import { DENY_BODY } from '../../samples/ext-authz/main.ts';

const HTTPBIN = `${ISTIO_SAMPLES}/httpbin/httpbin.yaml`;
const CURL = `${ISTIO_SAMPLES}/curl/curl.yaml`;
const EXT_AUTHZ = `${ISTIO_SAMPLES}/extauthz/ext-authz.yaml`;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-ext-authz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** The task's mesh config (its `mesh: |-` block), plus headersToUpstreamOnAllow on the HTTP provider. */
const MESH = `extensionProviders:
- name: "sample-ext-authz-grpc"
  envoyExtAuthzGrpc:
    service: "ext-authz.foo.svc.cluster.local"
    port: "9000"
- name: "sample-ext-authz-http"
  envoyExtAuthzHttp:
    service: "ext-authz.foo.svc.cluster.local"
    port: "8000"
    includeRequestHeadersInCheck: ["x-ext-authz"]
    headersToUpstreamOnAllow: ["x-ext-authz-check-result"]
- name: "mesh-ext-authz-http"
  envoyExtAuthzHttp:
    service: "foo/ext-authz-mesh.foo.svc.cluster.local"
    port: 8000
    includeRequestHeadersInCheck: ["x-ext-authz"]
    headersToUpstreamOnAllow: ["x-ext-authz-check-result"]
`;

/**
 * Not in the task: the same authorizer with a sidecar, reachable only over mutual TLS (STRICT),
 * so the proxy's check must go through the mesh (EDS endpoint, auto mTLS) to be answered.
 */
const MESH_AUTHORIZER = `apiVersion: v1
kind: Service
metadata:
  name: ext-authz-mesh
  labels:
    app: ext-authz-mesh
spec:
  ports:
  - name: http
    port: 8000
  - name: grpc
    port: 9000
  selector:
    app: ext-authz-mesh
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ext-authz-mesh
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ext-authz-mesh
  template:
    metadata:
      labels:
        app: ext-authz-mesh
    spec:
      containers:
      - name: ext-authz
        image: registry.istio.io/testing/ext-authz:latest
        command: [node, --import, tsx, samples/ext-authz/main.ts]
        ports:
        - containerPort: 8000
        - containerPort: 9000
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: ext-authz-mesh-strict
spec:
  selector:
    matchLabels:
      app: ext-authz-mesh
  mtls:
    mode: STRICT
`;

/** The task's policy, with the provider it names. */
const policy = (provider: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: CUSTOM
  provider:
    name: ${provider}
  rules:
  - to:
    - operation:
        paths: ["/headers"]
`;

/** Istio's ext-authz Service as shipped; its Deployment running the sample's command. */
function extAuthzYaml(): string {
  const docs = parseAllDocuments(readFileSync(EXT_AUTHZ, 'utf8')).map((d) => d.toJS()).filter((d) => d && typeof d === 'object');
  const service = docs.find((d) => d.kind === 'Service');
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const c = deployment.spec.template.spec.containers[0];
  c.command = ['node', '--import', 'tsx', 'samples/ext-authz/main.ts'];
  return [service, deployment].map((d) => JSON.stringify(d)).join('\n---\n');
}

interface Curl {
  code: string;
  body: string;
}

/** The task's `kubectl exec deploy/curl -- curl http://httpbin.foo:8000<path> [-H x-ext-authz: <v>] -s`, with the status code appended. */
async function curl(demo: IstioDemo, path: string, extAuthz?: string): Promise<Curl> {
  const args = ['exec', '-n', 'foo', 'deploy/curl', '--state-dir', demo.stateDir, '--', 'curl', '-s', '--max-time', '10', '-w', '\n%{http_code}', `http://httpbin.foo:8000${path}`];
  if (extAuthz) args.push('-H', `x-ext-authz: ${extAuthz}`);
  const r = await runTsmesh(args);
  const i = r.stdout.lastIndexOf('\n');
  return { code: r.stdout.slice(i + 1) || r.stderr.trim(), body: r.stdout.slice(0, Math.max(0, i)) };
}

/** Retries until the answer is `want` (a policy takes a push, an ACK and the old chain's drain to land). */
async function curlUntil(demo: IstioDemo, path: string, extAuthz: string | undefined, ok: (c: Curl) => boolean, what: string): Promise<Curl> {
  let last: Curl | undefined;
  return until(
    async () => {
      last = await curl(demo, path, extAuthz);
      return ok(last) ? last : undefined;
    },
    what,
    90_000,
    500,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}\nlast: ${JSON.stringify(last)}\n${demo.output().slice(-4000)}`);
  });
}

async function checkTask(demo: IstioDemo, provider: string): Promise<void> {
  const denied = await curlUntil(demo, '/headers', 'deny', (c) => c.code === '403' && c.body === DENY_BODY, `${provider}: x-ext-authz: deny → 403 from the authorizer`);
  assert.equal(denied.body, DENY_BODY);
  const allowed = await curlUntil(demo, '/headers', 'allow', (c) => c.code === '200', `${provider}: x-ext-authz: allow → 200`);
  // httpbin echoes what it received: the header the authorizer added on the way.
  assert.match(allowed.body, /X-Ext-Authz-Check-Result"?\s*:\s*\[?\s*"allowed"/i, allowed.body);
  assert.equal((await curl(demo, '/ip')).code, '200', '/ip is not checked');
  assert.equal((await curl(demo, '/headers')).code, '403', 'no header: the sample denies (over gRPC, the curl identity is not sa/a)');
}

test("Istio's external authorization task: the sample authorizer over gRPC and over HTTP, a CUSTOM policy on /headers", { skip: NO_ISTIO_DATA || NO_CURL, timeout: 900_000 }, async (t) => {
  const ns = file('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n  labels:\n    istio-injection: enabled\n');
  const demo = await startIstioDemo(t, { configs: [ns], mesh: MESH, readyTimeoutMs: 180_000 });
  const cp = ['--controlplane', demo.controlplane];
  for (const f of [HTTPBIN, CURL, file('ext-authz.yaml', extAuthzYaml()), file('ext-authz-mesh.yaml', MESH_AUTHORIZER)]) {
    const r = await runTsmesh(['apply', '-n', 'foo', '-f', f, ...cp]);
    assert.equal(r.code, 0, `apply -n foo -f ${f}: ${r.stderr}`);
  }
  for (const name of ['httpbin', 'curl', 'ext-authz', 'ext-authz-mesh']) await readyPod(demo, 'foo', name, 180_000);
  await demo.settle();
  assert.equal((await curlUntil(demo, '/ip', undefined, (c) => c.code === '200', 'curl → httpbin before any policy')).code, '200');

  await t.test('gRPC provider (sample-ext-authz-grpc, as the task applies it)', async () => {
    await demo.apply(policy('sample-ext-authz-grpc'), 'ext-authz-policy.yaml');
    await checkTask(demo, 'gRPC');
  });

  await t.test('HTTP provider (sample-ext-authz-http)', async () => {
    await demo.apply(policy('sample-ext-authz-http'), 'ext-authz-policy.yaml');
    // Without the header the HTTP authorizer denies too; with it, the HTTP server's own answer.
    await checkTask(demo, 'HTTP');
    const allowed = await curl(demo, '/headers', 'allow');
    assert.doesNotMatch(allowed.body, /X-Ext-Authz-Check-Received/i, 'only the headers the provider lists go upstream');
  });

  await t.test('an authorizer with a sidecar, mTLS only (STRICT): the check goes through the mesh', async () => {
    await demo.apply(policy('mesh-ext-authz-http'), 'ext-authz-policy.yaml');
    await checkTask(demo, 'HTTP over mTLS');
  });

  await t.test('the policy deleted: /headers is no longer checked', async () => {
    await demo.delete(policy('mesh-ext-authz-http'), 'ext-authz-policy.yaml');
    await curlUntil(demo, '/headers', 'deny', (c) => c.code === '200', 'no policy: 200 whatever the header');
  });
});
