/**
 * Sidecar egress listeners with a port: on that outbound port only the listener's hosts are
 * served (listener, RDS "<port>", http_proxy route); other ports fall to the port-less listener,
 * or serve nothing without one; clusters still cover every listener's hosts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { TYPE } from '../../src/xds/types.ts';
import { MESH, proxyFor, pushFromYaml, workload } from './fixtures.ts';
import { doc, problems } from '../api/helpers.ts';

const fqdn = (h: string) => `${h}.default.svc.cluster.local`;
const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {selector: {app: api}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: default}
spec: {selector: {app: cache}, ports: [{name: tcp, port: 6379}]}
`;
const VIPS = { [fqdn('web')]: '10.0.0.1', [fqdn('api')]: '10.0.0.2', [fqdn('db')]: '10.0.0.3', [fqdn('cache')]: '10.0.0.4' };

function build(egress: string, md: Record<string, unknown> = {}) {
  const sidecar = `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress:
${egress}`;
  const push = pushFromYaml(SERVICES + sidecar, [], MESH, VIPS);
  const proxy = proxyFor(workload('client-0', '127.0.9.9', { app: 'client' }), md);
  return { push, proxy };
}
const vhostNames = (rc: any) => rc.virtual_hosts.map((v: any) => v.name).filter((n: string) => n.includes(':'));

test('the port 8080 egress listener serves only its hosts there; the port-less one serves the rest', () => {
  const { push, proxy } = build(`
  - port: {number: 8080, protocol: HTTP, name: http}
    hosts: ["./${fqdn('web')}"]
  - hosts: ["./*"]
`);
  const [rc] = generate(push, proxy, TYPE.ROUTE, ['8080']);
  assert.deepEqual(vhostNames(rc!.resource), [`${fqdn('web')}:8080`]);
  const listeners = generate(push, proxy, TYPE.LISTENER).map((l) => l.name);
  assert.ok(listeners.includes('10.0.0.3_5432') && listeners.includes('10.0.0.4_6379'), listeners.join(','));
  // Clusters: every listener's hosts (api is reachable through neither route, but the catch-all admits it).
  const clusters = generate(push, proxy, TYPE.CLUSTER).map((c) => c.name);
  assert.ok(clusters.includes(`outbound|8080||${fqdn('web')}`) && clusters.includes(`outbound|5432||${fqdn('db')}`));
});

test('without a port-less listener, ports no egress listener names serve nothing', () => {
  const { push, proxy } = build(`
  - port: {number: 5432, protocol: TCP, name: tcp}
    hosts: ["./${fqdn('db')}"]
  - port: {number: 8080, protocol: HTTP, name: http}
    hosts: ["./${fqdn('api')}"]
`);
  const listeners = generate(push, proxy, TYPE.LISTENER).map((l) => l.name);
  assert.ok(listeners.includes('10.0.0.3_5432'), listeners.join(','));
  assert.ok(!listeners.includes('10.0.0.4_6379'), 'cache:6379 is named by no egress listener');
  const [rc] = generate(push, proxy, TYPE.ROUTE, ['8080']);
  assert.deepEqual(vhostNames(rc!.resource), [`${fqdn('api')}:8080`]);

  // NONE mode: the http_proxy route and the bound TCP listeners follow the same scope.
  const none = build(`
  - port: {number: 5432, protocol: TCP, name: tcp}
    hosts: ["./${fqdn('db')}", "./${fqdn('cache')}"]
  - port: {number: 8080, protocol: HTTP, name: http}
    hosts: ["./${fqdn('api')}"]
`, { INTERCEPTION_MODE: 'NONE', HTTP_PROXY_PORT: '15080', TSMESH_APP_ADDRESS: '127.0.2.9' });
  const [hp] = generate(none.push, none.proxy, TYPE.ROUTE, ['http_proxy']);
  assert.deepEqual(vhostNames(hp!.resource), [`${fqdn('api')}:8080`]);
  const bound = generate(none.push, none.proxy, TYPE.LISTENER).map((l) => l.name).sort();
  assert.deepEqual(bound, ['127.0.2.9_15080', '127.0.2.9_5432']);
});

test('egress port.number draws no warning; egress bind and captureMode still do', () => {
  const ok = problems(doc('Sidecar', `egress:\n- port: {number: 8080, name: http}\n  hosts: ["./*"]`));
  assert.deepEqual(ok, []);
  const bind = problems(doc('Sidecar', `egress:\n- port: {number: 8080, name: http}\n  bind: 127.0.0.1\n  hosts: ["./*"]`));
  assert.ok(bind.some((e) => e.severity === 'warning' && e.path === 'spec.egress[0].bind'), JSON.stringify(bind));
});
