import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/registry/registry.ts';
import type { RegistryEvent, Service, Workload } from '../../src/registry/model.ts';
import type { RegistrySource } from '../../src/registry/source.ts';
import { createVipAllocator } from '../../src/registry/vip.ts';
import { BOOKINFO, GOOGLE_APIS, MemoryStore, cfg, loadYaml } from './fixtures.ts';

const quiet = { log: () => {} };
const REVIEWS = 'reviews.default.svc.cluster.local';

function bookinfo() {
  const store = new MemoryStore(loadYaml(BOOKINFO));
  const registry = new Registry({ store, ...quiet });
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  return { store, registry, events };
}

/** Registers one proxy per Bookinfo reviews Deployment, with its pod template labels. */
function registerReviews(registry: Registry) {
  return registry
    .deployments()
    .filter((d) => d.labels.app === 'reviews')
    .map((d, i) => registry.registerProxy({ name: `${d.name}-0`, namespace: d.namespace, ip: `10.1.0.${i + 1}`, labels: d.labels, serviceAccount: d.serviceAccount! }));
}

test('auto-registered reviews v1/v2/v3 become the three endpoints of reviews; unregistering one leaves two', () => {
  const { registry, events } = bookinfo();
  const handles = registerReviews(registry);
  const eps = registry.endpoints(REVIEWS, 9080);
  assert.deepEqual(
    eps.map((e) => [e.address, e.port, e.labels.version, e.workloadName, e.serviceAccount, e.servicePortName]),
    [
      ['10.1.0.1', 9080, 'v1', 'reviews-v1-0', 'bookinfo-reviews', 'http'],
      ['10.1.0.2', 9080, 'v2', 'reviews-v2-0', 'bookinfo-reviews', 'http'],
      ['10.1.0.3', 9080, 'v3', 'reviews-v3-0', 'bookinfo-reviews', 'http'],
    ],
  );
  assert.ok(eps.every((e) => e.tlsModeIstio && e.healthy && e.namespace === 'default' && e.service === REVIEWS));
  // Only reviews got endpoints; each registration was an endpoints-only change of reviews. The
  // first also brought a service account (a SAN clusters check: CDS is pushed too); the others
  // run under the same one.
  assert.deepEqual(registry.endpoints('ratings.default.svc.cluster.local', 9080), []);
  assert.deepEqual(events, [{ services: [REVIEWS], endpointsOnly: true, serviceAccountsChanged: true }, ...[2, 3].map(() => ({ services: [REVIEWS], endpointsOnly: true }))]);

  events.length = 0;
  handles[1]!.unregister();
  assert.deepEqual(registry.endpoints(REVIEWS, 9080).map((e) => e.labels.version), ['v1', 'v3']);
  assert.deepEqual(events, [{ services: [REVIEWS], endpointsOnly: true }]);
  // A second unregister is not a change.
  handles[1]!.unregister();
  assert.equal(events.length, 1);
  assert.deepEqual(registry.workloads().map((w) => w.name), ['reviews-v1-0', 'reviews-v3-0']);
});

test('a registered proxy serves every Service whose selector matches, only in its namespace', () => {
  const store = new MemoryStore([
    cfg('Service', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    cfg('Service', 'web-canary', { selector: { app: 'web', track: 'canary' }, ports: [{ name: 'http-alt', port: 8000, targetPort: 'http-alt' }] }),
    cfg('ServiceEntry', 'web-se', { hosts: ['web.internal'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 9000, name: 'admin', protocol: 'HTTP' }], workloadSelector: { labels: { app: 'web' } } }),
    cfg('Service', 'web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] }, { namespace: 'other' }),
  ]);
  const registry = new Registry({ store, ...quiet });
  registry.registerProxy({ name: 'web-1', namespace: 'default', ip: '10.2.0.1', labels: { app: 'web', track: 'canary' }, ports: { 'http-alt': 8001, admin: 9901 } });
  registry.registerProxy({ name: 'web-2', namespace: 'default', ip: '10.2.0.2', labels: { app: 'web' } });
  const at = (h: string, p: number) => registry.endpoints(h, p).map((e) => `${e.address}:${e.port}`);
  assert.deepEqual(at('web.default.svc.cluster.local', 80), ['10.2.0.1:8080', '10.2.0.2:8080']);
  // Named targetPort resolves through the workload's ports.
  assert.deepEqual(at('web-canary.default.svc.cluster.local', 8000), ['10.2.0.1:8001']);
  // ServiceEntry workloadSelector picks registered proxies too, port by name.
  assert.deepEqual(at('web.internal', 9000), ['10.2.0.1:9901', '10.2.0.2:9000']);
  assert.deepEqual(at('web.other.svc.cluster.local', 80), []);
});

test('a named targetPort the workload does not declare falls back to the service port', () => {
  const store = new MemoryStore([cfg('Service', 'api', { selector: { app: 'api' }, ports: [{ name: 'grpc', port: 7070, targetPort: 'grpc-port' }] })]);
  const registry = new Registry({ store, ...quiet });
  registry.registerProxy({ name: 'api-1', namespace: 'default', ip: '10.3.0.1', labels: { app: 'api' } });
  assert.deepEqual(registry.endpoints('api.default.svc.cluster.local', 7070).map((e) => e.port), [7070]);
});

test('WorkloadEntries are endpoints of Kubernetes Services whose selector matches', () => {
  const store = new MemoryStore(loadYaml(BOOKINFO));
  const registry = new Registry({ store, ...quiet });
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  store.apply(cfg('WorkloadEntry', 'ratings-vm', { address: '172.16.0.5', labels: { app: 'ratings', version: 'v2' }, serviceAccount: 'bookinfo-ratings' }));
  const eps = registry.endpoints('ratings.default.svc.cluster.local', 9080);
  assert.deepEqual(eps.map((e) => [e.address, e.port, e.workloadName, e.labels.version]), [['172.16.0.5', 9080, 'ratings-vm', 'v2']]);
  assert.deepEqual(events, [{ services: ['ratings.default.svc.cluster.local'], endpointsOnly: true, serviceAccountsChanged: true }]);

  // Address change of the WorkloadEntry: endpoints only (same service account).
  store.apply(cfg('WorkloadEntry', 'ratings-vm', { address: '172.16.0.6', labels: { app: 'ratings', version: 'v2' }, serviceAccount: 'bookinfo-ratings' }));
  assert.deepEqual(registry.endpoints('ratings.default.svc.cluster.local', 9080).map((e) => e.address), ['172.16.0.6']);
  assert.deepEqual(events[1], { services: ['ratings.default.svc.cluster.local'], endpointsOnly: true });

  store.delete('WorkloadEntry', 'ratings-vm', 'default');
  assert.deepEqual(registry.endpoints('ratings.default.svc.cluster.local', 9080), []);
  assert.equal(events.length, 3);
});

test('WorkloadGroup auto-registration: template labels, serviceAccount, ports and network merged in; proxy labels win', () => {
  const store = new MemoryStore([
    cfg('Service', 'details', { selector: { app: 'details' }, ports: [{ name: 'http', port: 9080, targetPort: 'http-web' }] }, { namespace: 'vm' }),
    cfg(
      'WorkloadGroup',
      'details-vms',
      {
        metadata: { labels: { app: 'details', version: 'v1' } },
        template: { serviceAccount: 'details-sa', network: 'vm-net', ports: { 'http-web': 8080 }, labels: { version: 'v0', tier: 'backend' } },
      },
      { namespace: 'vm' },
    ),
  ]);
  const registry = new Registry({ store, ...quiet });
  registry.registerProxy({ name: 'details-vm-a', namespace: 'vm', ip: '192.168.1.10', labels: { zone: 'a' }, workloadGroup: 'details-vms', locality: 'us/us-1' });
  registry.registerProxy({ name: 'details-vm-b', namespace: 'vm', ip: '192.168.1.11', labels: { version: 'v9' }, workloadGroup: 'details-vms', serviceAccount: 'own-sa' });
  const eps = registry.endpoints('details.vm.svc.cluster.local', 9080);
  assert.deepEqual(
    eps.map((e) => [e.address, e.port, e.labels.app, e.labels.version, e.labels.tier, e.serviceAccount, e.network]),
    [
      ['192.168.1.10', 8080, 'details', 'v1', 'backend', 'details-sa', 'vm-net'],
      ['192.168.1.11', 8080, 'details', 'v9', 'backend', 'own-sa', 'vm-net'],
    ],
  );
  assert.deepEqual(eps[0]!.locality, { region: 'us', zone: 'us-1' });

  // Editing the group re-templates proxies already connected.
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  store.apply(cfg('WorkloadGroup', 'details-vms', { metadata: { labels: { app: 'other' } }, template: {} }, { namespace: 'vm' }));
  assert.deepEqual(registry.endpoints('details.vm.svc.cluster.local', 9080), []);
  assert.deepEqual(events, [{ services: ['details.vm.svc.cluster.local'], endpointsOnly: true, serviceAccountsChanged: true }]);
});

test('discoverySelectors hide a namespace’s services, endpoints and workloads', () => {
  const store = new MemoryStore([
    ...loadYaml(BOOKINFO),
    ...loadYaml(BOOKINFO, 'hidden'),
    cfg('Namespace', 'default', {}, { labels: { 'istio-discovery': 'enabled' } }),
    cfg('ServiceEntry', 'ext', { hosts: ['hidden.example.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'DNS' }, { namespace: 'hidden' }),
  ]);
  const registry = new Registry({ store, mesh: { discoverySelectors: [{ matchLabels: { 'istio-discovery': 'enabled' } }] }, ...quiet });
  assert.deepEqual(registry.services().map((s) => s.namespace), ['default', 'default', 'default', 'default']);
  assert.equal(registry.getService('reviews.hidden.svc.cluster.local'), undefined);
  registry.registerProxy({ name: 'r', namespace: 'hidden', ip: '10.9.0.1', labels: { app: 'reviews' } });
  assert.deepEqual(registry.workloads(), []);
  assert.equal(registry.isNamespaceSelected('hidden'), false);

  // Labelling the namespace brings it in: its services appear (not endpoints-only).
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  store.apply(cfg('Namespace', 'hidden', {}, { labels: { 'istio-discovery': 'enabled' } }));
  assert.equal(registry.services().length, 9);
  assert.deepEqual(registry.endpoints('reviews.hidden.svc.cluster.local', 9080).map((e) => e.address), ['10.9.0.1']);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.endpointsOnly, false);
  assert.ok(events[0]!.services.includes('hidden.example.com'));
  assert.ok(events[0]!.services.includes('reviews.hidden.svc.cluster.local'));

  // Dropping the selectors: everything visible, and no change since both namespaces already are.
  events.length = 0;
  registry.setMesh({ discoverySelectors: [] });
  assert.deepEqual(events, []);
});

test('events fire only on real change, and say whether a Service changed', () => {
  const { store, registry, events } = bookinfo();
  // Re-applying identical config, even with labels in another key order, is no change.
  store.apply(...loadYaml(BOOKINFO));
  store.apply(cfg('Service', 'details', { ports: [{ port: 9080, name: 'http' }], selector: { app: 'details' } }, { labels: { service: 'details', app: 'details' } }));
  // A Deployment is not part of the registry's output.
  store.apply(cfg('Deployment', 'x', { template: { metadata: { labels: { app: 'x' } } } }));
  assert.deepEqual(events, []);

  // A proxy that no Service selects changes workloads() only.
  const h = registry.registerProxy({ name: 'lonely', namespace: 'default', ip: '10.0.0.99', labels: { app: 'nobody' } });
  assert.deepEqual(events, [{ services: [], endpointsOnly: true }]);
  // Registering the same proxy again with the same fields is no change.
  const h2 = registry.registerProxy({ name: 'lonely', namespace: 'default', ip: '10.0.0.99', labels: { app: 'nobody' } });
  assert.equal(events.length, 1);
  // The older handle was replaced: it cannot remove the newer registration.
  h.unregister();
  assert.equal(registry.workloads().length, 1);
  h2.unregister();
  assert.equal(registry.workloads().length, 0);
  events.length = 0;

  // A port change is a Service change.
  store.apply(cfg('Service', 'details', { ports: [{ port: 9080, name: 'grpc' }], selector: { app: 'details' } }, { labels: { app: 'details', service: 'details' } }));
  assert.deepEqual(events, [{ services: ['details.default.svc.cluster.local'], endpointsOnly: false }]);
  assert.equal(registry.getService('details.default.svc.cluster.local')!.ports[0]!.protocol, 'GRPC');

  // Adding a ServiceEntry adds a Service; deleting one removes it.
  events.length = 0;
  store.apply(...loadYaml(GOOGLE_APIS).filter((c) => c.kind === 'ServiceEntry'));
  store.delete('Service', 'ratings', 'default');
  assert.deepEqual(events, [
    { services: ['www.googleapis.com'], endpointsOnly: false },
    { services: ['ratings.default.svc.cluster.local'], endpointsOnly: false },
  ]);
  assert.equal(registry.getService('ratings.default.svc.cluster.local'), undefined);
});

test('health reported by a proxy marks its endpoints; same health twice is no change', () => {
  const { registry, events } = bookinfo();
  const [v1] = registerReviews(registry);
  events.length = 0;
  v1!.setHealthy(false);
  v1!.setHealthy(false);
  assert.equal(registry.endpoints(REVIEWS, 9080)[0]!.healthy, false);
  assert.deepEqual(events, [{ services: [REVIEWS], endpointsOnly: true }]);
});

test('output is sorted: services by hostname then namespace, endpoints by address (numerically) then port', () => {
  const store = new MemoryStore([...loadYaml(BOOKINFO, 'b'), ...loadYaml(BOOKINFO, 'a')]);
  const registry = new Registry({ store, ...quiet });
  const names = registry.services().map((s) => s.hostname);
  assert.deepEqual(names, [...names].sort());
  for (const ip of ['10.0.0.10', '10.0.0.9', '10.0.0.100', '9.0.0.1']) registry.registerProxy({ name: `p-${ip}`, namespace: 'a', ip, labels: { app: 'reviews' } });
  assert.deepEqual(registry.endpoints('reviews.a.svc.cluster.local', 9080).map((e) => e.address), ['9.0.0.1', '10.0.0.9', '10.0.0.10', '10.0.0.100']);
});

test('VIP allocator gives address-less services a stable VIP; cluster IPs are kept', () => {
  const store = new MemoryStore([
    ...loadYaml(BOOKINFO),
    cfg('Service', 'fixed', { clusterIP: '10.96.1.1', ports: [{ port: 80 }] }),
    cfg('ServiceEntry', 'wild', { hosts: ['*.example.com'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }] }),
  ]);
  const registry = new Registry({ store, vipAllocator: createVipAllocator('240.240.0.0/16'), ...quiet });
  const vips = Object.fromEntries(registry.services().map((s) => [s.hostname, s.addresses]));
  assert.deepEqual(vips, {
    '*.example.com': [],
    'details.default.svc.cluster.local': ['240.240.0.1'],
    'fixed.default.svc.cluster.local': ['10.96.1.1'],
    'productpage.default.svc.cluster.local': ['240.240.0.2'],
    'ratings.default.svc.cluster.local': ['240.240.0.3'],
    'reviews.default.svc.cluster.local': ['240.240.0.4'],
  });
  // A new service takes the next free VIP; existing ones keep theirs (and nothing else changes).
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  store.apply(cfg('Service', 'aaa', { selector: { app: 'aaa' }, ports: [{ port: 80, name: 'http' }] }));
  assert.deepEqual(registry.getService('aaa.default.svc.cluster.local')!.addresses, ['240.240.0.5']);
  assert.deepEqual(registry.getService('details.default.svc.cluster.local')!.addresses, ['240.240.0.1']);
  assert.deepEqual(events, [{ services: ['aaa.default.svc.cluster.local'], endpointsOnly: false }]);
});

test('another RegistrySource plugs in: its services and endpoints merge, its workloads are selectable', () => {
  let handler = () => {};
  let pods: Workload[] = [];
  const liveService: Service = {
    hostname: 'live.kube.svc.cluster.local', namespace: 'kube', name: 'live', ports: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    addresses: ['10.96.9.9'], labels: {}, selector: { app: 'live' }, resolution: 'STATIC', exportTo: ['*'], meshExternal: false, registry: 'kubernetes',
  };
  const live: RegistrySource = {
    name: 'kubernetes',
    services: () => [liveService],
    endpoints: () => [{ service: liveService.hostname, servicePortName: 'http', address: '10.244.0.7', port: 8080, labels: { app: 'live' }, locality: {}, weight: 1, healthy: true, namespace: 'kube' }],
    workloads: () => pods,
    onChange: (h) => ((handler = h), () => {}),
  };
  const store = new MemoryStore([cfg('ServiceEntry', 'pods', { hosts: ['pods.internal'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], workloadSelector: { labels: { app: 'live' } } }, { namespace: 'kube' })]);
  const registry = new Registry({ store, ...quiet });
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  const remove = registry.addSource(live);
  assert.deepEqual(registry.endpoints(liveService.hostname, 80).map((e) => `${e.address}:${e.port}`), ['10.244.0.7:8080']);
  assert.deepEqual(events, [{ services: [liveService.hostname], endpointsOnly: false }]);

  pods = [{ name: 'live-abc', namespace: 'kube', address: '10.244.0.7', labels: { app: 'live' }, locality: {}, ports: { http: 8080 }, source: 'Pod/kube/live-abc' }];
  handler();
  // The source's own service keeps its own endpoints (no double counting); the ServiceEntry selects the pod.
  assert.equal(registry.endpoints(liveService.hostname, 80).length, 1);
  assert.deepEqual(registry.endpoints('pods.internal', 80).map((e) => `${e.address}:${e.port}`), ['10.244.0.7:8080']);
  assert.deepEqual(events[1], { services: ['pods.internal'], endpointsOnly: true });

  remove();
  assert.equal(registry.getService(liveService.hostname), undefined);
  assert.deepEqual(registry.endpoints('pods.internal', 80), []);
});

test('a throwing onChange handler does not stop the others or the registry', () => {
  const { registry } = bookinfo();
  const seen: string[][] = [];
  registry.onChange(() => {
    throw new Error('boom');
  });
  registry.onChange((e) => seen.push(e.services));
  registerReviews(registry);
  assert.equal(seen.length, 3);
  assert.equal(registry.endpoints(REVIEWS, 9080).length, 3);
});
