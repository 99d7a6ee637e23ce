/**
 * A weighted cluster's typed_per_filter_config applies to the requests sent to that cluster, over
 * the route's and the virtual host's (Envoy's precedence); before, it was accepted and ignored.
 * A per-filter config there that no filter understands rejects the route configuration.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_FILTER } from '../../../src/xds/type_urls.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

const FAULT = 'envoy.filters.http.fault';
const abort = (status: number, percent: number) => ({ [FAULT]: { '@type': HTTP_FILTER.FAULT, abort: { http_status: status, percentage: { numerator: percent } } } });
const faultFilter = { name: FAULT, typed_config: { '@type': HTTP_FILTER.FAULT } };

const routeConfig = (clusters: unknown[]) => ({
  name: 'rc',
  virtual_hosts: [
    {
      name: 'v',
      domains: ['*'],
      typed_per_filter_config: abort(503, 100),
      routes: [
        {
          match: { prefix: '/' },
          // x-pick chooses the cluster deterministically: 0 -> a, 1 -> b.
          route: { weighted_clusters: { header_name: 'x-pick', clusters } },
          typed_per_filter_config: abort(500, 0),
        },
      ],
    },
  ],
});

describe('weighted cluster typed_per_filter_config', () => {
  let a: Upstream;
  let b: Upstream;
  let p: TestProxy;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    const rc = routeConfig([
      { name: 'a', weight: 1, typed_per_filter_config: abort(418, 100) },
      { name: 'b', weight: 1 },
    ]);
    p = await startHcm(hcmConfig(rc, {}, [faultFilter]), [
      { name: 'a', ports: [a.port] },
      { name: 'b', ports: [b.port] },
    ]);
  });
  after(async () => {
    await p.close();
    await a.close();
    await b.close();
  });

  test("the picked cluster's config wins over the route's, which wins over the virtual host's", async () => {
    const toA = await request(p.port, { headers: { 'x-pick': '0' } });
    assert.equal(toA.status, 418, "cluster a's abort");
    assert.equal(a.seen.length, 0);
    const toB = await request(p.port, { headers: { 'x-pick': '1' } });
    assert.equal(toB.status, 200, "cluster b has none: the route's 0% abort, not the virtual host's 100%");
    assert.equal(JSON.parse(toB.body).name, 'b');
  });

  test('a per-filter config no filter understands rejects the route configuration', async () => {
    const bad = routeConfig([{ name: 'a', weight: 1, typed_per_filter_config: { 'x.unknown': { '@type': 'type.googleapis.com/x.Unknown' } } }]);
    await assert.rejects(startHcm(hcmConfig(bad, {}, [faultFilter]), [{ name: 'a', ports: [a.port] }]), /clusters\[0\]\.typed_per_filter_config\.x\.unknown/);
  });
});
