import { test } from 'node:test';
import assert from 'node:assert/strict';
import { servicesForProxy, sidecarFor } from '../../src/pilot/visibility.ts';
import { virtualServicesForProxy } from '../../src/pilot/virtualservice/index.ts';
import { proxyFor, pushFromYaml } from './fixtures.ts';

const svc = (name: string, ns: string, exportTo?: string) => `
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
${exportTo ? `  annotations:\n    networking.istio.io/exportTo: "${exportTo}"\n` : ''}spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 80}]
---`;

const hosts = (push: ReturnType<typeof pushFromYaml>, ns: string, labels: Record<string, string> = {}) =>
  servicesForProxy(push, proxyFor({ namespace: ns, labels })).map((s) => s.hostname);

test('service exportTo: "*" everywhere, "." only its namespace, a list only those namespaces', () => {
  const push = pushFromYaml([svc('pub', 'a'), svc('priv', 'a', '.'), svc('listed', 'a', 'b,c'), svc('none', 'a', '~')].join('\n'));
  assert.deepEqual(hosts(push, 'a'), ['priv.a.svc.cluster.local', 'pub.a.svc.cluster.local']);
  assert.deepEqual(hosts(push, 'b'), ['listed.a.svc.cluster.local', 'pub.a.svc.cluster.local']);
  assert.deepEqual(hosts(push, 'z'), ['pub.a.svc.cluster.local']);
});

const sidecar = (name: string, ns: string, hosts: string[], selector?: Record<string, string>) => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: ${ns}}
spec:
${selector ? `  workloadSelector: {labels: ${JSON.stringify(selector)}}\n` : ''}  egress: [{hosts: ${JSON.stringify(hosts)}}]
---`;

test('Sidecar egress scopes what a proxy sees: ./host, ns/*, */wildcard, ~', () => {
  const services = [svc('a1', 'a'), svc('a2', 'a'), svc('b1', 'b'), svc('ext', 'c')].join('\n');
  const push = pushFromYaml(services + sidecar('dflt', 'a', ['./a1.a.svc.cluster.local', 'b/*']) + sidecar('only-c', 'b', ['*/*.c.svc.cluster.local']) + sidecar('nothing', 'c', ['~/*']));
  assert.deepEqual(hosts(push, 'a'), ['a1.a.svc.cluster.local', 'b1.b.svc.cluster.local']);
  assert.deepEqual(hosts(push, 'b'), ['ext.c.svc.cluster.local']);
  assert.deepEqual(hosts(push, 'c'), []);
  // No Sidecar anywhere for namespace d: everything exported is visible.
  assert.equal(hosts(push, 'd').length, 4);
});

test('Sidecar selection: workloadSelector match, then namespace default, then root namespace default', () => {
  const services = [svc('a1', 'a'), svc('b1', 'b')].join('\n');
  const push = pushFromYaml(services + sidecar('for-v2', 'a', ['b/*'], { version: 'v2' }) + sidecar('ns', 'a', ['a/*']) + sidecar('root', 'istio-system', ['istio-system/*']));
  assert.equal(sidecarFor(push, proxyFor({ namespace: 'a', labels: { version: 'v2' } }))?.metadata.name, 'for-v2');
  assert.equal(sidecarFor(push, proxyFor({ namespace: 'a', labels: { version: 'v1' } }))?.metadata.name, 'ns');
  assert.equal(sidecarFor(push, proxyFor({ namespace: 'b' }))?.metadata.name, 'root');
  assert.deepEqual(hosts(push, 'a', { version: 'v2' }), ['b1.b.svc.cluster.local']);
  assert.deepEqual(hosts(push, 'a', { version: 'v1' }), ['a1.a.svc.cluster.local']);
  assert.deepEqual(hosts(push, 'b'), []);
});

test('VirtualServices apply to sidecars only when bound to mesh and exported to them', () => {
  const vs = (name: string, extra: string) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: a}
spec:
  hosts: [a1]
${extra}
  http: [{route: [{destination: {host: a1}}]}]
---`;
  const push = pushFromYaml(svc('a1', 'a') + vs('plain', '') + vs('gw', '  gateways: [my-gw]') + vs('both', '  gateways: [my-gw, mesh]') + vs('private', '  exportTo: ["."]'));
  const names = (ns: string) => virtualServicesForProxy(push, proxyFor({ namespace: ns })).map((c) => c.metadata.name).sort();
  assert.deepEqual(names('a'), ['both', 'plain', 'private']);
  assert.deepEqual(names('b'), ['both', 'plain']);
});
