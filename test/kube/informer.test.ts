/**
 * The informer against a real kube-apiserver: list then watch delivers each change once; an API
 * server restart (same etcd) and the resourceVersion resume or relist after it deliver what
 * changed meanwhile and nothing twice; a resource whose CRD is missing retries until it appears;
 * stop() while a watch is connecting leaves no watch open on the server; a silent watch is reopened
 * from its resourceVersion without a relist.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { afterWatchEnd, Informer, type InformerEvent, type KubeObject } from '../../src/kube/informers/informer.ts';
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
    const stored = await client.get(`/api/v1/namespaces/default/configmaps/before`);
    assert.ok(stored.metadata.managedFields, 'the API server sends managedFields');
    assert.equal((inf.get('before', 'default')!.metadata as any).managedFields, undefined, 'the cache leaves them out');

    await client.request('POST', '/api/v1/namespaces/default/configmaps', configMap('a', '1'));
    await put('a', '2');
    await client.request('DELETE', '/api/v1/namespaces/default/configmaps/before');
    await until(() => seen.length === 4, 'three watched events', 10_000);
    assert.deepEqual(seen, ['add before 1', 'add a 1', 'update a 2', 'delete before 1']);
    assert.equal((inf.get('a', 'default')!.metadata as any).managedFields, undefined, 'watched objects are cached without managedFields too');

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

  /** Watches the API server is serving for `resource` (its apiserver_longrunning_requests gauge). */
  async function openWatches(resource: string): Promise<number> {
    const text: string = await new Promise((resolve, reject) => {
      // /metrics is text, which client.request would not parse; kubectl get --raw reads it as is.
      kube.kubectl(['get', '--raw', '/metrics']).then((r) => (r.code === 0 ? resolve(r.stdout) : reject(new Error(r.stderr))), reject);
    });
    let n = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('apiserver_longrunning_requests{') || !line.includes(`resource="${resource}"`) || !line.includes('verb="WATCH"')) continue;
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return n;
  }

  test('stop() while the watch is connecting leaves no watch open on the API server (and start() after it runs one loop)', async (t) => {
    // podtemplates: nothing else in this cluster watches them, so every open watch is ours.
    const opts = { path: '/api/v1/podtemplates', apiVersion: 'v1', kind: 'PodTemplate', backoff: { minMs: 50, maxMs: 500 } };
    for (let i = 0; i < 5; i++) {
      const inf = new Informer(client, opts);
      t.after(() => inf.stop());
      inf.start();
      // The watch request is sent right after the first list: stop during its TLS handshake/headers.
      await until(() => inf.watches === 1, 'the watch to be requested', 30_000, 1);
      inf.stop();
    }
    // One informer stopped mid-connect, started again: exactly one watch must end up open.
    const again = new Informer(client, opts);
    t.after(() => again.stop());
    again.start();
    await until(() => again.watches === 1, 'the watch to be requested', 30_000, 1);
    again.stop();
    again.start();
    await until(async () => (await openWatches('podtemplates')) === 1, 'exactly one open podtemplates watch (the restarted informer\'s)', 20_000, 200);
    again.stop();
    await until(async () => (await openWatches('podtemplates')) === 0, 'no open podtemplates watch after stop()', 20_000, 200);
  });

  test('a watch silent for idleTimeoutMs is reopened from its resourceVersion, without a relist, and keeps delivering', async (t) => {
    const inf = new Informer(client, { path: '/api/v1/namespaces/default/configmaps', apiVersion: 'v1', kind: 'ConfigMap', fieldSelector: 'metadata.name=idle-check', idleTimeoutMs: 300, backoff: { minMs: 20, maxMs: 100 } });
    const seen = record(inf);
    inf.start();
    t.after(() => inf.stop());
    await inf.waitForSync();
    await until(() => inf.watches >= 4, 'the silent watch to be reopened three times', 20_000);
    assert.equal(inf.lists, 1, 'reopened from the resourceVersion, not relisted');
    await client.request('POST', '/api/v1/namespaces/default/configmaps', configMap('idle-check', '1'));
    await until(() => seen.includes('add idle-check 1'), 'the change made after the reopens', 10_000);
  });

  test('a clean watch end that comes at once with no events backs off like an error; a normal one resumes', () => {
    assert.equal(afterWatchEnd({ lastedMs: 5, events: 0 }), 'backoff');
    assert.equal(afterWatchEnd({ lastedMs: 5, events: 2 }), 'resume');
    assert.equal(afterWatchEnd({ lastedMs: 240_000, events: 0 }), 'resume');
    assert.equal(afterWatchEnd({ err: new Error('reset'), lastedMs: 240_000, events: 9 }), 'backoff');
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
