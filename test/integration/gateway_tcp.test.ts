/**
 * Ingress gateway TCP end to end, in the shape of Istio's tcp-echo task: a TCP server on the
 * gateway, a VirtualService `tcp:` route to tcp-echo v1, then the tcp-echo-20-v2 weighted split
 * applied live and measured over 200 connections. Backends are samples/tcp-echo (prefixes "one"
 * and "two", as Istio's v1 and v2) joined as WorkloadEntries. Everything on 127.0.21.3x.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { start as startTcpEcho } from '../../samples/tcp-echo/main.ts';
import { canConnect, freePort, READY_MS, startGatewayMesh, until, tcpExchange, waitListening } from '../helpers/gateway.ts';
import { refusedPort } from '../helpers/refused_port.ts';

const GW_IP = '127.0.21.30';
const V1_IP = '127.0.21.31';
const V2_IP = '127.0.21.32';

function services(v1Port: number, v2Port: number): string {
  return `
apiVersion: v1
kind: Service
metadata:
  name: tcp-echo
  labels: { app: tcp-echo, service: tcp-echo }
spec:
  ports:
  - name: tcp
    port: 9000
  selector:
    app: tcp-echo
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: tcp-echo-v1 }
spec: { address: ${V1_IP}, labels: { app: tcp-echo, version: v1 }, ports: { tcp: ${v1Port} } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: tcp-echo-v2 }
spec: { address: ${V2_IP}, labels: { app: tcp-echo, version: v2 }, ports: { tcp: ${v2Port} } }
`;
}

/** Istio's samples/tcp-echo/tcp-echo-all-v1.yaml, on our port, plus a Gateway for another router. */
function gatewayAllV1(port: number, egressPort: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: tcp-echo-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: ${port}
      name: tcp
      protocol: TCP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: tcp-echo-destination
spec:
  host: tcp-echo
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
# Selects an egress gateway: the ingress gateway under test must not open this port.
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: tcp-egress
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: ${egressPort}
      name: tcp
      protocol: TCP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tcp-egress
spec:
  hosts:
  - "*"
  gateways:
  - tcp-egress
  tcp:
  - route:
    - destination:
        host: tcp-echo
        port:
          number: 9000
`;
}

/** Istio's tcp-echo VirtualService: all to v1, or tcp-echo-20-v2.yaml's 80/20. */
function virtualService(port: number, v2Weight: number): string {
  const route =
    v2Weight === 0
      ? `    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v1`
      : `    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v1
      weight: ${100 - v2Weight}
    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v2
      weight: ${v2Weight}`;
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tcp-echo
spec:
  hosts:
  - "*"
  gateways:
  - tcp-echo-gateway
  tcp:
  - match:
    - port: ${port}
    route:
${route}
`;
}

test('ingress gateway: TCP server, tcp route to tcp-echo, tcp-echo-20-v2 weighted split', { timeout: 240_000 }, async (t) => {
  const v1 = await startTcpEcho({ port: 0, host: V1_IP, prefix: 'one', log: () => undefined, env: {} });
  const v2 = await startTcpEcho({ port: 0, host: V2_IP, prefix: 'two', log: () => undefined, env: {} });
  t.after(async () => {
    await v1.close();
    await v2.close();
  });
  const port = await freePort();
  // Must stay closed: from below the ephemeral range, which no other test's bind(0) can take.
  const egressPort = await refusedPort(GW_IP);
  const mesh = await startGatewayMesh(t, {
    ip: GW_IP,
    files: { 'tcp-echo-services.yaml': services(v1.port, v2.port), 'tcp-echo-gateway.yaml': gatewayAllV1(port, egressPort), 'tcp-echo-vs.yaml': virtualService(port, 0) },
  });
  const send = (i: number) => tcpExchange(GW_IP, port, `hello ${i}`);
  const versionOf = (answer: string) => (answer.startsWith('one hello') ? 'v1' : answer.startsWith('two hello') ? 'v2' : `unexpected ${JSON.stringify(answer)}`);

  await waitListening(GW_IP, port).catch((e) => {
    throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
  });
  await until(async () => ((await send(0)).startsWith('one hello 0') ? true : undefined), 'one to answer', READY_MS, 200);

  await t.test('a TCP server with a VirtualService tcp route reaches tcp-echo v1', async () => {
    for (let i = 1; i <= 20; i++) assert.equal((await send(i)).trim(), `one hello ${i}`);
    // Several lines on one connection go through the same tcp_proxy session.
    const many = await tcpExchange(GW_IP, port, 'a\nb\nc');
    assert.equal(many, 'one a\none b\none c\n');
  });

  await t.test('a Gateway whose selector does not match the proxy opens no TCP listener', async () => {
    assert.equal(await canConnect(GW_IP, egressPort), false);
    assert.doesNotMatch(await mesh.admin('/listeners'), new RegExp(`_${egressPort}\\b`));
  });

  await t.test('tcp-echo-20-v2 applied live: about 80/20 over 200 connections', async () => {
    mesh.write('tcp-echo-vs.yaml', virtualService(port, 20));
    // Bounded wait for the new listener config: the first connection that reaches v2.
    await until(async () => ((await send(-1)).startsWith('two') ? true : undefined), 'two to answer', READY_MS, 50);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const v = versionOf((await send(i)).trim());
      counts[v] = (counts[v] ?? 0) + 1;
    }
    t.diagnostic(`200 connections: ${JSON.stringify(counts)}`);
    assert.deepEqual(Object.keys(counts).sort(), ['v1', 'v2'], `only v1 and v2 answered: ${JSON.stringify(counts)}`);
    // Expected 40 ± 5.7 (binomial): 20..60 is beyond 3.5 sigma, and excludes 50/50 and all-v1.
    assert.ok(counts.v2! >= 20 && counts.v2! <= 60, `80/20 split gave ${JSON.stringify(counts)}`);
  });

  await t.test('back to all-v1: every connection goes to v1 again', async () => {
    mesh.write('tcp-echo-vs.yaml', virtualService(port, 0));
    // 30 v1 answers in a row once the change has landed.
    await until(async () => {
      for (let i = 0; i < 30; i++) if (!(await send(i)).startsWith('one')) return undefined;
      return true;
    }, '30 v1 answers in a row', READY_MS, 50);
    for (let i = 0; i < 50; i++) assert.equal(versionOf((await send(i)).trim()), 'v1');
  });
});
