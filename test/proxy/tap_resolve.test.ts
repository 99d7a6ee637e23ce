/**
 * Which proxy /debug/tap opens: the names tsmesh's commands take (resolveProxyId, as parsePodArg
 * reads them: <pod>, <pod>.<ns>, pod/, deploy/, deployment.apps/), and a refusal when two live
 * connections claim one pod (xDS node ids are not authenticated: the control plane cannot tell
 * which is real, so it taps neither).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findTapProxy } from '../../src/controlplane/tap.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { TapTokenSigner } from '../../src/controlplane/tap_token.ts';
import { resolveProxyId } from '../../src/xds/debug_proxies.ts';

const node = (pod: string, ns: string, ip: string, workload: string) =>
  parseProxy({ id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, WORKLOAD_NAME: workload, INSTANCE_IPS: ip } });

function deps(...proxies: ReturnType<typeof parseProxy>[]) {
  return { discovery: { liveConnections: () => proxies.map((proxy) => ({ proxy })) }, signer: undefined as unknown as TapTokenSigner };
}

test('tap target: pod, pod.ns, pod/, deploy/ and deployment.apps/ name the same proxies as the other commands', () => {
  const a = node('reviews-v2-1', 'default', '127.0.0.11', 'reviews-v2');
  const b = node('reviews-v2-2', 'default', '127.0.0.12', 'reviews-v2');
  const c = node('ratings-v1-1', 'other', '127.0.0.13', 'ratings-v1');
  const d = deps(a, b, c);
  assert.equal((findTapProxy(d, 'reviews-v2-1', 'default') as { id: string }).id, a.id);
  assert.equal((findTapProxy(d, 'pod/reviews-v2-2', 'default') as { id: string }).id, b.id);
  assert.equal((findTapProxy(d, 'reviews-v2-2.default', 'default') as { id: string }).id, b.id);
  for (const kind of ['deploy', 'deployment', 'deployments', 'deployment.apps', 'deployments.apps']) {
    assert.equal((findTapProxy(d, `${kind}/reviews-v2`, 'default') as { id: string }).id, a.id, kind);
  }
  assert.equal((findTapProxy(d, 'deploy/ratings-v1', 'other') as { id: string }).id, c.id);
  const wrongNs = findTapProxy(d, 'deploy/ratings-v1', 'default') as { status: number; error: string };
  assert.equal(wrongNs.status, 404);
  assert.match(wrongNs.error, /no connected proxy of deployment ratings-v1 in namespace default; deployments connected there: reviews-v2/);
  const missing = findTapProxy(d, 'reviews-v3-1', 'default') as { status: number; error: string };
  assert.equal(missing.status, 404);
  assert.match(missing.error, /proxy reviews-v3-1\.default is not connected to this control plane; did you mean reviews-v2-1\.default\?/);
  assert.match((findTapProxy(d, 'svc/reviews', 'default') as { error: string }).error, /give a pod .* or deploy\/<name>, not svc\//);
  // resolveProxyId without a namespace keeps its old answers (proxy-config, /debug/config_dump).
  assert.deepEqual(resolveProxyId('ratings-v1-1', [a.id, c.id]), { id: c.id });
  assert.deepEqual(resolveProxyId('deploy/ratings-v1.other', [a.id, c.id], { workloadOf: (id) => (id === c.id ? 'ratings-v1' : 'reviews-v2') }), { id: c.id });
});

test('tap target: two live connections claiming one pod are refused as ambiguous (409), by pod and by deploy/', () => {
  const real = node('reviews-v2-1', 'default', '127.0.0.11', 'reviews-v2');
  const rogue = node('reviews-v2-1', 'default', '127.0.0.66', 'reviews-v2');
  const sameId = parseProxy({ id: real.id, metadata: { NAMESPACE: 'default', WORKLOAD_NAME: 'reviews-v2', TSMESH_ADMIN_ADDRESS: '127.0.0.66:15000' } });
  for (const d of [deps(real, rogue), deps(real, sameId)]) {
    for (const name of ['reviews-v2-1', 'deploy/reviews-v2']) {
      const r = findTapProxy(d, name, 'default') as { status: number; error: string };
      assert.equal(r.status, 409, name);
      assert.match(r.error, /reviews-v2-1\.default is ambiguous: 2 connections claim it \(sidecar~.*\); stop the one that should not be there/);
    }
  }
});
