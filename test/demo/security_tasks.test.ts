/**
 * The setup of Istio's mutual TLS migration task, run through the commands a user types, with
 * Istio's own YAML unmodified: Namespace YAML for foo (injection on) and legacy (no label),
 * `tsmesh apply -n <ns> -f samples/{httpbin,curl}` into a running demo (its Deployments start
 * their pods, with or without a sidecar), `tsmesh exec deploy/curl -- curl http://httpbin.foo:8000/ip`
 * from both namespaces (the real curl binary), and a deleted Deployment stopping its pod.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ISTIO_SAMPLES, NO_ISTIO_DATA, startIstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { demoPods, NO_CURL, readyPod, runTsmesh } from '../helpers/tasks.ts';

const HTTPBIN = `${ISTIO_SAMPLES}/httpbin/httpbin.yaml`;
const CURL = `${ISTIO_SAMPLES}/curl/curl.yaml`;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-security-tasks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function counter(admin: string, name: string): Promise<number> {
  const body = await (await fetch(`${admin}/stats`, { signal: AbortSignal.timeout(5000) })).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}: `));
  return line ? Number(line.slice(name.length + 2)) : 0;
}

test("Istio's mTLS migration setup: namespaces, apply -n, live Deployments, tsmesh exec with and without a sidecar", { skip: NO_ISTIO_DATA || NO_CURL }, async (t) => {
  // The demo starts with one namespace of the task; the rest is applied while it runs.
  const bar = file('bar.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bar\n  labels:\n    istio-injection: enabled\n');
  const demo = await startIstioDemo(t, { configs: [bar] });
  const cp = ['--controlplane', demo.controlplane];
  const stateDir = ['--state-dir', demo.stateDir];

  const ns = file('namespaces.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n  labels:\n    istio-injection: enabled\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n');
  const applied = await runTsmesh(['apply', '-f', ns, ...cp]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /applied Namespace \/?foo/);

  for (const [namespace, f] of [['foo', HTTPBIN], ['foo', CURL], ['legacy', CURL], ['legacy', HTTPBIN]] as const) {
    const r = await runTsmesh(['apply', '-n', namespace, '-f', f, ...cp]);
    assert.equal(r.code, 0, `apply -n ${namespace} -f ${f}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`applied Deployment ${namespace}/(httpbin|curl)`));
  }

  const fooHttpbin = await readyPod(demo, 'foo', 'httpbin');
  const fooCurl = await readyPod(demo, 'foo', 'curl');
  const legacyCurl = await readyPod(demo, 'legacy', 'curl');
  const legacyHttpbin = await readyPod(demo, 'legacy', 'httpbin');
  // Injection: foo's pods have sidecars, legacy's run their app alone, at the pod address.
  assert.deepEqual([fooHttpbin.sidecar, fooCurl.sidecar, legacyCurl.sidecar, legacyHttpbin.sidecar], [true, true, false, false]);
  assert.equal(legacyHttpbin.appIP, legacyHttpbin.podIP);
  assert.equal(await listening(legacyHttpbin.podIP, 8080), true, 'legacy httpbin answers on its pod address');
  // Progress lines for pods started while the demo runs, with their addresses from the demo's pool.
  assert.ok(demo.output().includes(`✔ foo/httpbin (${fooHttpbin.podIP}) ready`), demo.output());
  assert.match(demo.output(), new RegExp(`✔ legacy/httpbin \\(${legacyHttpbin.podIP.replace(/\./g, '\\.')}, no sidecar: namespace legacy is not labelled istio-injection=enabled\\) ready`));
  assert.ok([fooHttpbin, fooCurl, legacyCurl, legacyHttpbin].every((p) => p.podIP.startsWith(demo.podNet)));
  await demo.settle();

  // From foo (sidecar): through foo's curl sidecar, which counts the request.
  const cluster = 'cluster.outbound|8000||httpbin.foo.svc.cluster.local.upstream_rq_total';
  const before = await counter(fooCurl.admin, cluster);
  const curlArgs = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://httpbin.foo:8000/ip'];
  const fromFoo = await until(async () => {
    const r = await runTsmesh(['exec', '-n', 'foo', 'deploy/curl', ...stateDir, '--', ...curlArgs]);
    return r.stdout === '200' ? r : undefined;
  }, 'curl from foo answered 200', 60_000, 500);
  assert.equal(fromFoo.code, 0);
  assert.ok((await counter(fooCurl.admin, cluster)) > before, 'the request went through foo/curl\'s sidecar');

  // From legacy (no sidecar): straight to httpbin.foo's endpoint, from legacy curl's pod address.
  const fromLegacy = await runTsmesh(['exec', '-n', 'legacy', 'deploy/curl', ...stateDir, '--', ...curlArgs]);
  assert.equal(fromLegacy.stdout, '200', fromLegacy.stderr);
  assert.equal(fromLegacy.code, 0);
  // A port the Service does not have: the connection is reset, as curl sees it in Istio's task when it fails.
  const refused = await runTsmesh(['exec', '-n', 'legacy', 'deploy/curl', ...stateDir, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://httpbin.foo:9999/ip']);
  assert.deepEqual([refused.stdout, refused.code], ['000', 56]);
  const ip = await runTsmesh(['exec', '-n', 'legacy', 'deploy/curl', ...stateDir, '--', 'curl', '-s', 'http://httpbin.legacy.svc.cluster.local:8000/ip']);
  assert.equal(JSON.parse(ip.stdout).origin, legacyCurl.podIP, 'legacy httpbin sees legacy curl\'s pod address');

  // The command's exit code and clear errors.
  assert.equal((await runTsmesh(['exec', '-n', 'foo', 'deploy/curl', ...stateDir, '--', 'sh', '-c', 'exit 7'])).code, 7);
  const missing = await runTsmesh(['exec', '-n', 'foo', 'deploy/sleep', ...stateDir, '--', 'true']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no Deployment sleep in namespace foo of the running demo: apply it first/);
  const wrongNs = await runTsmesh(['exec', 'deploy/curl', ...stateDir, '--', 'true']);
  assert.match(wrongNs.stderr, /no Deployment curl in namespace default of the running demo: it is in namespace foo, legacy: add -n foo/);

  // apply -n with a resource of another namespace: refused, nothing applied.
  const other = file('other.yaml', readFileSync(CURL, 'utf8').replace('name: curl\nspec:', 'name: curl\n  namespace: bar\nspec:'));
  const mismatch = await runTsmesh(['apply', '-n', 'foo', '-f', other, ...cp]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /Deployment bar\/curl: the namespace from the provided object "bar" does not match the namespace "foo"\. You must pass '--namespace=bar' to perform this operation\./);
  assert.equal(demoPods(demo).some((p) => p.namespace === 'bar'), false);

  // Deleting legacy's httpbin stops its pod: gone from demo.json, its port closed.
  const deleted = await runTsmesh(['delete', '-n', 'legacy', '-f', HTTPBIN, ...cp]);
  assert.equal(deleted.code, 0, deleted.stderr);
  await until(() => !demoPods(demo).some((p) => p.namespace === 'legacy' && p.name === 'httpbin'), 'legacy/httpbin gone from demo.json', 30_000, 200);
  await until(async () => !(await listening(legacyHttpbin.podIP, 8080)), 'legacy httpbin no longer listening', 10_000, 100);
  assert.match(demo.output(), /■ legacy\/httpbin stopped: its Deployment is gone/);
  assert.ok(demoPods(demo).some((p) => p.namespace === 'foo' && p.name === 'httpbin'), 'the other pods keep running');
});
