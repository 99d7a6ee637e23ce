/**
 * Istio's egress tasks (tasks/traffic-management/egress): with the default ALLOW_ANY an external
 * host unknown to the mesh is reachable ("Envoy passthrough to external services"; without
 * capture the sidecar's HTTP proxy listener forwards it by its Host, through Envoy's dynamic
 * forward proxy); with meshConfig
 * outboundTrafficPolicy REGISTRY_ONLY an external host unknown to the mesh is blocked (502); a
 * ServiceEntry makes it reachable ("Accessing External Services"); and with an egress gateway
 * (Gateway + DestinationRule + VirtualService as in "Egress Gateways", HTTP) the request leaves
 * the mesh through the gateway. The client is Istio's samples/curl/curl.yaml (unmodified); its
 * requests go through its sidecar's HTTP proxy listener (appIP:15080), as `kubectl exec
 * deploy/curl -- curl http://external.example.com/` would. The "external" server is a plain
 * HTTP server this test starts on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { ISTIO_SAMPLES, NO_ISTIO_DATA, startIstioDemo, type EgressGateway } from '../helpers/demo.ts';

const EXTERNAL_HOST = 'external.example.com';
const GATEWAY_CLUSTER = `outbound|80||${EXTERNAL_HOST}`;

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  remote: string;
}

/** The "external" server: a plain HTTP server on 127.0.0.1 that records what reaches it. */
async function startExternal(t: { after(fn: () => Promise<void>): void }): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const external = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers, remote: req.socket.remoteAddress ?? '' });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from outside\n');
  });
  await new Promise<void>((r) => external.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => (external.closeAllConnections(), external.close(() => r()))));
  return { port: (external.address() as { port: number }).port, seen };
}

test('egress: under the default ALLOW_ANY a host unknown to the mesh is reached through the sidecar', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const { port, seen } = await startExternal(t);
  const demo = await startIstioDemo(t, { configs: [`${ISTIO_SAMPLES}/curl/curl.yaml`] });
  // `kubectl exec deploy/curl -- curl http://localhost:<port>/`: a name the registry does not
  // know, resolved by the sidecar's dynamic forward proxy, and an IP literal.
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
    const path = `/allow-any/${host}`;
    const r = await demo.fromPod('curl', host, path);
    assert.equal(r.status, 200, `${host}: ${r.status} ${r.body.slice(0, 300)}`);
    assert.equal(r.body, 'hello from outside\n');
    const s = seen.filter((x) => x.path === path);
    assert.equal(s.length, 1, `${host}: the external server saw the request once`);
    assert.equal(s[0]!.headers.host, host, 'the Host arrives as the app sent it');
  }
  // A name that does not resolve gets Envoy's dynamic forward proxy answer, not a hang or a loop.
  const r = await demo.fromPod('curl', 'no-such-host.invalid', '/nowhere');
  assert.equal(r.status, 503, r.body);
  assert.equal(r.body, 'DNS resolution failure');
});

test('egress: REGISTRY_ONLY blocks unknown hosts, a ServiceEntry opens one, an egress gateway carries it', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const { port, seen } = await startExternal(t);

  const demo = await startIstioDemo(t, { configs: [`${ISTIO_SAMPLES}/curl/curl.yaml`], mesh: 'outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n' });
  const curl = (path: string, host = EXTERNAL_HOST) => demo.fromPod('curl', host, path);

  await t.test('REGISTRY_ONLY: a host outside the registry gets 502 and never leaves', async () => {
    for (const host of [EXTERNAL_HOST, `127.0.0.1:${port}`]) {
      const r = await curl('/blocked', host);
      assert.equal(r.status, 502, `${host}: ${r.status} ${r.body.slice(0, 200)}`);
    }
    assert.equal(seen.length, 0, 'the external server saw nothing');
  });

  await t.test('ServiceEntry: the host becomes reachable', async () => {
    await demo.apply(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external
spec:
  hosts:
  - ${EXTERNAL_HOST}
  location: MESH_EXTERNAL
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports:
      http: ${port}
`,
      'serviceentry-external.yaml',
    );
    const r = await curl('/direct');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'hello from outside\n');
    const s = seen.filter((x) => x.path === '/direct');
    assert.equal(s.length, 1);
    assert.equal(s[0]!.headers.host, EXTERNAL_HOST);
    // Other unknown hosts stay blocked.
    assert.equal((await curl('/still-blocked', 'unknown.example.com')).status, 502);
  });

  await t.test('egress gateway: the request leaves through istio-egressgateway', async () => {
    const gw: EgressGateway = await demo.startEgressGateway();
    // What Kubernetes would know about the gateway's pod: its Service (port 80 → 8080, as Istio's
    // chart) and its address.
    await demo.apply(
      `apiVersion: v1
kind: Service
metadata:
  name: istio-egressgateway
  namespace: istio-system
  labels:
    istio: egressgateway
spec:
  selector:
    istio: egressgateway
  ports:
  - name: http2
    port: 80
    targetPort: ${gw.port}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: istio-egressgateway-1
  namespace: istio-system
spec:
  address: ${gw.ip}
  labels:
    istio: egressgateway
    app: istio-egressgateway
`,
      'egressgateway-service.yaml',
    );
    // Istio's task, with its host.
    await demo.apply(
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - ${EXTERNAL_HOST}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-external
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: external
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-external-through-egress-gateway
spec:
  hosts:
  - ${EXTERNAL_HOST}
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: external
        port:
          number: 80
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 80
    route:
    - destination:
        host: ${EXTERNAL_HOST}
        port:
          number: 80
      weight: 100
`,
      'egress-gateway-external.yaml',
    );
    const count = async () => (await gw.stats()).get(`cluster.${GATEWAY_CLUSTER}.upstream_rq_total`) ?? 0;
    const before = await count();
    const n = 5;
    for (let i = 0; i < n; i++) {
      const r = await curl(`/via-gateway-${i}`);
      assert.equal(r.status, 200, `via gateway ${i}: ${r.status} ${r.body.slice(0, 300)}\n${gw.output().slice(-2000)}`);
      assert.equal(r.body, 'hello from outside\n');
    }
    assert.equal(seen.filter((x) => x.path.startsWith('/via-gateway-')).length, n, 'the external server saw each request once');
    assert.equal((await count()) - before, n, `the egress gateway sent ${n} requests to ${GATEWAY_CLUSTER}`);
    for (const s of seen.filter((x) => x.path.startsWith('/via-gateway-'))) assert.equal(s.headers.host, EXTERNAL_HOST);

    // Without the gateway, the route has nowhere to go: the sidecar does not go around it.
    await gw.stop();
    const r = await curl('/gateway-down');
    assert.ok(r.status >= 500, `with the egress gateway stopped: ${r.status}`);
    assert.equal(seen.filter((x) => x.path === '/gateway-down').length, 0, 'nothing reached the external server');
  });
});
