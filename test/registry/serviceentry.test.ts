import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/registry/registry.ts';
import { GOOGLE_APIS, MemoryStore, cfg, loadYaml, parseYaml } from './fixtures.ts';

const quiet = { log: () => {} };
const addrs = (r: Registry, host: string, port: number) => r.endpoints(host, port).map((e) => `${e.address}:${e.port}`);

test('Bookinfo egress-rule-google-apis: an external DNS ServiceEntry whose host is its endpoint', () => {
  const registry = new Registry({ store: new MemoryStore(loadYaml(GOOGLE_APIS)), ...quiet });
  assert.deepEqual(registry.services().map((s) => s.hostname), ['www.googleapis.com']);
  const s = registry.getService('www.googleapis.com')!;
  assert.equal(s.registry, 'serviceentry');
  assert.equal(s.namespace, 'default');
  assert.equal(s.name, 'www.googleapis.com');
  assert.equal(s.resolution, 'DNS');
  // No `location` in the sample: MESH_EXTERNAL is the default.
  assert.equal(s.meshExternal, true);
  assert.deepEqual(s.ports, [
    { name: 'http', port: 80, protocol: 'HTTP' },
    { name: 'https', port: 443, protocol: 'HTTPS' },
  ]);
  assert.deepEqual(addrs(registry, 'www.googleapis.com', 80), ['www.googleapis.com:80']);
  assert.deepEqual(addrs(registry, 'www.googleapis.com', 443), ['www.googleapis.com:443']);
  assert.equal(s.source, 'ServiceEntry/default/googleapis');
});

test('STATIC ServiceEntry: hosts × ports, inline endpoints with ports map, locality, weight, network, serviceAccount', () => {
  const [se] = parseYaml(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-svc-mongocluster
  namespace: data
  labels: {team: db}
spec:
  hosts: [mymongodb.somedomain, mongo-alt.somedomain]
  addresses: [192.192.192.192/24]
  ports:
  - number: 27018
    name: mongodb
    protocol: MONGO
  - number: 8080
    name: http-admin
    protocol: HTTP
    targetPort: 9090
  location: MESH_EXTERNAL
  resolution: STATIC
  exportTo: ["."]
  endpoints:
  - address: 2.2.2.10
    locality: us-east1/us-east1-b/rack1
    weight: 3
    network: net1
    serviceAccount: mongo
    labels: {version: v1}
  - address: 2.2.2.2
    ports: {mongodb: 27019}
`);
  const registry = new Registry({ store: new MemoryStore([se!]), ...quiet });
  assert.deepEqual(registry.services().map((s) => s.hostname), ['mongo-alt.somedomain', 'mymongodb.somedomain']);
  const s = registry.getService('mymongodb.somedomain')!;
  assert.equal(s.namespace, 'data');
  assert.equal(s.meshExternal, true);
  assert.equal(s.resolution, 'STATIC');
  assert.deepEqual(s.addresses, ['192.192.192.192/24']);
  assert.deepEqual(s.exportTo, ['.']);
  assert.deepEqual(s.labels, { team: 'db' });
  assert.deepEqual(s.ports.map((p) => [p.name, p.port, p.protocol, p.targetPort]), [
    ['mongodb', 27018, 'MONGO', undefined],
    ['http-admin', 8080, 'HTTP', 9090],
  ]);
  // Sorted by address numerically; 2.2.2.2 uses its own port for "mongodb".
  assert.deepEqual(addrs(registry, 'mymongodb.somedomain', 27018), ['2.2.2.2:27019', '2.2.2.10:27018']);
  assert.deepEqual(addrs(registry, 'mymongodb.somedomain', 8080), ['2.2.2.2:9090', '2.2.2.10:9090']);
  const rich = registry.endpoints('mymongodb.somedomain', 27018)[1]!;
  assert.deepEqual(rich.locality, { region: 'us-east1', zone: 'us-east1-b', subzone: 'rack1' });
  assert.equal(rich.weight, 3);
  assert.equal(rich.network, 'net1');
  assert.equal(rich.serviceAccount, 'mongo');
  assert.deepEqual(rich.labels, { version: 'v1' });
  assert.equal(rich.servicePortName, 'mongodb');
  assert.equal(rich.service, 'mymongodb.somedomain');
  assert.equal(registry.endpoints('mymongodb.somedomain', 27018)[0]!.weight, 1);
  // The second host has the same endpoints.
  assert.deepEqual(addrs(registry, 'mongo-alt.somedomain', 27018), ['2.2.2.2:27019', '2.2.2.10:27018']);
});

test('DNS ServiceEntry with endpoints uses them, not the host; resolution NONE without endpoints has none', () => {
  const store = new MemoryStore([
    cfg('ServiceEntry', 'ext', {
      hosts: ['api.example.com'],
      ports: [{ number: 443, name: 'tls', protocol: 'TLS' }],
      resolution: 'DNS',
      location: 'MESH_EXTERNAL',
      endpoints: [{ address: 'us.api.example.com' }, { address: 'eu.api.example.com' }],
    }),
    cfg('ServiceEntry', 'passthrough', { hosts: ['*.wikipedia.org'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'NONE' }),
    cfg('ServiceEntry', 'dns-target', { hosts: ['db.example.com'], ports: [{ number: 5432, name: 'tcp', protocol: 'TCP', targetPort: 6432 }], resolution: 'DNS_ROUND_ROBIN' }),
  ]);
  const registry = new Registry({ store, ...quiet });
  assert.deepEqual(addrs(registry, 'api.example.com', 443), ['eu.api.example.com:443', 'us.api.example.com:443']);
  assert.deepEqual(addrs(registry, '*.wikipedia.org', 443), []);
  assert.deepEqual(addrs(registry, 'db.example.com', 5432), ['db.example.com:6432']);
});

test('workloadSelector: WorkloadEntries in the same namespace with matching labels are the endpoints', () => {
  const docs = parseYaml(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm-details, namespace: vm}
spec:
  hosts: [details.vm.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: HTTP, targetPort: 8080}
  - {number: 9443, name: grpc, protocol: GRPC}
  workloadSelector:
    labels: {app: details}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: details-vm-1, namespace: vm}
spec:
  address: 10.0.0.11
  labels: {app: details, version: v1, security.istio.io/tlsMode: istio}
  serviceAccount: details
  locality: eu-west1/eu-west1-a
  ports: {grpc: 19443}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: details-vm-2, namespace: vm}
spec:
  address: 10.0.0.2
  labels: {app: details, version: v2}
  weight: 5
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ratings-vm, namespace: vm}
spec:
  address: 10.0.0.3
  labels: {app: ratings}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: details-elsewhere, namespace: other}
spec:
  address: 10.0.0.4
  labels: {app: details}
`);
  const store = new MemoryStore(docs);
  const registry = new Registry({ store, ...quiet });
  const host = 'details.vm.internal';
  assert.deepEqual(registry.getService(host)!.selector, { app: 'details' });
  assert.equal(registry.getService(host)!.meshExternal, false);
  assert.deepEqual(addrs(registry, host, 9080), ['10.0.0.2:8080', '10.0.0.11:8080']);
  assert.deepEqual(addrs(registry, host, 9443), ['10.0.0.2:9443', '10.0.0.11:19443']);
  const [v2, v1] = registry.endpoints(host, 9080);
  assert.equal(v1!.workloadName, 'details-vm-1');
  assert.equal(v1!.serviceAccount, 'details');
  assert.equal(v1!.tlsModeIstio, true);
  assert.deepEqual(v1!.locality, { region: 'eu-west1', zone: 'eu-west1-a' });
  assert.equal(v2!.weight, 5);
  assert.equal(v2!.tlsModeIstio, false);
  assert.deepEqual(v2!.labels, { app: 'details', version: 'v2' });
  // All four WorkloadEntries are workloads, whether or not selected.
  assert.deepEqual(registry.workloads().map((w) => `${w.namespace}/${w.name}`), ['other/details-elsewhere', 'vm/details-vm-1', 'vm/details-vm-2', 'vm/ratings-vm']);

  // Relabelling a WorkloadEntry moves it out of the service.
  const events: any[] = [];
  registry.onChange((e) => events.push(e));
  store.apply(cfg('WorkloadEntry', 'details-vm-2', { address: '10.0.0.2', labels: { app: 'ratings' } }, { namespace: 'vm' }));
  assert.deepEqual(addrs(registry, host, 9080), ['10.0.0.11:8080']);
  assert.deepEqual(events, [{ services: [host], endpointsOnly: true }]);
});

test('a ServiceEntry for a host conflicting with a Kubernetes Service loses; ServiceEntries rank by namespace', () => {
  const store = new MemoryStore([
    cfg('ServiceEntry', 'shadow', { hosts: ['reviews.default.svc.cluster.local'], ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', endpoints: [{ address: '9.9.9.9' }] }, { namespace: 'aaa' }),
    cfg('Service', 'reviews', { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] }),
    cfg('ServiceEntry', 'b', { hosts: ['shared.example.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', endpoints: [{ address: '2.2.2.2' }] }, { namespace: 'beta' }),
    cfg('ServiceEntry', 'a', { hosts: ['shared.example.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', endpoints: [{ address: '1.1.1.1' }] }, { namespace: 'alpha' }),
  ]);
  const registry = new Registry({ store, ...quiet });
  assert.equal(registry.getService('reviews.default.svc.cluster.local')!.registry, 'kubernetes');
  assert.deepEqual(addrs(registry, 'reviews.default.svc.cluster.local', 9080), []);
  assert.equal(registry.getService('shared.example.com')!.namespace, 'alpha');
  assert.deepEqual(addrs(registry, 'shared.example.com', 80), ['1.1.1.1:80']);
  assert.equal(registry.services().filter((s) => s.hostname === 'shared.example.com').length, 1);
  assert.deepEqual(registry.conflicts(), [
    { hostname: 'reviews.default.svc.cluster.local', kept: 'Service/default/reviews', ignored: ['ServiceEntry/aaa/shadow'] },
    { hostname: 'shared.example.com', kept: 'ServiceEntry/alpha/a', ignored: ['ServiceEntry/beta/b'] },
  ]);
});

test('two ServiceEntries for one host in one namespace pool their endpoints under the first definition', () => {
  const port = [{ number: 80, name: 'http', protocol: 'HTTP' }];
  const store = new MemoryStore([
    cfg('ServiceEntry', 'b-more', { hosts: ['pool.example.com'], ports: port, resolution: 'STATIC', endpoints: [{ address: '3.3.3.3' }] }),
    cfg('ServiceEntry', 'a-first', { hosts: ['pool.example.com'], ports: port, resolution: 'STATIC', endpoints: [{ address: '4.4.4.4' }] }),
  ]);
  const registry = new Registry({ store, ...quiet });
  assert.equal(registry.getService('pool.example.com')!.source, 'ServiceEntry/default/a-first');
  assert.deepEqual(addrs(registry, 'pool.example.com', 80), ['3.3.3.3:80', '4.4.4.4:80']);
});
