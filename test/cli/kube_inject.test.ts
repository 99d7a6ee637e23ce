/**
 * `tsmesh kube-inject` as a user runs it: istioctl's flags, a file or stdin in, stdout or -o out,
 * the mesh config and revision taking effect, ENABLE_NATIVE_SIDECARS=false for older clusters,
 * and errors that say what to fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { kubeInjectCommand } from '../../src/cli/kube_inject.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const BIN = fileURLToPath(new URL('../../bin/tsmesh.js', import.meta.url));
const HTTPBIN = join(ISTIO_DATA, 'samples/httpbin/httpbin.yaml');

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await kubeInjectCommand(argv, { log: (l) => (out += l), error: (l) => (err += `${l}\n`) });
  return { code, out, err };
}

function deployment(yaml: string): any {
  return parseAllDocuments(yaml).map((d) => d.toJS()).find((d) => d?.kind === 'Deployment');
}

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-kube-inject-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('-f <file> -o <file> writes the injected manifests', async (t) => {
  const out = join(tmp(t), 'out.yaml');
  const r = await run(['-f', HTTPBIN, '-o', out]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '');
  const d = deployment(readFileSync(out, 'utf8'));
  const tpl = d.spec.template;
  assert.deepEqual(tpl.spec.initContainers.map((c: any) => c.name), ['istio-init', 'istio-proxy']);
  assert.equal(tpl.metadata.annotations['istio.io/rev'], 'default');
});

test('--meshConfigFile and --revision reach the injected pod', async (t) => {
  const dir = tmp(t);
  const mesh = join(dir, 'mesh.yaml');
  writeFileSync(mesh, 'trustDomain: example.org\ndefaultConfig:\n  discoveryAddress: istiod-canary.istio-system.svc:15012\n  holdApplicationUntilProxyStarts: true\n');
  const r = await run(['-f', HTTPBIN, '--meshConfigFile', mesh, '--revision', 'canary', '--native-sidecars', 'false']);
  assert.equal(r.code, 0, r.err);
  const tpl = deployment(r.out).spec.template;
  // A regular container that holds the app: first, with the wait hook.
  assert.deepEqual(tpl.spec.containers.map((c: any) => c.name), ['istio-proxy', 'httpbin']);
  const proxy = tpl.spec.containers[0];
  assert.ok(proxy.lifecycle.postStart.exec);
  const after = (f: string) => proxy.args[proxy.args.indexOf(f) + 1];
  assert.equal(after('--discovery-address'), 'istiod-canary.istio-system.svc:15012');
  assert.equal(after('--trust-domain'), 'example.org');
  assert.equal(tpl.metadata.annotations['istio.io/rev'], 'canary');
  assert.equal(JSON.parse(tpl.metadata.annotations['sidecar.istio.io/status']).revision, 'canary');
});

test('--valuesFile takes the istio-sidecar-injector ConfigMap tsmesh install writes; --revision alone picks istiod-<rev>', async (t) => {
  const dir = tmp(t);
  const values = join(dir, 'injector.yaml');
  writeFileSync(values, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-sidecar-injector\ndata:\n  values: |\n    {"global": {"istioNamespace": "mesh-system", "proxy": {"image": "registry.example/tsmesh:1.2.3"}}, "revision": ""}\n');
  const r = await run(['-f', HTTPBIN, '--valuesFile', values]);
  assert.equal(r.code, 0, r.err);
  const proxy = deployment(r.out).spec.template.spec.initContainers.find((c: any) => c.name === 'istio-proxy');
  assert.equal(proxy.image, 'registry.example/tsmesh:1.2.3');
  assert.equal(proxy.args[proxy.args.indexOf('--discovery-address') + 1], 'istiod.mesh-system.svc:15012');
  const canary = await run(['-f', HTTPBIN, '--revision', 'canary']);
  const cproxy = deployment(canary.out).spec.template.spec.initContainers.find((c: any) => c.name === 'istio-proxy');
  assert.equal(cproxy.args[cproxy.args.indexOf('--discovery-address') + 1], 'istiod-canary.istio-system.svc:15012');
});

test('tsmesh kube-inject -f - reads stdin; ENABLE_NATIVE_SIDECARS=false gives a regular container', async () => {
  const child = spawn(process.execPath, [BIN, 'kube-inject', '-f', '-'], { env: { ...process.env, ENABLE_NATIVE_SIDECARS: 'false' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  child.stdin.end(readFileSync(HTTPBIN));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearTimeout(timer);
  assert.equal(code, 0, err);
  const tpl = deployment(out).spec.template;
  assert.deepEqual(tpl.spec.containers.map((c: any) => c.name), ['httpbin', 'istio-proxy']);
  assert.deepEqual(tpl.spec.initContainers.map((c: any) => c.name), ['istio-init']);
});

test('errors say what to do', async (t) => {
  const missing = await run([]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /-f\/--filename is required/);
  const nofile = await run(['-f', '/nonexistent/deploy.yaml']);
  assert.equal(nofile.code, 1);
  assert.match(nofile.err, /-f \/nonexistent\/deploy\.yaml: no such file/);
  const tpl = await run(['-f', HTTPBIN, '--injectConfigFile', 'inject.yaml']);
  assert.equal(tpl.code, 2);
  assert.match(tpl.err, /--valuesFile/);
  const bad = join(tmp(t), 'bad.yaml');
  writeFileSync(bad, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      annotations:\n        sidecar.istio.io/proxyMemory: "a lot"\n    spec:\n      containers:\n      - name: web\n        image: web\n');
  const r = await run(['-f', bad]);
  assert.equal(r.code, 1);
  assert.match(r.err, /Deployment\/web: annotation sidecar\.istio\.io\/proxyMemory: "a lot" is not a Kubernetes quantity/);
  assert.equal(r.out, '', 'nothing is written when a workload cannot be injected');
});

test('an injector annotation tsmesh does not act on is printed as a warning naming the workload and annotation; the output is still written', async (t) => {
  const dir = tmp(t);
  const input = join(dir, 'in.yaml');
  const d = deployment(readFileSync(HTTPBIN, 'utf8'));
  d.spec.template.metadata.annotations = { 'sidecar.istio.io/userVolume': '{"v":{"emptyDir":{}}}' };
  writeFileSync(input, JSON.stringify(d));
  const r = await run(['-f', input]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: Deployment\/httpbin: annotation sidecar\.istio\.io\/userVolume is not acted on/);
  assert.ok(deployment(r.out).spec.template.spec.initContainers.some((c: any) => c.name === 'istio-proxy'));
});
