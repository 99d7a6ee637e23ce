/**
 * The node agent runs tsmesh install's istio-ingressgateway as a gateway: its istio-proxy's args
 * (`proxy --type router`, or Istio's `proxy router`) make a router, an injected sidecar does not;
 * and what demo --kube applies is install's webhook configurations (same names and selectors)
 * with a url at the control plane instead of the istiod Service.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ingressGatewayObjects } from '../../src/kube/install/gateway.ts';
import { installManifest } from '../../src/kube/install/manifest.ts';
import { defaultValues, resolveValues } from '../../src/kube/install/values.ts';
import { isRouterPod } from '../../src/kube/node/sidecar.ts';
import type { KubePod } from '../../src/kube/node/types.ts';
import { demoClusterObjects } from '../../src/demo/kube_objects.ts';

const podOf = (spec: any): KubePod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'istio-system' }, spec }) as KubePod;

test("install's ingress gateway pod is a router; a pod with an injected sidecar and a plain pod are not", () => {
  const dep = ingressGatewayObjects(defaultValues()).find((o) => o.kind === 'Deployment') as any;
  assert.equal(isRouterPod(podOf(dep.spec.template.spec)), true);
  // Istio's own gateway image args.
  assert.equal(isRouterPod(podOf({ containers: [{ name: 'istio-proxy', args: ['proxy', 'router', '--domain', 'x'] }] })), true);
  assert.equal(isRouterPod(podOf({ initContainers: [{ name: 'istio-proxy', restartPolicy: 'Always', args: ['proxy', 'sidecar', '--domain', 'x'] }], containers: [{ name: 'app' }] })), false);
  assert.equal(isRouterPod(podOf({ containers: [{ name: 'app', args: ['proxy', '--type', 'router'] }] })), false, 'only the istio-proxy container counts');
});

test("demo --kube's webhook configurations are install's, pointed at a url, with the gateway objects", () => {
  const url = 'https://127.0.0.1:15017';
  const objects = demoClusterObjects({ webhookUrl: url, gateway: true });
  const installed = installManifest(resolveValues([], []));
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    const mine = objects.find((o) => o.kind === kind) as any;
    const theirs = installed.find((o) => o.kind === kind) as any;
    assert.equal(mine.metadata.name, theirs.metadata.name);
    assert.deepEqual(mine.webhooks.map((w: any) => w.name), theirs.webhooks.map((w: any) => w.name));
    for (const [i, w] of mine.webhooks.entries()) {
      assert.deepEqual(w.clientConfig, { url: `${url}${theirs.webhooks[i].clientConfig.service.path}` });
      assert.deepEqual(w.namespaceSelector, theirs.webhooks[i].namespaceSelector);
      assert.deepEqual(w.objectSelector, theirs.webhooks[i].objectSelector);
    }
  }
  assert.ok(objects.some((o) => o.kind === 'Deployment' && o.metadata.name === 'istio-ingressgateway'));
  assert.ok(!demoClusterObjects({}).some((o) => /WebhookConfiguration|Deployment/.test(o.kind)), 'without a url or gateway: CRDs and namespace only');
});
