/**
 * Without a CA (PushContext.workloadCertificates false) mesh mTLS is not offered implicitly:
 * proxies would otherwise hold their listeners warming for SDS secrets nobody serves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bookinfoPush, bookinfoProxy } from './fixtures.ts';
import { generate } from '../../src/pilot/generator.ts';
import { TYPE } from '../../src/xds/types.ts';

function sidecarView(workloadCertificates: boolean | undefined) {
  const { push, workloads } = bookinfoPush();
  if (workloadCertificates !== undefined) push.workloadCertificates = workloadCertificates;
  const proxy = bookinfoProxy(workloads, 'reviews-v1');
  const listeners = generate(push, proxy, TYPE.LISTENER).map((r) => r.resource);
  const clusters = generate(push, proxy, TYPE.CLUSTER).map((r) => r.resource);
  const chains = listeners.flatMap((l) => l.filter_chains ?? []).map((c: { name?: string }) => c.name ?? '');
  const autoMtls = clusters.filter((c) => c.transport_socket_matches).map((c) => c.name);
  return { chains, autoMtls, json: JSON.stringify([...listeners, ...clusters]) };
}

test('with certificates: PERMISSIVE inbound offers an mTLS chain and outbound clusters use auto mTLS', () => {
  const v = sidecarView(undefined);
  assert.ok(v.chains.some((n) => n.endsWith('-mtls')), v.chains.join(', '));
  assert.ok(v.autoMtls.includes('outbound|9080||ratings.default.svc.cluster.local'));
});

test('without a CA: no mTLS chain for PERMISSIVE ports, no auto mTLS, no SDS reference at all', () => {
  const v = sidecarView(false);
  assert.ok(!v.chains.some((n) => n.endsWith('-mtls')), v.chains.join(', '));
  assert.deepEqual(v.autoMtls, []);
  assert.ok(!v.json.includes('sds_config'), 'nothing waits for a secret');
  assert.ok(v.chains.some((n) => n.startsWith('inbound|9080')), 'the plaintext inbound chain stays');
});
