/**
 * The status writer against a real kube-apiserver, on a busy cluster: a ConfigMap rewritten more
 * often than the debounce still lets status.validationMessages be written (the max wait), and pod
 * status writes alone (kubelet heartbeats) start no analysis pass while a label change does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeCluster, type KubeCluster } from '../helpers/kube.ts';
import { until } from '../helpers/poll.ts';
import { KubeClient } from '../../src/kube/client/client.ts';
import { istioCrd } from '../../src/kube/crds/index.ts';
import { informerFor, ISTIO_RESOURCES, KUBE_RESOURCES } from '../../src/kube/informers/resources.ts';
import type { Informer } from '../../src/kube/informers/informer.ts';
import { StatusWriter } from '../../src/kube/status/writer.ts';

let kube: KubeCluster;
let client: KubeClient;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await kube.kubectl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('status writer on a busy cluster', { timeout: 240_000 }, () => {
  after(() => kube?.close());
  before(async () => {
    kube = await startKubeCluster(undefined);
    client = KubeClient.fromFile(kube.kubeconfig);
    await kubectl(['create', '-f', '-'], JSON.stringify(istioCrd('VirtualService')));
    await until(async () => (await kubectl(['get', 'crd', 'virtualservices.networking.istio.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])) === 'True', 'the VirtualService CRD established', 60_000, 200);
    await kubectl(['apply', '-f', '-'], 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: default}\n');
  });

  function writer(t: { after(fn: () => unknown): void }, debounceMs: number, maxWaitMs: number) {
    const vs = ISTIO_RESOURCES.find((r) => r.kind === 'VirtualService')!;
    const informers: Informer[] = [informerFor(client, vs), informerFor(client, KUBE_RESOURCES.ConfigMap), informerFor(client, KUBE_RESOURCES.Pod)];
    const w = new StatusWriter(client, { istio: [{ type: vs, informer: informers[0]! }], context: informers.slice(1), debounceMs, maxWaitMs });
    for (const i of informers) i.start();
    t.after(async () => {
      await w.close();
      for (const i of informers) i.stop();
    });
    return { w, synced: () => Promise.all(informers.map((i) => i.waitForSync())) };
  }

  test('a ConfigMap rewritten faster than the debounce does not hold status back past the max wait', async (t) => {
    const { w, synced } = writer(t, 1500, 3000);
    await synced();
    w.setEnabled(true);
    await kubectl(['create', 'configmap', 'churn', '--from-literal=n=0']);
    let stop = false;
    const churn = (async () => {
      for (let n = 1; !stop; n++) {
        await client.request('PATCH', '/api/v1/namespaces/default/configmaps/churn', { data: { n: String(n) } }, 'application/merge-patch+json');
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    t.after(async () => {
      stop = true;
      await churn;
    });
    await kubectl(['apply', '-f', '-'], 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: dangling, namespace: default}\nspec:\n  hosts: [dangling.example.com]\n  http:\n  - route:\n    - destination: {host: nowhere.default.svc.cluster.local}\n');
    const messages = await until(async () => {
      const ms = JSON.parse(await kubectl(['get', 'virtualservice', 'dangling', '-o', 'json'])).status?.validationMessages ?? [];
      return ms.length > 0 ? ms : undefined;
    }, 'status.validationMessages written while the ConfigMap keeps changing', 30_000, 200);
    assert.ok(messages.some((m: any) => m.type?.code === 'IST0101'), JSON.stringify(messages));
  });

  test('pod status writes alone start no analysis pass; a pod label change does', async (t) => {
    const { w, synced } = writer(t, 100, 1000);
    await synced();
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'busy', namespace: 'default', labels: { app: 'busy' } }, spec: { containers: [{ name: 'app', image: 'tsmesh/none' }] } }));
    w.setEnabled(true);
    const settled = async () => {
      // Quiet once a pass ran and nothing has started another for well over the debounce.
      let last = -1;
      await until(async () => {
        const now = w.passes;
        const quiet = now > 0 && now === last;
        last = now;
        await new Promise((r) => setTimeout(r, 500));
        return quiet;
      }, 'the writer to settle', 20_000, 0);
      return w.passes;
    };
    const before = await settled();
    for (let i = 0; i < 10; i++) {
      const now = new Date(Date.now() + i * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      await client.request('PATCH', '/api/v1/namespaces/default/pods/busy/status', { status: { conditions: [{ type: 'Ready', status: i % 2 ? 'True' : 'False', lastTransitionTime: now }] } }, 'application/merge-patch+json');
    }
    // A barrier the writer does react to, after the status writes: once its pass ran, any pass
    // the status writes caused would have run too.
    await kubectl(['label', 'pod', 'busy', 'version=v2']);
    await until(() => w.passes > before, 'a pass for the label change', 20_000);
    const after = await settled();
    assert.equal(after - before, 1, 'one pass: the label change; the ten status writes started none');
  });
});
