/**
 * Istio's NDS name table (src/pilot/nds): which hosts a proxy's agent can answer for, with which
 * addresses, and ServiceEntry VIP auto-allocation (stable per host, unique, only for proxies
 * that ask with DNS_CAPTURE + DNS_AUTO_ALLOCATE, and the same VIP on the outbound listener).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildNameTable } from '../../src/pilot/nds/name_table.ts';
import { AUTO_ALLOCATE_SLOTS, autoAllocatedAddresses, fnv1a32, slotAddresses } from '../../src/pilot/nds/auto_allocate.ts';
import { generate } from '../../src/pilot/generator.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';
import { buildListeners } from '../../src/pilot/listener/index.ts';
import { TYPE } from '../../src/xds/types.ts';
import { toAny, unpackAny } from '../../src/xds/codec.ts';
import { proxyFor, pushFromYaml } from './fixtures.ts';

const DNS = { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'true' };

const YAML = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: other}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: fixed, namespace: default}
spec:
  hosts: [fixed.example.com]
  addresses: [198.51.100.7]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.9}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: noaddr, namespace: default}
spec:
  hosts: [api.ext.test, db.ext.test]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: default}
spec:
  hosts: ['*.wild.test']
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: passthrough, namespace: default}
spec:
  hosts: [none.ext.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
`;

const IPS = { 'reviews.default.svc.cluster.local': '10.96.0.10', 'ratings.other.svc.cluster.local': '10.96.0.11' };

test('name table: Kubernetes services with short name and namespace, ServiceEntry hosts with their addresses', () => {
  const push = pushFromYaml(YAML, [], undefined, IPS);
  const t = buildNameTable(push, proxyFor({ namespace: 'default' })).table;
  assert.deepEqual(t['reviews.default.svc.cluster.local'], { ips: ['10.96.0.10'], registry: 'Kubernetes', shortname: 'reviews', namespace: 'default' });
  assert.deepEqual(t['ratings.other.svc.cluster.local'], { ips: ['10.96.0.11'], registry: 'Kubernetes', shortname: 'ratings', namespace: 'other' });
  assert.deepEqual(t['fixed.example.com'], { ips: ['198.51.100.7'], registry: 'External' });
  // No address and no auto-allocation asked: left to the upstream resolver. Wildcards never.
  assert.equal(t['api.ext.test'], undefined);
  assert.equal(t['*.wild.test'], undefined);
  assert.equal(t['none.ext.test'], undefined);
});

test('auto-allocation: addressless ServiceEntry hosts get 240.240/16 and 2001:2::/48 VIPs for DNS_AUTO_ALLOCATE proxies only', () => {
  const push = pushFromYaml(YAML, [], undefined, IPS);
  const t = buildNameTable(push, proxyFor({ namespace: 'default' }, DNS)).table;
  const api = t['api.ext.test']!;
  const db = t['db.ext.test']!;
  assert.equal(api.registry, 'External');
  assert.match(api.ips[0]!, /^240\.240\.\d+\.\d+$/);
  assert.match(api.ips[1]!, /^2001:2::f0f0:[0-9a-f]+$/);
  assert.notDeepEqual(api.ips, db.ips);
  // Not for resolution NONE (the original destination is the app's own) nor wildcards.
  assert.equal(t['none.ext.test'], undefined);
  assert.equal(t['*.wild.test'], undefined);
  // Fixed addresses stay.
  assert.deepEqual(t['fixed.example.com']!.ips, ['198.51.100.7']);
  // DNS_AUTO_ALLOCATE without DNS_CAPTURE is not enough (Istio needs both).
  assert.equal(buildNameTable(push, proxyFor({ namespace: 'default' }, { DNS_AUTO_ALLOCATE: 'true' })).table['api.ext.test'], undefined);
});

test('auto-allocation is stable: same host -> same VIP across pushes, whatever else is added', () => {
  const before = autoAllocatedAddresses(pushFromYaml(YAML, [], undefined, IPS)).get('api.ext.test');
  const more = Array.from({ length: 40 }, (_, i) => `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: extra-${i}, namespace: default, creationTimestamp: '2030-01-01T00:00:${String(i).padStart(2, '0')}Z'}
spec:
  hosts: [h${i}.ext.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS`).join('');
  const after = autoAllocatedAddresses(pushFromYaml(YAML + more, [], undefined, IPS));
  assert.deepEqual(after.get('api.ext.test'), before);
  // Same again from a fresh push (no state in the allocator).
  assert.deepEqual(autoAllocatedAddresses(pushFromYaml(YAML + more, [], undefined, IPS)), after);
});

test('auto-allocation is unique: 1500 hosts, no VIP twice, none ending in .0 or .255', () => {
  const yaml = Array.from({ length: 1500 }, (_, i) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se-${i}, namespace: ns${i % 7}}
spec:
  hosts: [svc-${i}.example.org]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS`).join('\n---\n');
  const all = autoAllocatedAddresses(pushFromYaml(yaml));
  assert.equal(all.size, 1500);
  const v4 = [...all.values()].map((a) => a.v4);
  const v6 = [...all.values()].map((a) => a.v6);
  assert.equal(new Set(v4).size, 1500);
  assert.equal(new Set(v6).size, 1500);
  for (const ip of v4) assert.match(ip, /^240\.240\.(\d+)\.([1-9]\d*)$/), assert.ok(!ip.endsWith('.255'), ip);
  // Every slot maps to a distinct pair (the probing relies on it).
  const slots = new Set(Array.from({ length: AUTO_ALLOCATE_SLOTS }, (_, i) => slotAddresses(i).v4));
  assert.equal(slots.size, AUTO_ALLOCATE_SLOTS);
});

test('two hosts on one hash slot: the older ServiceEntry keeps the slot, the newer moves on, both stay put', () => {
  // Find two hosts whose namespace/host hashes land on the same slot.
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; !pair && i < 100_000; i++) {
    const h = `h${i}.collide.test`;
    const slot = fnv1a32(`default/${h}`) % AUTO_ALLOCATE_SLOTS;
    const other = seen.get(slot);
    if (other) pair = [other, h];
    else seen.set(slot, h);
  }
  assert.ok(pair, 'no colliding pair found');
  const [first, second] = pair;
  const se = (name: string, host: string, ts: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default, creationTimestamp: '${ts}'}
spec: {hosts: [${host}], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}`;
  const home = slotAddresses(fnv1a32(`default/${first}`) % AUTO_ALLOCATE_SLOTS);
  // The second host (by name) is the older entry: it owns the slot.
  const olderAlone = autoAllocatedAddresses(pushFromYaml(se('b', second, '2020-01-01T00:00:00Z'))).get(second);
  assert.deepEqual(olderAlone, home);
  const both = autoAllocatedAddresses(pushFromYaml(se('b', second, '2020-01-01T00:00:00Z') + '\n---\n' + se('a', first, '2024-01-01T00:00:00Z')));
  assert.deepEqual(both.get(second), home);
  assert.notDeepEqual(both.get(first), home);
  // And again: the same answer on every push.
  const again = autoAllocatedAddresses(pushFromYaml(se('a', first, '2024-01-01T00:00:00Z') + '\n---\n' + se('b', second, '2020-01-01T00:00:00Z')));
  assert.deepEqual(again, both);
});

test('the outbound TCP listener of an addressless ServiceEntry binds the same VIP the name table gives', () => {
  const push = pushFromYaml(YAML, [], undefined, IPS);
  const proxy = proxyFor({ namespace: 'default' }, DNS);
  const vip = buildNameTable(push, proxy).table['api.ext.test']!.ips[0]!;
  const names = buildListeners(push, proxy).map((l) => l.name);
  assert.ok(names.includes(`${vip}_5432`), names.join(' '));
  // Without auto-allocation: the shared 0.0.0.0_5432.
  const plain = buildListeners(push, proxyFor({ namespace: 'default' })).map((l) => l.name);
  assert.ok(plain.includes('0.0.0.0_5432') && !plain.some((n) => n.startsWith('240.240.')), plain.join(' '));
  // Listener and NDS shapes tell the two apart.
  for (const t of [TYPE.LISTENER, TYPE.NAME_TABLE]) assert.notEqual(proxyShapeKey(proxy, t, push), proxyShapeKey(proxyFor({ namespace: 'default' }), t, push));
});

test('NDS through the generator: one unnamed NameTable that encodes as istio.networking.nds.v1.NameTable', () => {
  const push = pushFromYaml(YAML, [], undefined, IPS);
  const out = generate(push, proxyFor({ namespace: 'default' }, DNS), TYPE.NAME_TABLE);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.name, '');
  const any = toAny(out[0]!.resource, TYPE.NAME_TABLE);
  assert.equal(any.type_url, 'type.googleapis.com/istio.networking.nds.v1.NameTable');
  const back = unpackAny(any);
  assert.deepEqual(back.table['reviews.default.svc.cluster.local'], { ips: ['10.96.0.10'], registry: 'Kubernetes', shortname: 'reviews', namespace: 'default' });
});

test('NDS over ADS, SotW and delta: the client holds the unnamed NameTable and ACKs it', async (t) => {
  const { DiscoveryServer } = await import('../../src/xds/server/index.ts');
  const { AdsClient } = await import('../../src/xds/client/index.ts');
  const { parseProxy } = await import('../../src/pilot/proxy.ts');
  const push = pushFromYaml(YAML, [], undefined, IPS);
  const ads = new DiscoveryServer({ generator: generate, parseProxy, buildPushContext: () => push, log: { debug() {}, info() {}, warn() {} } });
  const port = await ads.listen('127.0.0.1:0');
  t.after(() => ads.close());
  for (const mode of ['sotw', 'delta'] as const) {
    const c = new AdsClient({ address: `127.0.0.1:${port}`, mode, node: { id: 'sidecar~10.0.0.1~c.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', ...DNS } } });
    const nacks: string[] = [];
    const got = await new Promise<any>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode}: no NameTable in 10 s; NACKs: ${nacks.join('; ')}`)), 10_000);
      c.watch(TYPE.NAME_TABLE, '*', {
        onUpdate: (u) => {
          clearTimeout(timer);
          resolve(u.resources.get('')?.resource);
        },
        onNack: (e) => nacks.push(e),
      });
      c.start();
    });
    c.close();
    assert.match(got.table['api.ext.test'].ips[0], /^240\.240\./, mode);
    assert.deepEqual(got.table['reviews.default.svc.cluster.local'].ips, ['10.96.0.10'], mode);
    assert.deepEqual(nacks, [], mode);
  }
});
