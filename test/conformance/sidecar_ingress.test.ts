/**
 * Sidecar ingress listeners through both planes: the pilot translates a Sidecar whose ingress
 * ports (HTTP and TCP) forward to defaultEndpoints, then a real tsmesh proxy serves exactly the
 * inbound listeners and clusters it emitted (NONE mode: bound at the pod IP), and a request on
 * each ingress port reaches the app listening at that port's defaultEndpoint, not at the port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import * as net from 'node:net';
import { generate } from '../../src/pilot/generator.ts';
import { ProxyServer } from '../../src/proxy/server.ts';
import { validateBootstrap } from '../../src/proxy/bootstrap.ts';
import { TYPE } from '../../src/xds/types.ts';
import { proxyFor, pushFromYaml, workload } from '../pilot/fixtures.ts';

const POD_IP = '127.0.0.1';

/** A free port on loopback (bound then released: the proxy takes it next). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, POD_IP, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: POD_IP, port, path: '/hello', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function tcpRoundTrip(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, POD_IP, () => s.write(payload));
    let got = '';
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => {
      got += d.toString();
      if (got.length >= payload.length + 4) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

test('a request on a Sidecar ingress port reaches the app at its defaultEndpoint (HTTP and TCP)', async (t) => {
  const app = createHttpServer((req, res) => res.end(`app saw ${req.url}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.after(() => app.close());
  const echo = net.createServer((s) => s.on('data', (d) => s.write(`echo${d.toString()}`)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.after(() => echo.close());
  const appPort = (app.address() as net.AddressInfo).port;
  const echoPort = (echo.address() as net.AddressInfo).port;
  const httpIngress = await freePort();
  const tcpIngress = await freePort();

  const push = pushFromYaml(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: web, namespace: default}
spec:
  workloadSelector: {labels: {app: web}}
  ingress:
  - port: {number: ${httpIngress}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${appPort}
  - port: {number: ${tcpIngress}, protocol: TCP, name: tcp}
    defaultEndpoint: 127.0.0.1:${echoPort}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: plain, namespace: default}
spec: {mtls: {mode: DISABLE}}
`);
  const proxy = proxyFor(workload('web-0', POD_IP, { app: 'web' }), { INTERCEPTION_MODE: 'NONE' });
  const listeners = generate(push, proxy, TYPE.LISTENER).map((l) => l.resource).filter((l) => l.traffic_direction === 'INBOUND');
  const clusters = generate(push, proxy, TYPE.CLUSTER).map((c) => c.resource).filter((c) => String(c.name).startsWith('inbound|'));
  assert.deepEqual(listeners.map((l) => l.name).sort(), [`${POD_IP}_${httpIngress}`, `${POD_IP}_${tcpIngress}`].sort());
  assert.deepEqual(clusters.map((c) => c.name).sort(), [`inbound|${httpIngress}||`, `inbound|${tcpIngress}||`].sort());

  const bootstrap = validateBootstrap({ node: { id: 'conformance', cluster: 'test' }, static_resources: { listeners, clusters } });
  const server = new ProxyServer({ bootstrap, drainMs: 0, initialFetchTimeoutMs: 2000 });
  await server.start();
  t.after(() => server.shutdown(0));

  const r = await get(httpIngress);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'app saw /hello');
  assert.equal(await tcpRoundTrip(tcpIngress, 'ping'), 'echoping');
  // The ingress ports themselves are not the app's: nothing but the proxy answers there.
  assert.notEqual(httpIngress, appPort);
});
