/** The agent's lookup table: which names a NameTable answers for (Istio's short names and search domains). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LookupTable } from '../../../src/agent/dns/lookup_table.ts';
import { parseResolvConf } from '../../../src/agent/dns/resolv_conf.ts';

const TABLE = {
  table: {
    'reviews.default.svc.cluster.local': { ips: ['10.96.0.10'], registry: 'Kubernetes', shortname: 'reviews', namespace: 'default' },
    'ratings.other.svc.cluster.local': { ips: ['10.96.0.11', 'fd00::11'], registry: 'Kubernetes', shortname: 'ratings', namespace: 'other' },
    'api.ext.test': { ips: ['240.240.1.2', '2001:2::f0f0:102'], registry: 'External' },
    'remote.ns.svc.other.domain': { ips: ['10.1.1.1'], registry: 'Kubernetes', shortname: 'remote', namespace: 'ns' },
  },
};
const CTX = { namespace: 'default', domain: 'svc.cluster.local', search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'] };

test('Kubernetes services: FQDN, name.ns, name.ns.svc, and the bare name only in the proxy namespace', () => {
  const t = new LookupTable(TABLE, CTX);
  for (const n of ['reviews.default.svc.cluster.local', 'reviews.default', 'reviews.default.svc', 'reviews', 'REVIEWS.Default.', 'reviews.default.svc.cluster.local.']) {
    assert.deepEqual(t.lookup(n), { v4: ['10.96.0.10'], v6: [] }, n);
  }
  assert.deepEqual(t.lookup('ratings.other'), { v4: ['10.96.0.11'], v6: ['fd00::11'] });
  assert.ok(t.lookup('ratings.other.svc'));
  assert.equal(t.lookup('ratings'), undefined, 'another namespace has no bare name');
  assert.equal(t.lookup('reviews.default.svc.cluster'), undefined);
});

test('ServiceEntry hosts answer by their own name only; services of another cluster domain get no short forms', () => {
  const t = new LookupTable(TABLE, CTX);
  assert.deepEqual(t.lookup('api.ext.test'), { v4: ['240.240.1.2'], v6: ['2001:2::f0f0:102'] });
  assert.equal(t.lookup('api'), undefined);
  assert.ok(t.lookup('remote.ns.svc.other.domain'));
  assert.equal(t.lookup('remote.ns'), undefined);
});

test('the first search domain: <name>.<search> is a CNAME to the name (what ndots:5 resolvers ask first)', () => {
  const t = new LookupTable(TABLE, CTX);
  assert.deepEqual(t.lookup('api.ext.test.default.svc.cluster.local'), { v4: ['240.240.1.2'], v6: ['2001:2::f0f0:102'], cname: 'api.ext.test' });
  assert.deepEqual(t.lookup('reviews.default.svc.cluster.local')?.cname, undefined, 'a real name is never shadowed by an expansion');
  assert.equal(t.lookup('reviews.default.default.svc.cluster.local')?.cname, 'reviews.default');
  // Only the first search domain (Istio's agent does the same).
  assert.equal(t.lookup('api.ext.test.svc.cluster.local'), undefined);
  // No search domains: no expansions.
  assert.equal(new LookupTable(TABLE, { ...CTX, search: [] }).lookup('api.ext.test.default.svc.cluster.local'), undefined);
});

test('entries without usable addresses and an empty table answer nothing', () => {
  const t = new LookupTable({ table: { 'x.test': { ips: ['not-an-ip'], registry: 'External' } } }, CTX);
  assert.equal(t.lookup('x.test'), undefined);
  assert.equal(new LookupTable({}, CTX).size, 0);
});

test('resolv.conf: nameservers (zone ids dropped, bad ones skipped), the last search line, comments', () => {
  const c = parseResolvConf(`# generated
nameserver 10.88.0.53
nameserver fe80::1%eth0
nameserver bogus
search old.example
search Default.svc.cluster.local. svc.cluster.local cluster.local ; trailing
options ndots:5
`);
  assert.deepEqual(c, { nameservers: ['10.88.0.53', 'fe80::1'], search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'] });
});
