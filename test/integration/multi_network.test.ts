/**
 * Two networks joined by east-west gateways (issue 14, acceptance 5; Istio's "multi-primary on
 * different networks" shape, on one control plane). Hosts are network namespaces:
 *
 *   pub  10.81.0.0/24: control plane .2, east-west gateway 1 .11, east-west gateway 2 .12
 *   net1 10.81.1.0/24: client .10 (default route: gateway 1's host, .1)
 *   net2 10.81.2.0/24: echo server .10 (default route: gateway 2's host, .1)
 *
 * Each gateway host routes between its own network and pub only, so net1 cannot reach net2's
 * addresses. Network1's gateway is a meshNetworks `address`; network2's is found as Istio finds
 * an east-west gateway: a Service labelled topology.istio.io/network whose external address
 * (spec.externalIPs: gateway 2's address on pub) is what other networks reach, while its pod
 * (registered at 10.81.2.1, on network2) is never handed to network1. The client's sidecar
 * (network1) gets echo's only endpoint (network2) as gateway 2's external address, sends its mesh mTLS with SNI outbound_.80_._.echo... there, and the gateway's
 * AUTO_PASSTHROUGH chain forwards the TLS bytes to the server's sidecar, which sees the client's
 * SPIFFE identity. Sidecars use the explicit HTTP proxy listener (NONE mode): capture is not what
 * this test is about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { buildBootstrap, sidecarBootstrap } from '../../src/agent/bootstrap.ts';
import { netLab, makeRouter, NO_NETNS, type Host } from '../helpers/netns.ts';
import { hostHttp, hostTcp, startHostMesh, type HostApp, type HostMesh } from '../helpers/host_mesh.ts';
import { until } from '../helpers/poll.ts';

const HOST = 'echo.default.svc.cluster.local';
const SNI = `outbound_.80_._.${HOST}`;

const CONFIG = `
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  clusterIP: 10.96.0.80
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: cross-network-gateway, namespace: istio-system }
spec:
  selector: { istio: eastwestgateway }
  servers:
  - port: { number: 15443, name: tls, protocol: TLS }
    tls: { mode: AUTO_PASSTHROUGH }
    hosts: ["*.local"]
---
# Network2's east-west gateway as Istio installs it: the LoadBalancer Service other networks reach
# at its external address, in front of the gateway pod (on network2 itself).
apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: istio-system
  labels: { istio: eastwestgateway, topology.istio.io/network: network2 }
spec:
  type: LoadBalancer
  selector: { istio: eastwestgateway, topology.istio.io/network: network2 }
  externalIPs: [10.81.0.12]
  ports: [{ name: tls, port: 15443, targetPort: 15443 }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: istio-eastwestgateway-2, namespace: istio-system }
spec:
  address: 10.81.2.1
  network: network2
  labels: { istio: eastwestgateway, topology.istio.io/network: network2 }
`;

const MESH = `
meshNetworks:
  networks:
    network1: { gateways: [{ address: 10.81.0.11, port: 15443 }] }
`;

/** HTTP on 127.0.0.1:8080 (the sidecar delivers there): answers who called and what identity it forwarded. */
const ECHO_APP: HostApp = {
  script: `
import http from 'node:http';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ peer: req.socket.remoteAddress, xfcc: req.headers['x-forwarded-client-cert'] ?? '' }));
}).listen(8080, '127.0.0.1', () => console.log('app listening 8080'));
`,
  ready: /app listening 8080/,
};

/** A NONE-mode sidecar's bootstrap (HTTP proxy listener on 127.0.0.1:15080) on `network`. */
function sidecarFile(mesh: HostMesh, dir: string, name: string, ip: string, labels: Record<string, string>, ports: Record<string, number>, network: string): string {
  const b = sidecarBootstrap({
    podIP: ip, appIP: '127.0.0.1', pod: name, namespace: 'default', app: labels.app!, labels, serviceAccount: name, workloadName: name,
    ports, containerPorts: Object.values(ports), adminPort: 15000, outboundPort: 15080,
    xds: { host: mesh.ip, port: 15010 }, sdsSocket: `/tmp/tsmesh-mn-${process.pid}-${name}.sock`, // uid 1337 creates it
  });
  b.node.metadata.NETWORK = network;
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(b));
  chmodSync(file, 0o644);
  return file;
}

/** An east-west gateway (router, istio=eastwestgateway) on `network`, listening on 0.0.0.0. */
function gatewayFile(mesh: HostMesh, dir: string, name: string, ip: string, network: string): string {
  const b = buildBootstrap({
    type: 'router', ip, pod: name, namespace: 'istio-system', app: 'istio-eastwestgateway',
    labels: { istio: 'eastwestgateway', app: 'istio-eastwestgateway', 'topology.istio.io/network': network },
    workloadName: 'istio-eastwestgateway', admin: { host: '127.0.0.1', port: 15000 }, xds: { host: mesh.ip, port: 15010 },
    metadata: { GATEWAY_BIND_ADDRESS: '0.0.0.0', NETWORK: network },
  });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(b));
  chmodSync(file, 0o644);
  return file;
}

test('multi-network: a client on network1 reaches a service whose only endpoint is on network2, through network2\'s east-west gateway, with mTLS', { skip: NO_NETNS, timeout: 240_000 }, async (t) => {
  const lab = await netLab(t);
  const pub = await lab.network('pub', '10.81.0.0/24');
  const net1 = await lab.network('net1', '10.81.1.0/24');
  const net2 = await lab.network('net2', '10.81.2.0/24');
  const cpHost = await lab.host('cp', [{ network: pub, ip: '10.81.0.2' }]);
  const gw1Host = await lab.host('ew1', [{ network: pub, ip: '10.81.0.11' }, { network: net1, ip: '10.81.1.1' }]);
  const gw2Host = await lab.host('ew2', [{ network: pub, ip: '10.81.0.12' }, { network: net2, ip: '10.81.2.1' }]);
  const client = await lab.host('client', [{ network: net1, ip: '10.81.1.10', gateway: '10.81.1.1' }]);
  const server = await lab.host('server', [{ network: net2, ip: '10.81.2.10', gateway: '10.81.2.1' }]);
  // Each gateway host forwards between its network and pub; hosts on pub know the way back to each network.
  await makeRouter(gw1Host);
  await makeRouter(gw2Host);
  const route = (h: Host, cidr: string, via: string) => h.run('ip', ['route', 'add', cidr, 'via', via]);
  await route(cpHost, '10.81.1.0/24', '10.81.0.11');
  await route(cpHost, '10.81.2.0/24', '10.81.0.12');
  // Gateway 1's host has no route to net2: from network1, 10.81.2.0/24 is unreachable.
  await route(gw2Host, '10.81.1.0/24', '10.81.0.11');

  const mesh = await startHostMesh(t, cpHost, { config: { 'echo.yaml': CONFIG }, meshConfig: MESH });
  const dir = join(mesh.configDir, '..', 'boot');

  // The network2 side first: the server's sidecar registers echo's endpoint (network2 by its label).
  const serverLabels = { app: 'echo', 'security.istio.io/tlsMode': 'istio', 'topology.istio.io/network': 'network2' };
  const echo = await mesh.startSidecar(server, {
    name: 'echo', labels: serverLabels, serviceAccount: 'echo', app: ECHO_APP, capture: false, identity: true,
    proxyArgs: ['--bootstrap', sidecarFile(mesh, dir, 'echo', '10.81.2.10', serverLabels, { http: 8080 }, 'network2')],
  });
  const ew1 = await mesh.startSidecar(gw1Host, { name: 'ew1', labels: {}, capture: false, proxyArgs: ['--bootstrap', gatewayFile(mesh, dir, 'ew1', '10.81.0.11', 'network1')] });
  const ew2 = await mesh.startSidecar(gw2Host, { name: 'ew2', labels: {}, capture: false, proxyArgs: ['--bootstrap', gatewayFile(mesh, dir, 'ew2', '10.81.0.12', 'network2')] });
  const clientLabels = { app: 'client', 'security.istio.io/tlsMode': 'istio', 'topology.istio.io/network': 'network1' };
  const sleep = await mesh.startSidecar(client, {
    name: 'client', labels: clientLabels, serviceAccount: 'client', capture: false, identity: true,
    proxyArgs: ['--bootstrap', sidecarFile(mesh, dir, 'client', '10.81.1.10', clientLabels, {}, 'network1')],
  });

  // The only path: the client host cannot reach the network2 endpoint's address.
  const direct = await hostTcp(client, '10.81.2.10', 8080, 'hello');
  assert.match(direct[0]!, /^ERROR (EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|timeout)/, `a direct connection to 10.81.2.10 must fail, got ${direct[0]}`);

  // Split-horizon EDS: the client's echo cluster holds gateway 2's address, not 10.81.2.10.
  await until(async () => (await sleep.admin('/clusters')).includes(`outbound|80||${HOST}::10.81.0.12:15443`), 'client EDS lists gateway 2 for echo', 60_000, 300);
  const clusters = await sleep.admin('/clusters');
  assert.ok(!clusters.includes(`outbound|80||${HOST}::10.81.2.10:`), 'the remote endpoint itself is not sent to a proxy on network1');
  assert.ok(!clusters.includes(`outbound|80||${HOST}::10.81.2.1:`), "nor the gateway pod's own address (on network2): only the Service's external address");
  // The gateway's sni-dnat cluster holds the network2 endpoint only.
  await until(async () => (await ew2.admin('/clusters')).includes(`${SNI}::10.81.2.10:8080`), 'gateway 2 sni-dnat cluster lists the echo endpoint', 60_000, 300);
  assert.ok(!(await ew1.admin('/clusters')).includes(`${SNI}::10.81.2.10`), 'gateway 1 never sends to a network2 address');

  const N = 20;
  let replies: Array<{ status: number; body: string }> = [];
  await until(async () => (replies = await hostHttp(client, 'http://127.0.0.1:15080/', { headers: { host: HOST } })).every((r) => r.status === 200), 'first request through the gateway', 60_000, 500);
  replies = await hostHttp(client, 'http://127.0.0.1:15080/', { count: N, headers: { host: HOST } });
  assert.deepEqual(replies.map((r) => r.status), Array(N).fill(200), JSON.stringify(replies.slice(0, 3)));
  for (const r of replies) {
    const body = JSON.parse(r.body);
    assert.equal(body.peer, '127.0.0.1', 'the app was reached through its sidecar');
    assert.match(body.xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/client/, "the server's sidecar saw the client's identity (mTLS end to end)");
  }
  // Through gateway 2 (its sni-dnat cluster counted the connections), never gateway 1.
  const s2 = await ew2.stats();
  const s1 = await ew1.stats();
  const cx2 = s2[`cluster.${SNI}.upstream_cx_total`] ?? 0;
  assert.ok(cx2 >= 1, `gateway 2 opened connections to echo: ${cx2}`);
  assert.equal(s1[`cluster.${SNI}.upstream_cx_total`] ?? 0, 0);
  const cs = await sleep.stats();
  const rq = cs[`cluster.outbound|80||${HOST}.upstream_rq_total`] ?? 0;
  assert.ok(rq >= N, `client sent ${rq} requests on the echo cluster`);
  t.diagnostic(`figures: ${N}/${N} requests 200 through gateway 2 (sni-dnat upstream_cx_total ${cx2}, client upstream_rq_total ${rq}); direct connection: ${direct[0]}`);
  await echo.stop();
});
