/**
 * VirtualService fields that were accepted and then dropped by the pilot: retries.backoff,
 * redirect.prefixRewrite and the CRD's deprecated `mirror_percent` spelling. Each now reaches
 * the proxy as the Envoy field that carries its meaning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../../src/pilot/generator.ts';
import { decodeResource, encodeResource } from '../../../src/xds/codec.ts';
import { TYPE } from '../../../src/xds/types.ts';
import type { EnvoyJson } from '../../../src/xds/types.ts';
import { proxyFor, pushFromYaml } from '../fixtures.ts';

const YAML = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /old/}}]
    redirect: {prefixRewrite: /new/}
  - match: [{uri: {prefix: /mirror}}]
    mirror: {host: reviews}
    mirror_percent: 25
    route: [{destination: {host: reviews}}]
  - retries: {attempts: 3, backoff: 100ms}
    route: [{destination: {host: reviews}}]
`;

function routes(): EnvoyJson[] {
  const push = pushFromYaml(YAML);
  const proxy = proxyFor({ namespace: 'default', labels: { app: 'productpage' } });
  const [rc] = generate(push, proxy, TYPE.ROUTE as never, ['9080']);
  const decoded = decodeResource(TYPE.ROUTE, encodeResource(TYPE.ROUTE, rc!.resource));
  return decoded.virtual_hosts.find((v: EnvoyJson) => v.name === 'reviews.default.svc.cluster.local:9080').routes;
}

test('redirect.prefixRewrite becomes the redirect prefix_rewrite', () => {
  const r = routes()[0]!;
  assert.equal(r.redirect.prefix_rewrite, '/new/');
  assert.equal(r.redirect.path_redirect, undefined);
});

test('mirror_percent (deprecated spelling) sets the mirror fraction', () => {
  const r = routes()[1]!;
  const m = r.route.request_mirror_policies[0];
  assert.deepEqual(m.runtime_fraction.default_value, { numerator: 25, denominator: 'HUNDRED' });
});

test('retries.backoff becomes retry_back_off.base_interval', () => {
  const r = routes()[2]!;
  assert.equal(r.route.retry_policy.num_retries, 3);
  assert.equal(r.route.retry_policy.retry_back_off.base_interval, '0.1s');
});
