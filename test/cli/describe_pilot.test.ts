/**
 * The control plane's describe facts (src/controlplane/debug_describe.ts) on a Bookinfo push
 * built from Istio's files: the DestinationRule and VirtualServices pilot picks for a pod's
 * service, subsets matched against the pod's labels, the effective mTLS mode and the policies
 * behind it, RBAC policy names as pilot generates them, and the ingress gateway that exposes a
 * service; printed through describe_format as `tsmesh describe` prints them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPod, formatServiceDescription } from '../../src/cli/describe_format.ts';
import { describePod, describeService, describeVersion, type PodDescription, type ServiceDescription } from '../../src/controlplane/debug_describe.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { Proxy } from '../../src/pilot/types.ts';
import { BOOKINFO, BOOKINFO_NETWORKING, MESH, bookinfoWorkloads, loadYaml, parseYamlText, realRegistry, sidecarNode } from '../pilot/fixtures.ts';
import { NO_ISTIO_DATA } from '../helpers/demo.ts';

const POLICIES = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews, namespace: default}
spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: UNSET}, portLevelMtls: {"9080": {mode: PERMISSIVE}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/bookinfo-productpage]}}]
  - to: [{operation: {methods: [HEAD]}}]
`;

function world(files: string[], extra = '') {
  const base = loadYaml(BOOKINFO);
  const configs = [...base, ...files.flatMap((f) => loadYaml(`${BOOKINFO_NETWORKING}/${f}`)), ...parseYamlText(extra)];
  const workloads = bookinfoWorkloads(base);
  const push = buildPushContext({ mesh: MESH, configs, registry: realRegistry(configs, workloads) });
  const sidecars = workloads.map((w) => parseProxy(sidecarNode(w, { NAME: w.name, WORKLOAD_NAME: w.name.replace(/-0$/, '') })));
  const gateway = parseProxy({ id: 'router~127.0.0.9~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local', metadata: { NAMESPACE: 'istio-system', LABELS: { istio: 'ingressgateway' }, ISTIO_VERSION: '1.24.0' } });
  return { push, configs, proxies: [...sidecars, gateway] as Proxy[] };
}

function ok<T extends object>(r: T | { error: string }): T {
  assert.ok(!('error' in r), JSON.stringify(r));
  return r as T;
}

test('a reviews-v2 pod: its DestinationRule subsets and TLS mode, the 80/20 VirtualService, no ingress', { skip: NO_ISTIO_DATA }, () => {
  const { push, configs, proxies } = world(['bookinfo-gateway.yaml', 'destination-rule-all-mtls.yaml', 'virtual-service-reviews-80-20.yaml']);
  const d = ok<PodDescription>(describePod(push, proxies, configs, 'reviews-v2-0', 'default'));
  assert.deepEqual(d.pod.ports, [
    { port: 9080, protocol: 'TCP', container: 'reviews' },
    { port: 15090, protocol: 'TCP', container: 'istio-proxy' },
  ]);
  const [svc] = d.services;
  assert.equal(svc?.hostname, 'reviews.default.svc.cluster.local');
  const port = svc!.ports[0]!;
  assert.deepEqual([port.name, port.port, port.protocol, port.targetPort], ['http', 9080, 'HTTP', 9080]);
  assert.deepEqual(port.destinationRule && [port.destinationRule.name, port.destinationRule.matchingSubsets, port.destinationRule.nonMatchingSubsets], ['reviews', ['v2'], ['v1', 'v3']]);
  assert.deepEqual(port.virtualServices.map((v) => v.name), ['reviews']);
  assert.deepEqual(d.ingress, [], 'the bookinfo VirtualService routes to productpage only');
  const text = formatPod(d, { namespace: 'default' }).out;
  assert.ok(text.includes('   Route to host "reviews" subset "v2" with weight 20%'), text.join('\n'));
  assert.ok(text.includes('   Traffic Policy TLS Mode: ISTIO_MUTUAL'), text.join('\n'));
  assert.ok(text.includes('   Workload mTLS mode: PERMISSIVE'), text.join('\n'));
});

test('mTLS: the mesh-wide STRICT mode, a workload port back to PERMISSIVE, both policies applied; RBAC policy names', { skip: NO_ISTIO_DATA }, () => {
  const { push, configs, proxies } = world([], POLICIES);
  const d = ok<PodDescription>(describePod(push, proxies, configs, 'reviews-v1-0', 'default'));
  assert.deepEqual(d.peerAuthentication, { mode: 'STRICT', perPort: [{ port: 9080, mode: 'PERMISSIVE' }], applied: ['default.istio-system', 'reviews.default'] });
  assert.deepEqual(d.services[0]!.ports[0]!.rbacPolicies, ['ns[default]-policy[reviews-viewer]-rule[0]', 'ns[default]-policy[reviews-viewer]-rule[1]']);
  const ratings = ok<PodDescription>(describePod(push, proxies, configs, 'ratings-v1-0', 'default'));
  assert.deepEqual(ratings.peerAuthentication, { mode: 'STRICT', perPort: [], applied: ['default.istio-system'] });
  assert.deepEqual(ratings.services[0]!.ports[0]!.rbacPolicies, []);
});

test('productpage service: exposed on the gateway at its address with the bookinfo VirtualService', { skip: NO_ISTIO_DATA }, () => {
  const { push, configs, proxies } = world(['bookinfo-gateway.yaml']);
  const d = ok<ServiceDescription>(describeService(push, proxies, configs, 'productpage', 'default'));
  assert.deepEqual([d.pods, d.meshedPods], [1, ['productpage-v1-0']]);
  assert.deepEqual(
    d.ingress.map((i) => [i.urls, i.gateway, i.virtualService.name]),
    [[['http://127.0.0.9:8080'], 'default/bookinfo-gateway', 'bookinfo']],
  );
  const text = formatServiceDescription(d, { namespace: 'default' });
  assert.ok(text.includes('Exposed on Ingress Gateway http://127.0.0.9:8080'), text.join('\n'));
  assert.ok(text.some((l) => l.startsWith('   Match: /productpage, Match: /static*')), text.join('\n'));
  assert.deepEqual(describeService(push, proxies, configs, 'nope', 'default'), { error: 'services "nope" not found in namespace default' });
  // Without a connected sidecar the pods still count, from their Deployments.
  const unmeshed = ok<ServiceDescription>(describeService(push, proxies.filter((p) => p.type === 'router'), configs, 'reviews', 'default'));
  assert.deepEqual([unmeshed.pods, unmeshed.meshedPods, unmeshed.described], [3, [], undefined]);
});

test('a pod that is not connected: described from its Deployment, marked unmeshed; unknown pods are an error', { skip: NO_ISTIO_DATA }, () => {
  const { push, configs, proxies } = world([]);
  const others = proxies.filter((p) => !p.id.includes('details'));
  const d = ok<PodDescription>(describePod(push, others, configs, 'details-v1-abc', 'default', 'details-v1'));
  assert.equal(d.pod.meshed, false);
  assert.deepEqual(d.pod.ports, [{ port: 9080, protocol: 'TCP', container: 'details' }]);
  assert.deepEqual(d.services.map((s) => s.name), ['details']);
  assert.match((describePod(push, others, configs, 'ghost', 'default') as { error: string }).error, /pods "ghost" not found/);
});

test('version: each connected proxy with the Istio version its node reports', { skip: NO_ISTIO_DATA }, () => {
  const { proxies } = world([]);
  const v = describeVersion(proxies);
  assert.equal(v.proxies.length, proxies.length);
  assert.ok(v.proxies.every((p) => p.IstioVersion === '1.24.0'));
  assert.ok(v.proxies.some((p) => p.type === 'router'));
});
