import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/registry/registry.ts';
import { convertKubeService } from '../../src/registry/kubernetes.ts';
import { listDeployments } from '../../src/registry/deployments.ts';
import { BOOKINFO, MemoryStore, cfg, loadYaml } from './fixtures.ts';

const quiet = { log: () => {} };

test('Bookinfo: four Kubernetes Services with Istio hostnames, HTTP port 9080 and their selectors', () => {
  const registry = new Registry({ store: new MemoryStore(loadYaml(BOOKINFO)), ...quiet });
  const svcs = registry.services();
  assert.deepEqual(
    svcs.map((s) => s.hostname),
    ['details.default.svc.cluster.local', 'productpage.default.svc.cluster.local', 'ratings.default.svc.cluster.local', 'reviews.default.svc.cluster.local'],
  );
  for (const s of svcs) {
    assert.equal(s.namespace, 'default');
    assert.equal(s.registry, 'kubernetes');
    assert.equal(s.resolution, 'STATIC');
    assert.equal(s.meshExternal, false);
    assert.deepEqual(s.exportTo, ['*']);
    assert.deepEqual(s.ports, [{ name: 'http', port: 9080, protocol: 'HTTP' }]);
    assert.deepEqual(s.selector, { app: s.name });
    assert.deepEqual(s.addresses, []);
    // Deployments alone are not endpoints.
    assert.deepEqual(registry.endpoints(s.hostname, 9080), []);
  }
  const reviews = registry.getService('reviews.default.svc.cluster.local')!;
  assert.deepEqual(reviews.labels, { app: 'reviews', service: 'reviews' });
  assert.equal(reviews.source, 'Service/default/reviews');
});

test('Bookinfo in another namespace and domain', () => {
  const registry = new Registry({ store: new MemoryStore(loadYaml(BOOKINFO, 'bookinfo')), domain: 'mesh.local', ...quiet });
  assert.ok(registry.getService('ratings.bookinfo.svc.mesh.local'));
  assert.equal(registry.getService('ratings.default.svc.cluster.local'), undefined);
});

test('Bookinfo Deployments expose their pod template labels, service account and ports', () => {
  const deps = listDeployments(loadYaml(BOOKINFO));
  assert.deepEqual(
    deps.map((d) => [d.name, d.labels, d.serviceAccount, d.containerPorts]),
    [
      ['details-v1', { app: 'details', version: 'v1' }, 'bookinfo-details', [9080]],
      ['productpage-v1', { app: 'productpage', version: 'v1' }, 'bookinfo-productpage', [9080]],
      ['ratings-v1', { app: 'ratings', version: 'v1' }, 'bookinfo-ratings', [9080]],
      ['reviews-v1', { app: 'reviews', version: 'v1' }, 'bookinfo-reviews', [9080]],
      ['reviews-v2', { app: 'reviews', version: 'v2' }, 'bookinfo-reviews', [9080]],
      ['reviews-v3', { app: 'reviews', version: 'v3' }, 'bookinfo-reviews', [9080]],
    ],
  );
});

test('cluster IPs, numeric and named targetPorts, headless, exportTo annotation', () => {
  const svc = convertKubeService(
    cfg(
      'Service',
      'echo',
      {
        clusterIP: '10.96.0.20',
        selector: { app: 'echo' },
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'grpc', port: 7070, targetPort: 'grpc-port' },
          { name: 'tcp', port: 9090, targetPort: 9090 },
          { name: 'broken', port: 'x' },
        ],
      },
      { namespace: 'echo', annotations: { 'networking.istio.io/exportTo': '., istio-system' } },
    ),
    'cluster.local',
  );
  assert.deepEqual(svc.addresses, ['10.96.0.20']);
  assert.deepEqual(svc.exportTo, ['.', 'istio-system']);
  assert.deepEqual(svc.ports, [
    { name: 'http', port: 80, protocol: 'HTTP', targetPort: 8080 },
    { name: 'grpc', port: 7070, protocol: 'GRPC', targetPortName: 'grpc-port' },
    { name: 'tcp', port: 9090, protocol: 'TCP' },
  ]);

  const dual = convertKubeService(cfg('Service', 'd', { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1', 'fd00::1'], ports: [{ port: 80 }] }), 'cluster.local');
  assert.deepEqual(dual.addresses, ['10.0.0.1', 'fd00::1']);
  const headless = convertKubeService(cfg('Service', 'h', { clusterIP: 'None', selector: { app: 'h' }, ports: [{ port: 80, name: 'http' }] }), 'cluster.local');
  assert.equal(headless.resolution, 'NONE');
  assert.deepEqual(headless.addresses, []);
  const noSelector = convertKubeService(cfg('Service', 'n', { ports: [{ port: 80 }] }), 'cluster.local');
  assert.equal(noSelector.selector, undefined);
});

test('an ExternalName Service is a DNS alias outside the mesh with the external name as endpoint', () => {
  const store = new MemoryStore([cfg('Service', 'httpbin', { type: 'ExternalName', externalName: 'httpbin.org', ports: [{ name: 'http', port: 80 }] })]);
  const registry = new Registry({ store, ...quiet });
  const s = registry.getService('httpbin.default.svc.cluster.local')!;
  assert.equal(s.resolution, 'DNS');
  assert.equal(s.meshExternal, true);
  assert.deepEqual(
    registry.endpoints(s.hostname, 80).map((e) => [e.address, e.port]),
    [['httpbin.org', 80]],
  );
});
