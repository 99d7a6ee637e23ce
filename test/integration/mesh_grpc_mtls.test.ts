/**
 * gRPC between two sidecars over mesh mTLS (auto mTLS, then STRICT): the client's sidecar
 * originates ISTIO_MUTUAL on an HTTP/2 cluster, offering ALPN istio-peer-exchange, istio and h2
 * as Istio does, so the server's sidecar, which offers h2 and http/1.1, agrees on h2. (With only
 * Istio's names offered nothing was agreed and every gRPC call failed with a protocol error.)
 * A real @grpc/grpc-js client calls through its sidecar's outbound listener (h2c) and the echo
 * sample reports the server sidecar's hop; the server sidecar's stats show the mTLS connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadEchoPackage, start as startGrpcEcho, type EchoResponse } from '../../samples/grpc-echo/main.ts';
import { startMesh, OUTBOUND_PORT } from '../helpers/mesh.ts';
import { until } from '../helpers/poll.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: grpc, port: 7070 }]
`;
const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec: { mtls: { mode: STRICT } }
`;

test('gRPC through two sidecars over mesh mTLS: h2 is agreed, calls succeed under auto mTLS and STRICT', { timeout: 180_000 }, async (t) => {
  const mesh = await startMesh(t, { config: { 'echo.yaml': SERVICE } });
  const server = await mesh.startPod({
    name: 'echo',
    labels: { app: 'echo' },
    ports: { grpc: 7070 },
    serviceAccount: 'echo',
    identity: {},
    app: (ip) => startGrpcEcho({ host: ip, port: 7070, log: () => {}, env: {} }),
  });
  const client = await mesh.startPod({ name: 'client', labels: { app: 'client' }, serviceAccount: 'client', identity: {} });
  const Echo = loadEchoPackage().echo.EchoService;
  // Through the client's sidecar: h2c to its outbound listener, routed by :authority.
  const stub = new Echo(`${client.appIP}:${OUTBOUND_PORT}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo.default.svc.cluster.local:7070' });
  t.after(() => stub.close());
  const call = (message: string) =>
    new Promise<{ ok: true; reply: EchoResponse } | { ok: false; code: number; details: string }>((resolve) =>
      stub.Echo({ message }, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, reply: EchoResponse) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, reply })),
    );
  const mtlsConnections = async () => {
    const stats = await (await fetch(`${server.admin}/stats`)).text();
    return stats
      .split('\n')
      .filter((l) => /^listener\..*ssl\.handshake: /.test(l))
      .reduce((a, l) => a + Number(l.split(': ')[1]), 0);
  };

  const first = await until(async () => {
    const a = await call('hello');
    return a.ok ? a.reply : undefined;
  }, 'a gRPC call through both sidecars', 60_000, 250);
  assert.equal(first.message, 'hello');
  assert.ok((await mtlsConnections()) > 0, 'the server sidecar terminated mesh mTLS');

  await mesh.apply('strict.yaml', STRICT, [server]);
  const strict = await until(async () => {
    const a = await call('strict');
    return a.ok ? a.reply : undefined;
  }, 'a gRPC call under STRICT', 30_000, 250);
  assert.equal(strict.message, 'strict');
  for (let i = 0; i < 5; i++) assert.equal((await call(`again ${i}`)).ok, true);
});
