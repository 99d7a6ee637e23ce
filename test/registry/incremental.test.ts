/**
 * The Registry's incremental snapshot against the whole-registry build (aggregate.ts): after
 * every one of a long, seeded sequence of changes — WorkloadEntries added, moved, relabelled and
 * removed; ServiceEntries and Kubernetes Services added, reselected and removed, with hostnames
 * that conflict across namespaces and kinds; WorkloadGroups and registered proxies; namespace
 * labels and discoverySelectors — the snapshot the Registry serves is deep-equal to a full build
 * of the same sources, and the event it fired is the difference between the two full builds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/registry/registry.ts';
import { buildSnapshot, type RegistrySnapshot } from '../../src/registry/aggregate.ts';
import { diffSnapshots } from '../../src/registry/diff.ts';
import { createVipAllocator } from '../../src/registry/vip.ts';
import type { RegistryEvent } from '../../src/registry/model.ts';
import type { RegistrationHandle } from '../../src/registry/autoregistration.ts';
import type { MeshConfig } from '../../src/api/types.ts';
import { MemoryStore, cfg } from './fixtures.ts';
import { seededRandom } from '../../src/proxy/http/common/random.ts';

// A seeded PRNG, so a failure replays the same way.
const prng = seededRandom;

const NAMESPACES = ['default', 'prod', 'dev'];
const APPS = ['web', 'api', 'db', 'cache'];
/** Few hostnames, so definitions conflict: ServiceEntries in several namespaces and Kubernetes Services share them. */
const SE_HOSTS = ['web.default.svc.cluster.local', 'api.prod.svc.cluster.local', 'db.example.com', 'cache.dev.svc.cluster.local', '*.wild.example.com', 'api.default.svc.cluster.local'];
const KUBE_NAMES = ['web', 'api', 'cache'];

function run(seed: number, steps: number): void {
  const rnd = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const chance = (p: number) => rnd() < p;

  const store = new MemoryStore();
  const vipAllocator = createVipAllocator('240.240.0.0/16');
  let mesh: Pick<MeshConfig, 'discoverySelectors'> | undefined;
  const registry = new Registry({ store, vipAllocator, log: () => {} });
  const events: RegistryEvent[] = [];
  registry.onChange((e) => events.push(e));
  const handles = new Map<string, RegistrationHandle>();

  const full = (): RegistrySnapshot => buildSnapshot([registry.config, registry.autoRegistration], { ...(mesh ? { mesh } : {}), vipAllocator });
  let prevFull = full();
  assert.deepStrictEqual(registry.snapshot(), prevFull, 'initial');

  const labels = () => {
    const l: Record<string, string> = { app: pick(APPS) };
    if (chance(0.6)) l.version = pick(['v1', 'v2']);
    if (chance(0.2)) l.tier = pick(['front', 'back']);
    return l;
  };
  const selector = () => {
    const s: Record<string, string> = chance(0.85) ? { app: pick(APPS) } : { version: pick(['v1', 'v2']) };
    if (chance(0.3)) s.version = pick(['v1', 'v2']);
    return s;
  };
  const ports = () =>
    chance(0.5)
      ? [{ number: 8080, name: 'http', protocol: 'HTTP', targetPort: chance(0.5) ? 9090 : undefined }]
      : [
          { number: 8080, name: 'http', protocol: 'HTTP' },
          { number: 9000, name: 'tcp', protocol: 'TCP' },
        ];

  const ops: Array<[string, () => void]> = [
    ['upsert WorkloadEntry', () => {
      const spec: Record<string, unknown> = { address: `10.0.${Math.floor(rnd() * 4)}.${1 + Math.floor(rnd() * 6)}`, labels: labels() };
      if (chance(0.3)) spec.ports = { http: 7000 + Math.floor(rnd() * 3) };
      if (chance(0.2)) spec.serviceAccount = pick(['sa-a', 'sa-b']);
      if (chance(0.1)) spec.weight = 2;
      store.apply(cfg('WorkloadEntry', `we-${Math.floor(rnd() * 14)}`, spec, { namespace: pick(NAMESPACES) }));
    }],
    ['move a WorkloadEntry', () => {
      const we = pick(store.list('WorkloadEntry'));
      if (we) store.apply({ ...we, spec: { ...we.spec, address: `10.9.${Math.floor(rnd() * 4)}.${1 + Math.floor(rnd() * 6)}` } });
    }],
    ['relabel a WorkloadEntry', () => {
      const we = pick(store.list('WorkloadEntry'));
      if (we) store.apply({ ...we, spec: { ...we.spec, labels: labels() } });
    }],
    ['delete a WorkloadEntry', () => {
      const we = pick(store.list('WorkloadEntry'));
      if (we) store.delete('WorkloadEntry', we.metadata.name, we.metadata.namespace);
    }],
    ['upsert ServiceEntry', () => {
      const spec: Record<string, unknown> = {
        hosts: chance(0.2) ? [pick(SE_HOSTS), pick(SE_HOSTS)] : [pick(SE_HOSTS)],
        location: 'MESH_INTERNAL',
        resolution: chance(0.8) ? 'STATIC' : 'DNS',
        ports: ports(),
      };
      if (chance(0.7)) spec.workloadSelector = { labels: selector() };
      else if (chance(0.6)) spec.endpoints = [{ address: `192.168.0.${1 + Math.floor(rnd() * 3)}`, labels: { app: 'inline' } }, { address: '192.168.0.1' }];
      if (chance(0.3)) spec.addresses = [`10.200.0.${1 + Math.floor(rnd() * 3)}`];
      store.apply(cfg('ServiceEntry', `se-${Math.floor(rnd() * 8)}`, spec, { namespace: pick(NAMESPACES) }));
    }],
    ['change a selector', () => {
      const se = pick([...store.list('ServiceEntry'), ...store.list('Service')]);
      if (!se) return;
      if (se.kind === 'Service') store.apply({ ...se, spec: { ...se.spec, selector: selector() } });
      else store.apply({ ...se, spec: { ...se.spec, workloadSelector: chance(0.85) ? { labels: selector() } : undefined } });
    }],
    ['delete a service', () => {
      const s = pick([...store.list('ServiceEntry'), ...store.list('Service')]);
      if (s) store.delete(s.kind, s.metadata.name, s.metadata.namespace);
    }],
    ['upsert Kubernetes Service', () => {
      const spec: Record<string, unknown> = { ports: [{ port: 8080, name: 'http', targetPort: chance(0.5) ? 'http' : 8081 }] };
      if (chance(0.85)) spec.selector = selector();
      if (chance(0.3)) spec.clusterIP = '10.96.0.1';
      store.apply(cfg('Service', pick(KUBE_NAMES), spec, { namespace: pick(NAMESPACES) }));
    }],
    ['a resource that cannot be converted', () => {
      store.apply(cfg('ServiceEntry', 'broken', { hosts: 'not-a-list', ports: 7 }, { namespace: pick(NAMESPACES) }));
    }],
    ['upsert WorkloadGroup', () => {
      store.apply(cfg('WorkloadGroup', 'group', { metadata: { labels: labels() }, template: { serviceAccount: pick(['sa-g', 'sa-h']), ports: { http: 7100 } } }, { namespace: pick(NAMESPACES) }));
    }],
    ['register a proxy', () => {
      const name = `proxy-${Math.floor(rnd() * 6)}`;
      const namespace = pick(NAMESPACES);
      const reg = { name, namespace, ip: `10.5.0.${1 + Math.floor(rnd() * 6)}`, labels: labels(), ...(chance(0.5) ? { workloadGroup: 'group' } : {}) };
      handles.set(`${namespace}/${name}`, registry.registerProxy(reg));
    }],
    ['unregister or mark a proxy', () => {
      const [key, h] = pick([...handles]) ?? [];
      if (!h) return;
      if (chance(0.5)) {
        h.unregister();
        handles.delete(key!);
      } else h.setHealthy(chance(0.5));
    }],
    ['namespace labels', () => {
      const ns = pick(NAMESPACES);
      if (chance(0.3)) store.delete('Namespace', ns, '');
      else store.apply({ ...cfg('Namespace', ns, {}, { namespace: '', labels: { mesh: pick(['on', 'off']) } }) });
    }],
    ['one batch: a WorkloadGroup, a namespace and a WorkloadEntry', () => {
      const ns = pick(NAMESPACES);
      store.apply(
        cfg('WorkloadGroup', 'group', { metadata: { labels: labels() }, template: { serviceAccount: pick(['sa-g', 'sa-h']) } }, { namespace: ns }),
        cfg('Namespace', ns, {}, { namespace: '', labels: { mesh: pick(['on', 'off']) } }),
        cfg('WorkloadEntry', `we-${Math.floor(rnd() * 14)}`, { address: '10.0.7.7', labels: labels() }, { namespace: ns }),
      );
    }],
    ['discoverySelectors', () => {
      mesh = pick<Pick<MeshConfig, 'discoverySelectors'> | undefined>([
        undefined,
        { discoverySelectors: [] },
        { discoverySelectors: [{ matchLabels: { mesh: 'on' } }] },
        { discoverySelectors: [{ matchLabels: { 'kubernetes.io/metadata.name': 'prod' } }, { matchExpressions: [{ key: 'mesh', operator: 'NotIn', values: ['off'] }] }] },
      ]);
      registry.setMesh(mesh);
    }],
  ];
  // Endpoint churn is what production sees most: weight it.
  const weighted = [...ops, ops[0]!, ops[1]!, ops[1]!, ops[2]!, ops[10]!];

  for (let step = 0; step < steps; step++) {
    const [what, op] = pick(weighted);
    events.length = 0;
    op();
    const next = full();
    const where = `seed ${seed}, step ${step}: ${what}`;
    assert.deepStrictEqual(registry.snapshot(), next, where);
    const expected = diffSnapshots(prevFull, next);
    assert.deepStrictEqual(events, expected ? [expected] : [], `${where}: event`);
    for (const s of next.services) assert.deepStrictEqual(registry.getService(s.hostname), s, `${where}: getService`);
    prevFull = next;
  }
}

test('after each of 600 seeded changes the incremental snapshot equals a full build, and the event their difference', () => {
  for (const seed of [1, 2, 3]) run(seed, 200);
});
