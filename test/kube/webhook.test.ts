/**
 * The admission webhook server over real HTTPS with a certificate from tsmesh's CA: the /inject
 * answer's JSON patch turns the pod the API server would send into exactly the pod kube-inject
 * writes for the same Deployment; /validate answers with the validation handler; bad requests get
 * 400/404/405 and a failing handler refuses with its error.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { WebhookServer } from '../../src/kube/webhook/server.ts';
import { injectHandler } from '../../src/kube/webhook/inject_handler.ts';
import { validateHandler } from '../../src/kube/webhook/validate.ts';
import { applyPatch, type JsonPatchOp } from '../../src/kube/inject/json_patch.ts';
import { injectWorkload } from '../../src/kube/inject/workloads.ts';
import { defaultInjectionSettings } from '../../src/kube/inject/settings.ts';
import type { AdmissionRequest, AdmissionReview } from '../../src/kube/webhook/types.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

let dir: string;
let ca: CertificateAuthority;
let server: WebhookServer;
let port: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsmesh-webhook-'));
  ca = await CertificateAuthority.load({ stateDir: dir });
  server = new WebhookServer({
    ca,
    inject: injectHandler({ settings: defaultInjectionSettings }),
    validate: async (req) => {
      if (req.name === 'explode') throw new Error('boom');
      return validateHandler(req);
    },
  });
  port = await server.listen();
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** POSTs `body` to `path` as the API server does: HTTPS to istiod.istio-system.svc, trusting only tsmesh's root. */
function post(path: string, body: string, opts: { method?: string; contentType?: string } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'POST', servername: 'istiod.istio-system.svc', ca: ca.rootPem(), headers: { 'content-type': opts.contentType ?? 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function review(request: Partial<AdmissionRequest>): string {
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, ...request } });
}

function bookinfoDeployment(name: string): any {
  const docs = parseAllDocuments(readFileSync(join(ISTIO_DATA, 'samples/bookinfo/platform/kube/bookinfo.yaml'), 'utf8')).map((d) => d.toJS());
  return docs.find((d) => d?.kind === 'Deployment' && d.metadata.name === name);
}

/** The Pod the ReplicaSet controller creates from a Deployment's template, as the webhook receives it. */
function podOf(deployment: any, hash: string): any {
  const tpl = structuredClone(deployment.spec.template);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...tpl.metadata, generateName: `${deployment.metadata.name}-${hash}-`, namespace: 'default', labels: { ...tpl.metadata.labels, 'pod-template-hash': hash }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${deployment.metadata.name}-${hash}`, uid: 'rs-uid', controller: true, blockOwnerDeletion: true }] },
    spec: tpl.spec,
  };
}

test('the /inject patch applied to the pod gives the pod kube-inject writes for its Deployment', async () => {
  for (const name of ['productpage-v1', 'reviews-v2', 'details-v1']) {
    const deployment = bookinfoDeployment(name);
    const pod = podOf(deployment, '7f9c8d6b5');
    const res = await post('/inject', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'default', object: pod }));
    assert.equal(res.status, 200);
    const out = JSON.parse(res.text) as AdmissionReview;
    assert.equal(out.apiVersion, 'admission.k8s.io/v1');
    assert.equal(out.response?.uid, 'u-1');
    assert.equal(out.response?.allowed, true);
    assert.equal(out.response?.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(out.response!.patch!, 'base64').toString('utf8')) as JsonPatchOp[];
    // Annotation keys contain "/": escaped as ~1 (RFC 6901), never read as a deeper path.
    assert.ok(ops.some((o) => o.path === '/metadata/annotations' || o.path === '/metadata/annotations/sidecar.istio.io~1status'), JSON.stringify(ops.map((o) => o.path)));
    const patched = applyPatch(pod, ops);

    const r = injectWorkload(deployment, defaultInjectionSettings());
    assert.ok(r.ok && r.injected);
    const tpl = (r.object as any).spec.template;
    assert.deepEqual(patched.spec, tpl.spec, `${name}: spec`);
    assert.deepEqual(patched.metadata.annotations, tpl.metadata.annotations, `${name}: annotations`);
    const { 'pod-template-hash': hash, ...labels } = patched.metadata.labels;
    assert.equal(hash, '7f9c8d6b5');
    assert.deepEqual(labels, tpl.metadata.labels, `${name}: labels`);
  }
});

test('a pod labelled sidecar.istio.io/inject=false is allowed without a patch', async () => {
  const pod = podOf(bookinfoDeployment('ratings-v1'), 'abc');
  pod.metadata.labels['sidecar.istio.io/inject'] = 'false';
  const out = JSON.parse((await post('/inject', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'default', object: pod }))).text) as AdmissionReview;
  assert.deepEqual(out.response, { uid: 'u-1', allowed: true });
});

test('a pod whose annotations cannot be honoured is refused with the annotation named', async () => {
  const pod = podOf(bookinfoDeployment('ratings-v1'), 'abc');
  pod.metadata.annotations = { 'traffic.sidecar.istio.io/includeOutboundIPRanges': 'everything' };
  const out = JSON.parse((await post('/inject', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'default', object: pod }))).text) as AdmissionReview;
  assert.equal(out.response?.allowed, false);
  assert.match(out.response!.status!.message!, /traffic\.sidecar\.istio\.io\/includeOutboundIPRanges takes IP addresses or CIDRs.*"everything"/);
});

test('a pod with injector annotations tsmesh does not act on is injected with an admission warning naming each', async () => {
  const pod = podOf(bookinfoDeployment('ratings-v1'), 'abc');
  pod.metadata.annotations = { 'sidecar.istio.io/userVolume': '[]', 'status.sidecar.istio.io/port': '15021', 'sidecar.istio.io/proxyCPU': '200m', 'example.com/other': 'x' };
  const out = JSON.parse((await post('/inject', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'default', object: pod }))).text) as AdmissionReview;
  assert.equal(out.response?.allowed, true);
  assert.equal(out.response?.patchType, 'JSONPatch');
  assert.deepEqual(
    out.response?.warnings?.map((w) => w.split(' ')[1]),
    ['sidecar.istio.io/userVolume', 'status.sidecar.istio.io/port'],
    'proxyCPU is acted on and example.com/other is not the injector\'s: neither is warned about',
  );
});

test('/validate refuses an invalid VirtualService; a throwing handler refuses with its error', async () => {
  const vs = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad', namespace: 'default' }, spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }], timeout: '1x' }] } };
  const kind = { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' };
  const bad = JSON.parse((await post('/validate', review({ kind, namespace: 'default', name: 'bad', object: vs }))).text) as AdmissionReview;
  assert.equal(bad.response?.allowed, false);
  assert.match(bad.response!.status!.message!, /spec\.http\[0\]\.timeout: invalid duration "1x"/);
  const boom = JSON.parse((await post('/validate', review({ kind, namespace: 'default', name: 'explode', object: vs }))).text) as AdmissionReview;
  assert.deepEqual(boom.response, { uid: 'u-1', allowed: false, status: { code: 500, reason: 'InternalError', message: 'validate webhook: boom' } });
});

test('requests that are not AdmissionReview v1 POSTs are answered 400, 404 or 405', async () => {
  assert.equal((await post('/inject', '{not json')).status, 400);
  const v1beta1 = await post('/inject', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }));
  assert.equal(v1beta1.status, 400);
  assert.match(v1beta1.text, /admission\.k8s\.io\/v1/);
  assert.equal((await post('/inject', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }))).status, 400);
  assert.equal((await post('/inject', review({}), { contentType: 'text/plain' })).status, 400);
  assert.equal((await post('/mutate', review({}))).status, 404);
  assert.equal((await post('/inject', '', { method: 'GET' })).status, 405);
  // The server kept serving through all of that.
  const ok = JSON.parse((await post('/inject', review({ kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'DELETE' }))).text) as AdmissionReview;
  assert.deepEqual(ok.response, { uid: 'u-1', allowed: true });
});
