/**
 * Ingress gateway, plaintext HTTP, end to end: a real control plane reads Istio YAML from a temp
 * directory, a real `tsmesh proxy` runs from the ingress gateway's router bootstrap, and real
 * backends (samples/echo, samples/httpbin) join the mesh as WorkloadEntries selected by
 * Kubernetes Services. Everything on 127.0.21.1x.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { start as startEcho } from '../../samples/echo/main.ts';
import { start as startHttpbin } from '../../samples/httpbin/main.ts';
import { canConnect, freePort, httpGet, READY_MS, startGatewayMesh, until, waitListening } from '../helpers/gateway.ts';
import { refusedPort } from '../helpers/refused_port.ts';
import { serviceWithWorkloads } from '../helpers/yaml.ts';

const GW_IP = '127.0.21.10';
const ECHO_IP = '127.0.21.11';
const HTTPBIN_IP = '127.0.21.12';
const API_IP = '127.0.21.13';

function backends(echoPort: number, httpbinPort: number, apiPort: number): string {
  return [
    serviceWithWorkloads({ name: 'echo', servicePort: 8000, workloads: [{ name: 'echo-1', address: ECHO_IP, labels: { version: 'v1' }, port: echoPort }] }),
    serviceWithWorkloads({ name: 'httpbin', servicePort: 8000, workloads: [{ name: 'httpbin-1', address: HTTPBIN_IP, port: httpbinPort }] }),
    serviceWithWorkloads({ name: 'api', namespace: 'prod', servicePort: 8000, workloads: [{ name: 'api-1', address: API_IP, port: apiPort }] }),
  ].join('---\n');
}

interface Ports {
  web: number;
  shop: number;
  redirect: number;
  egress: number;
}

function gateways(p: Ports): string {
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: web-gateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${p.web}, name: http, protocol: HTTP }
    hosts:
    - "default/echo.example.com"
    - "default/mesh-only.example.com"
    - "default/short-name.example.com"
    - "prod/*.prod.example.com"
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: shop-gateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${p.shop}, name: http-shop, protocol: HTTP }
    hosts: [echo.shop.example.com, httpbin.shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: redirect-gateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${p.redirect}, name: http-redirect, protocol: HTTP }
    hosts: [secure.example.com]
    tls: { httpsRedirect: true }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: egress-gateway, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers:
  - port: { number: ${p.egress}, name: http, protocol: HTTP }
    hosts: ["*"]
`;
}

const VIRTUAL_SERVICES = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo.example.com]
  gateways: [istio-system/web-gateway]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
---
# Bound to the mesh only (sidecars): a gateway must not apply it.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: mesh-only, namespace: default }
spec:
  hosts: [mesh-only.example.com]
  gateways: [mesh]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
---
# "web-gateway" without a namespace means default/web-gateway, which does not exist.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: short-name, namespace: default }
spec:
  hosts: [short-name.example.com]
  gateways: [web-gateway]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: prod }
spec:
  hosts: [api.prod.example.com]
  gateways: [istio-system/web-gateway]
  http:
  - route: [{ destination: { host: api, port: { number: 8000 } } }]
---
# The server exposes *.prod.example.com to namespace prod only: this one is not admitted.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: intruder, namespace: default }
spec:
  hosts: [intruder.prod.example.com]
  gateways: [istio-system/web-gateway]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-echo, namespace: default }
spec:
  hosts: [echo.shop.example.com]
  gateways: [istio-system/shop-gateway]
  http:
  - route: [{ destination: { host: echo.default.svc.cluster.local, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-httpbin, namespace: default }
spec:
  hosts: [httpbin.shop.example.com]
  gateways: [istio-system/shop-gateway]
  http:
  - route: [{ destination: { host: httpbin.default.svc.cluster.local, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: secure, namespace: default }
spec:
  hosts: [secure.example.com]
  gateways: [istio-system/redirect-gateway]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: egress-anything, namespace: default }
spec:
  hosts: ["*"]
  gateways: [istio-system/egress-gateway]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
`;

test('ingress gateway: HTTP servers, VirtualService binding, host matching, httpsRedirect, selectors', { timeout: 240_000 }, async (t) => {
  const quiet = { log: () => undefined };
  const echo = await startEcho({ port: 0, host: ECHO_IP, serviceName: 'echo', podName: 'echo-1', ...quiet, env: {} });
  const httpbin = await startHttpbin({ port: 0, host: HTTPBIN_IP, ...quiet, env: {} });
  const api = await startEcho({ port: 0, host: API_IP, serviceName: 'api', podName: 'api-1', ...quiet, env: {} });
  t.after(async () => {
    await echo.close();
    await httpbin.close();
    await api.close();
  });
  // The egress port must stay closed: from below the ephemeral range, which no other test's bind(0)
  // can take while this one runs (a freePort() one was once taken and answered).
  const ports: Ports = { web: await freePort(), shop: await freePort(), redirect: await freePort(), egress: await refusedPort(GW_IP) };
  const mesh = await startGatewayMesh(t, {
    ip: GW_IP,
    files: { 'backends.yaml': backends(echo.port, httpbin.port, api.port), 'gateways.yaml': gateways(ports), 'virtualservices.yaml': VIRTUAL_SERVICES },
  });
  const get = (port: number, host: string, path = '/') => httpGet(GW_IP, port, host, path);

  await waitListening(GW_IP, ports.web);
  // Listener first, then routes/clusters/endpoints: wait for the first routed answer.
  await until(async () => ((await get(ports.web, 'echo.example.com')).status === 200 ? true : undefined), 'echo.example.com to answer 200', READY_MS, 200).catch((e) => {
    throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
  });

  await t.test('VirtualService bound with gateways: [ns/name] routes by Host; other hosts get 404', async () => {
    const ok = await get(ports.web, 'echo.example.com', '/hello?x=1');
    assert.equal(ok.status, 200);
    const body = JSON.parse(ok.body);
    assert.equal(body.service, 'echo');
    assert.equal(body.path, '/hello');
    assert.equal(body.headers.host, 'echo.example.com');
    // The gateway is the first hop: it sets X-Forwarded-For to the client address.
    assert.match(String(body.headers['x-forwarded-for']), /127\.0\.0\.1/);
    // The host with a port still matches (domains host and host:*).
    assert.equal((await get(ports.web, `echo.example.com:${ports.web}`)).status, 200);
    const unknown = await get(ports.web, 'unknown.example.com');
    assert.equal(unknown.status, 404, 'a host no server exposes gets 404');
  });

  await t.test('a VirtualService bound to mesh only, or to a gateway name in its own namespace, is not applied', async () => {
    assert.equal((await get(ports.web, 'mesh-only.example.com')).status, 404, 'gateways: [mesh]');
    assert.equal((await get(ports.web, 'short-name.example.com')).status, 404, 'gateways: [web-gateway] is default/web-gateway');
  });

  await t.test('server hosts with namespace/ prefixes admit VirtualServices from that namespace only', async () => {
    const ok = await get(ports.web, 'api.prod.example.com');
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).service, 'api', 'prod/api reached the prod backend');
    assert.equal((await get(ports.web, 'intruder.prod.example.com')).status, 404, 'default/intruder is not admitted by prod/*.prod.example.com');
  });

  await t.test('multiple hosts on one HTTP server go to different backends by Host', async () => {
    await waitListening(GW_IP, ports.shop);
    const e = await until(async () => {
      const r = await get(ports.shop, 'echo.shop.example.com', '/from-shop');
      return r.status === 200 ? r : undefined;
    }, 'the change to take effect', READY_MS, 200);
    assert.equal(JSON.parse(e.body).service, 'echo');
    assert.equal(e.headers['x-served-by'], 'echo-1');
    const h = await get(ports.shop, 'httpbin.shop.example.com', '/headers');
    assert.equal(h.status, 200);
    assert.equal(JSON.parse(h.body).headers.Host, 'httpbin.shop.example.com', 'httpbin answered');
    assert.equal(h.headers['x-served-by'], undefined, 'not the echo backend');
    for (let i = 0; i < 10; i++) {
      const [a, b] = await Promise.all([get(ports.shop, 'echo.shop.example.com'), get(ports.shop, 'httpbin.shop.example.com', '/headers')]);
      assert.equal(JSON.parse(a.body).service, 'echo');
      assert.ok(JSON.parse(b.body).headers, 'httpbin /headers');
    }
    assert.equal((await get(ports.shop, 'echo.example.com')).status, 404, 'a host of another server on another port');
  });

  await t.test('httpsRedirect answers 301 to https for the server hosts', async () => {
    await waitListening(GW_IP, ports.redirect);
    let last: unknown;
    const r = await until(async () => {
      const x = await get(ports.redirect, 'secure.example.com', '/some/path?q=1');
      last = x;
      return x.status === 301 ? x : undefined;
    }, 'the change to take effect', READY_MS, 200).catch((e) => {
      throw new Error(`${(e as Error).message}; last answer ${JSON.stringify(last)}`);
    });
    assert.equal(r.headers.location, 'https://secure.example.com/some/path?q=1');
    // The edge proxy sets X-Forwarded-Proto itself: a client claiming https is still redirected.
    const claimed = await httpGet(GW_IP, ports.redirect, 'secure.example.com', '/', { 'x-forwarded-proto': 'https' });
    assert.equal(claimed.status, 301);
    assert.equal(claimed.headers.location, 'https://secure.example.com/');
    assert.equal((await get(ports.redirect, 'other.example.com')).status, 404, 'hosts the server does not expose');
  });

  await t.test('a Gateway whose selector does not match the proxy opens no listener', async () => {
    assert.equal(await canConnect(GW_IP, ports.egress), false, `nothing listens on ${GW_IP}:${ports.egress}`);
    const listeners = await mesh.admin('/listeners');
    assert.match(listeners, new RegExp(`0\\.0\\.0\\.0_${ports.web}::${GW_IP.replace(/\./g, '\\.')}:${ports.web}`));
    assert.doesNotMatch(listeners, new RegExp(`_${ports.egress}\\b`));
  });
});
