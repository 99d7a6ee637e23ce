/**
 * tsmesh install against a real kube-apiserver (test/helpers/kube.ts: etcd, kube-apiserver and
 * kube-controller-manager on loopback): the dry-run manifest is accepted by the server
 * (acceptance 6), the CRDs take Istio's bookinfo networking YAML unmodified and give it back
 * unchanged, the validating webhook refuses an invalid VirtualService with `tsmesh validate`'s
 * message, and install then uninstall --purge leaves nothing behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { istioCrds } from '../../src/kube/crds/index.ts';
import { installManifest, manifestYaml } from '../../src/kube/install/manifest.ts';
import type { KubeObject } from '../../src/kube/install/types.ts';
import { resolveValues } from '../../src/kube/install/values.ts';
import { WebhookServer } from '../../src/kube/webhook/server.ts';
import { validateHandler } from '../../src/kube/webhook/validate.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { INVALID_VIRTUAL_SERVICE, validateLinesOf } from '../helpers/invalid_virtual_service.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NETWORKING = join(ISTIO_DATA, 'samples/bookinfo/networking');

let kube: KubeCluster;
let tmp: string;
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tsmesh-install-kube-'));
  // The controller manager finalizes the deleted namespace (its namespace controller).
  kube = await startKubeCluster(undefined, { controllerManager: true });
});
after(async () => {
  await kube?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The real `tsmesh` command, as a user runs it. */
function tsmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(REPO, 'bin/tsmesh.js'), ...args], { cwd: REPO, maxBuffer: 64 << 20, timeout: 180_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const ok = (r: { code: number; stdout: string; stderr: string }, what: string) => assert.equal(r.code, 0, `${what}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

/** kubectl's resource/name for an object ("deployment.apps/istiod"), and its -n flag. */
function getArgs(o: KubeObject): string[] {
  const slash = o.apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : `.${o.apiVersion.slice(0, slash)}`;
  return [`${o.kind.toLowerCase()}${group}/${o.metadata.name}`, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])];
}

test('tsmesh install --dry-run | kubectl apply --dry-run=server -f - is accepted', async () => {
  const dry = await tsmesh(['install', '--dry-run']);
  ok(dry, 'tsmesh install --dry-run');
  // A server-side dry run creates nothing, so the objects in istio-system would meet a missing
  // namespace; the namespace is the one object created for real first (as a user's cluster,
  // or the non-dry run of the same stream, would have it).
  ok(await kube.kubectl(['create', 'namespace', 'istio-system']), 'create namespace');
  const r = await kube.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: dry.stdout });
  ok(r, 'kubectl apply --dry-run=server');
  const objects = parseAllDocuments(dry.stdout).map((d) => d.toJS());
  for (const o of objects) assert.match(r.stdout, new RegExp(`/${o.metadata.name} (created|configured|unchanged) \\(server dry run\\)`), `${o.kind} ${o.metadata.name} accepted`);
  ok(await kube.kubectl(['delete', 'namespace', 'istio-system', '--wait=true', '--timeout=90s']), 'delete namespace');
});

test("the CRDs take Istio's bookinfo networking YAML unmodified and give back what was applied", async () => {
  const r = await kube.kubectl(['apply', '-f', '-'], { input: manifestYaml(istioCrds() as unknown as KubeObject[]) });
  ok(r, 'kubectl apply the CRDs');
  await kube.crdsEstablished();
  const files = ['bookinfo-gateway.yaml', 'destination-rule-all.yaml', 'virtual-service-all-v1.yaml', 'virtual-service-reviews-test-v2.yaml', 'virtual-service-reviews-50-v3.yaml', 'virtual-service-ratings-test-delay.yaml', 'virtual-service-ratings-test-abort.yaml', 'virtual-service-details-v2.yaml', 'virtual-service-reviews-jason-v2-v3.yaml'];
  for (const f of files) {
    const text = readFileSync(join(NETWORKING, f), 'utf8');
    const applied = await kube.kubectl(['apply', '-n', 'default', '-f', '-'], { input: text });
    ok(applied, `kubectl apply -f ${f}`);
    assert.equal(applied.stderr.trim(), '', `${f}: no warnings (unknown fields would be named here)`);
    for (const doc of parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean)) {
      const got = await kube.kubectl(['get', `${doc.kind.toLowerCase()}.${doc.apiVersion.split('/')[0]}`, doc.metadata.name, '-n', 'default', '-o', 'json']);
      ok(got, `get ${doc.kind} ${doc.metadata.name}`);
      // Nothing pruned, nothing defaulted: the schema knows every field the sample sets.
      assert.deepEqual(JSON.parse(got.stdout).spec, doc.spec, `${f}: ${doc.kind} ${doc.metadata.name} read back`);
    }
  }
  const vs = await kube.kubectl(['get', 'vs', '-n', 'default']);
  ok(vs, 'kubectl get vs (short name)');
  assert.match(vs.stdout.split('\n')[0], /NAME\s+GATEWAYS\s+HOSTS\s+AGE/, "Istio's printer columns");
});

test("with the validating webhook registered, kubectl apply of an invalid VirtualService is refused with tsmesh validate's message", async (t) => {
  const ca = await CertificateAuthority.load({ stateDir: join(tmp, 'ca-state') });
  const server = new WebhookServer({ ca, dnsNames: ['localhost'], ips: ['127.0.0.1'], validate: validateHandler });
  const port = await server.listen();
  t.after(() => server.close());
  // The installed validator, pointed at this server instead of the istiod Service (there is no
  // kubelet to run istiod), failing closed so that an unreachable webhook cannot pass the test.
  const vwc = installManifest(resolveValues([], [])).find((o) => o.kind === 'ValidatingWebhookConfiguration') as any;
  vwc.metadata.name = 'tsmesh-test-validator';
  for (const w of vwc.webhooks) {
    w.clientConfig = { url: `https://127.0.0.1:${port}/validate`, caBundle: Buffer.from(ca.rootPem()).toString('base64') };
    w.failurePolicy = 'Fail';
  }
  ok(await kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify(vwc) }), 'register the webhook');
  t.after(() => kube.kubectl(['delete', 'validatingwebhookconfiguration', 'tsmesh-test-validator', '--ignore-not-found']));

  const file = join(tmp, 'bad-vs.yaml');
  writeFileSync(file, INVALID_VIRTUAL_SERVICE);
  const validate = await tsmesh(['validate', '-q', '-f', file]);
  assert.equal(validate.code, 1, validate.stdout + validate.stderr);
  const lines = validateLinesOf(validate.stdout);
  assert.ok(lines.length >= 1 && lines[0].startsWith('VirtualService default/reviews-bad: '), validate.stdout);

  // The webhook may take a moment to be called by the API server after registration.
  const refused = await until(async () => {
    const r = await kube.kubectl(['apply', '-n', 'default', '-f', file]);
    return r.code !== 0 && r.stderr.includes('denied the request') ? r : undefined;
  }, 'the webhook refuses', 30_000, 500);
  assert.match(refused.stderr, /admission webhook "rev\.validation\.istio\.io" denied the request: /);
  for (const l of lines) assert.ok(refused.stderr.includes(l), `kubectl shows validate's line ${JSON.stringify(l)}\n${refused.stderr}`);
  const absent = await kube.kubectl(['get', 'vs', 'reviews-bad', '-n', 'default']);
  assert.notEqual(absent.code, 0, 'not stored');

  // A valid one passes through the same webhook.
  ok(await kube.kubectl(['apply', '-n', 'default', '-f', join(NETWORKING, 'virtual-service-all-v1.yaml')]), 'valid VirtualServices allowed');
});

test('tsmesh install applies every object (again: unchanged); tsmesh uninstall --purge leaves nothing', async () => {
  const objects = installManifest(resolveValues([], []));
  const first = await tsmesh(['install', '-y', '--kubeconfig', kube.kubeconfig]);
  ok(first, 'tsmesh install');
  for (const o of objects) {
    ok(await kube.kubectl(['get', ...getArgs(o), '-o', 'name']), `${o.kind} ${o.metadata.name} exists`);
  }
  assert.match(first.stdout, /^namespace\/istio-system created$/m);
  assert.match(first.stdout, /^deployment\.apps\/istiod created$/m);
  assert.match(first.stdout, /✔ tsmesh installed/);

  const again = await tsmesh(['install', '-y', '--kubeconfig', kube.kubeconfig]);
  ok(again, 'tsmesh install again');
  const verbs = again.stdout.split('\n').filter((l) => /^\S+\/\S+ \w+$/.test(l));
  assert.equal(verbs.length, objects.length);
  // The CRDs were applied by kubectl before (another field manager): SSA takes them over once.
  assert.deepEqual(verbs.filter((l) => !l.endsWith(' unchanged') && !l.startsWith('customresourcedefinition')), [], 'nothing changes on the second run');

  const purged = await tsmesh(['uninstall', '--purge', '-y', '--kubeconfig', kube.kubeconfig]);
  const purgedAt = Date.now();
  ok(purged, 'tsmesh uninstall --purge');
  assert.match(purged.stdout, /^deployment\.apps "istiod" deleted$/m);
  // A deleted CRD stays, terminating, until the API server's own finalizer has removed its objects
  // and its storage; on CI one stayed past 90 s. So deleted means gone, or for a CRD, terminating
  // (a deletionTimestamp: the delete was issued and the rest is the API server's) after 60 s.
  const goneOrTerminating = async (o: (typeof objects)[number]) => {
    const r = await kube.kubectl(['get', ...getArgs(o), '-o', 'json']);
    if (r.code !== 0) return /NotFound|not found/.test(r.stderr) ? 'gone' : undefined;
    return o.kind === 'CustomResourceDefinition' && JSON.parse(r.stdout).metadata?.deletionTimestamp ? 'terminating' : undefined;
  };
  const terminating: string[] = [];
  for (const o of objects) {
    const gone = await until(async () => {
      const state = await goneOrTerminating(o);
      // Give a terminating CRD some time to finish before accepting it as being deleted.
      return state === 'gone' || (state === 'terminating' && Date.now() - purgedAt > 60_000) ? state : undefined;
    }, `${o.kind} ${o.metadata.name} gone`, 90_000, 500);
    if (gone === 'terminating') terminating.push(o.metadata.name);
  }
  const crds = await kube.kubectl(['get', 'crd', '-o', 'name']);
  ok(crds, 'kubectl get crd');
  const left = crds.stdout.split('\n').filter((l) => /istio\.io/.test(l)).map((l) => l.replace(/^customresourcedefinition\.apiextensions\.k8s\.io\//, ''));
  assert.deepEqual(left.filter((n) => !terminating.includes(n)), [], 'no Istio CRD left that is not being deleted');
  const labelled = await kube.kubectl(['get', 'clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations', '-l', 'app.kubernetes.io/managed-by=tsmesh', '-o', 'name']);
  ok(labelled, 'kubectl get by label');
  assert.equal(labelled.stdout.trim(), '');
});
