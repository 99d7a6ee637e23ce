/**
 * CSR authentication through the Kubernetes TokenReview API, when the check itself fails: istiod
 * lacking tokenreviews/create (RBAC 403) or an API server that does not answer is reported to the
 * workload as UNAVAILABLE naming POST tokenreviews and the cause (the agent retries), never as a
 * bad token; a token Kubernetes does refuse is still UNAUTHENTICATED.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { CaServer } from '../../src/ca/server.ts';
import { newCertificateClient } from '../../src/ca/csr_service.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { tokenReviewAuthenticator } from '../../src/kube/tokenreview/authenticator.ts';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { makeCsr } from '../ca/helpers.ts';

let kube: KubeCluster;
let dir: string;

async function kubectl(args: string[]): Promise<string> {
  const r = await kube.kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A kubeconfig for `server` that authenticates with a bearer token. */
function tokenKubeconfig(name: string, server: string, token: string): string {
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server, 'certificate-authority-data': Buffer.from(kube.caPem).toString('base64') } }],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return file;
}

/** CreateCertificate through a CaServer whose authenticator is `client`'s TokenReview. */
async function csrThrough(t: { after(fn: () => unknown): void }, client: KubeClient, token: string): Promise<grpc.ServiceError | undefined> {
  const stateDir = mkdtempSync(join(tmpdir(), 'tsmesh-tokenreview-ca-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.load({ stateDir });
  const server = new CaServer({ ca, stateDir, authenticate: tokenReviewAuthenticator(client) });
  const port = await server.listen('127.0.0.1:0');
  const grpcClient = newCertificateClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.rootsPem())));
  t.after(async () => {
    grpcClient.close();
    await server.close();
  });
  const { csrPem } = await makeCsr(['spiffe://cluster.local/ns/default/sa/ratings']);
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => grpcClient.CreateCertificate({ csr: csrPem, validity_duration: 0 }, md, { deadline: Date.now() + 20_000 }, (err) => resolve(err ?? undefined)));
}

describe('TokenReview failures', { timeout: 180_000 }, () => {
  after(() => kube?.close());
  after(() => dir && rmSync(dir, { recursive: true, force: true }));
  before(async () => {
    kube = await startKubeCluster(undefined);
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-tokenreview-'));
    await kubectl(['create', 'serviceaccount', 'ratings']);
    await kubectl(['create', 'serviceaccount', 'not-istiod']);
  });

  test('istiod without tokenreviews/create: UNAVAILABLE naming the 403 and the grant, not a bad token', async (t) => {
    const workload = (await kubectl(['create', 'token', 'ratings', '--audience', 'istio-ca'])).trim();
    const unprivileged = (await kubectl(['create', 'token', 'not-istiod'])).trim();
    const err = await csrThrough(t, KubeClient.fromFile(tokenKubeconfig('no-rbac', kube.server, unprivileged)), workload);
    assert.equal(err?.code, grpc.status.UNAVAILABLE, `${err?.code}: ${err?.details}`);
    assert.match(err!.details, /POST \/apis\/authentication\.k8s\.io\/v1\/tokenreviews: 403: istiod may not create tokenreviews/);
    assert.doesNotMatch(err!.details, /bad-signature/);
  });

  test('an API server that does not answer: UNAVAILABLE naming it', async (t) => {
    // A port nothing listens on (taken, then released).
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const err = await csrThrough(t, KubeClient.fromFile(tokenKubeconfig('down', `https://127.0.0.1:${port}`, 'x')), 'some-token');
    assert.equal(err?.code, grpc.status.UNAVAILABLE, `${err?.code}: ${err?.details}`);
    assert.match(err!.details, /tokenreviews: the Kubernetes API server did not answer: .*ECONNREFUSED/);
  });

  test('a token Kubernetes refuses (another audience) is still UNAUTHENTICATED', async (t) => {
    const wrong = (await kubectl(['create', 'token', 'ratings', '--audience', 'not-istio'])).trim();
    const err = await csrThrough(t, KubeClient.fromFile(kube.kubeconfig), wrong);
    assert.equal(err?.code, grpc.status.UNAUTHENTICATED, `${err?.code}: ${err?.details}`);
  });
});
