/**
 * The informer against a real kube-apiserver: list then watch delivers each change once; an API
 * server restart (same etcd) and the resourceVersion resume or relist after it deliver what
 * changed meanwhile and nothing twice; a resource whose CRD is missing retries until it appears.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { Informer, type InformerEvent, type KubeObject } from '../../src/kube/informers/informer.ts';
import { ISTIO_RESOURCES } from '../../src/kube/informers/resources.ts';
import { istioCrd } from '../../src/kube/crds/index.ts';

let kube: KubeCluster;
let client: KubeClient;

describe('informer', { timeout: 300_000 }, () => {
  // Registered here, not from inside before(): node:test runs an after() added in a hook when that hook ends.
  after(() => kube?.close());
  before(async () => {
    kube = await startKubeCluster(undefined);
    client = KubeClient.fromFile(kube.kubeconfig);
  });

  /** Every event as "type name data.v", in order. */
  function record(inf: Informer): string[] {
    const seen: string[] = [];
    inf.on((events: InformerEvent<KubeObject>[]) => {
      for (const e of events) seen.push(`${e.type} ${e.object.metadata.name} ${e.object.data?.v ?? ''}`.trim());
    });
    return seen;
  }
  const configMap = (name: string, v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });
  const put = (name: string, v: string) => client.request('PATCH', `/api/v1/namespaces/default/configmaps/${name}`, { data: { v } }, 'application/merge-patch+json');

  test('list, then each watched change once; across an API server restart nothing is lost or repeated', async (t) => {
    await client.request('POST', '/api/v1/namespaces/default/configmaps', configMap('before', '1'));
    const inf = new Informer(client, { path: '/api/v1/namespaces/default/configmaps', apiVersion: 'v1', kind: 'ConfigMap', fieldSelector: 'metadata.name!=kube-root-ca.crt', backoff: { minMs: 50, maxMs: 1000 } });
    const seen = record(inf);
    inf.start();
    t.after(() => inf.stop());
    await inf.waitForSync();
    assert.deepEqual(seen, ['add before 1']);
    assert.equal(inf.get('before', 'default')?.kind, 'ConfigMap', 'listed items carry their kind');

    await client.request('POST', '/api/v1/namespaces/default/configmaps', configMap('a', '1'));
    await put('a', '2');
    await client.request('DELETE', '/api/v1/namespaces/default/configmaps/before');
    await until(() => seen.length === 4, 'three watched events', 10_000);
    assert.deepEqual(seen, ['add before 1', 'add a 1', 'update a 2', 'delete before 1']);

    await kube.restartApiServer();
    // Written as soon as the server is back, while the informer may still be reconnecting.
    await put('a', '3');
    await client.request('POST', '/api/v1/namespaces/default/configmaps', configMap('b', '1'));
    await until(() => seen.includes('add b 1'), 'the changes made across the restart', 60_000);
    // A barrier written after them: once it is seen, anything repeated would have been too.
    await client.request('POST', '/api/v1/namespaces/default/configmaps', configMap('barrier', '1'));
    await until(() => seen.includes('add barrier 1'), 'the barrier', 30_000);
    assert.deepEqual(seen.slice(4), ['update a 3', 'add b 1', 'add barrier 1']);
    assert.deepEqual(inf.list().map((o) => `${o.metadata.name}=${o.data.v}`), ['a=3', 'b=1', 'barrier=1']);
    t.diagnostic(`lists ${inf.lists} (2 when the restart made the old resourceVersion too old), watches opened ${inf.watches}`);
  });

  test('a kind whose CRD is not installed yet is retried and listed once it is', async (t) => {
    const vsType = ISTIO_RESOURCES.find((r) => r.kind === 'Sidecar')!;
    const inf = new Informer(client, { path: vsType.path, apiVersion: vsType.apiVersion, kind: vsType.kind, backoff: { minMs: 50, maxMs: 500 } });
    const seen = record(inf);
    inf.start();
    t.after(() => inf.stop());
    await kube.kubectl(['create', '-f', '-'], { input: JSON.stringify(istioCrd('Sidecar')) }).then((r) => assert.equal(r.code, 0, r.stderr));
    await until(() => inf.synced, 'the Sidecar informer to list once the CRD exists', 30_000);
    const applied = await kube.kubectl(['apply', '-f', '-'], { input: 'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: default}\nspec: {egress: [{hosts: ["./*"]}]}\n' });
    assert.equal(applied.code, 0, applied.stderr);
    await until(() => seen.includes('add default'), 'the Sidecar add', 30_000);
  });
});
