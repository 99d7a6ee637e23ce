/**
 * The edge path through real processes: the test → ingress gateway (a router proxy) → the
 * server's sidecar → app, configured from an Istio Gateway and a VirtualService bound to it; and
 * the same service reached from inside the mesh through a client sidecar, which the
 * gateway-bound VirtualService must not affect (it names only the gateway).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { start as startEcho } from '../../samples/echo/main.ts';
import { startMesh } from '../helpers/mesh.ts';
import { ECHO_WITH_SUBSETS } from '../helpers/yaml.ts';

const ECHO = 'echo.default.svc.cluster.local';

const CONFIG = `
${ECHO_WITH_SUBSETS}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: echo-gateway, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ["echo.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo-edge, namespace: default }
spec:
  hosts: ["echo.example.com"]
  gateways: [echo-gateway]
  http:
  # "/v2/" with its slash: Envoy's prefix_rewrite of "/v2" to "/" would send "//x" (as Istio does).
  - match: [{ uri: { prefix: /v2/ } }]
    rewrite: { uri: / }
    route: [{ destination: { host: ${ECHO}, subset: v2 } }]
  - route: [{ destination: { host: ${ECHO}, subset: v1 } }]
`;

test('ingress gateway → sidecar → app, routed by a gateway-bound VirtualService', { timeout: 180_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'echo.yaml': CONFIG } });
  const quiet = { log: () => undefined };
  await Promise.all(
    (['v1', 'v2'] as const).map((v) =>
      mesh.startPod({ name: `echo-${v}`, labels: { app: 'echo', version: v }, ports: { http: 8080 }, app: (ip) => startEcho({ host: ip, port: 8080, version: v, podName: `echo-${v}`, ...quiet }) }),
    ),
  );
  const gw = await mesh.startGateway({ ports: [8080] });
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' } });

  const first = await gw.waitFor(8080, 'echo.example.com', '/hello', (r) => r.status === 200);
  assert.equal(first.json().version, 'v1');
  assert.equal(first.json().path, '/hello');
  for (let i = 0; i < 20; i++) {
    const r = await gw.request(8080, 'echo.example.com', '/v2/x');
    assert.equal(r.status, 200);
    assert.equal(r.json().version, 'v2');
    assert.equal(r.json().path, '/x', 'prefix /v2/ rewritten to /');
  }
  assert.equal((await gw.request(8080, 'other.example.com', '/')).status, 404, 'hosts the Gateway does not serve');

  // Inside the mesh the gateway-only VirtualService does not apply: both versions answer /v2/x.
  await client.waitFor('echo:80', '/health', (r) => r.status === 200);
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const r = await client.request('echo:80', '/v2/x');
    assert.equal(r.status, 200);
    assert.equal(r.json().path, '/v2/x', 'no rewrite on the mesh path');
    seen.add(r.json().version);
  }
  assert.deepEqual([...seen].sort(), ['v1', 'v2']);
});
