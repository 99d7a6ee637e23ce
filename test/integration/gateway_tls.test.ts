/**
 * Ingress gateway TLS end to end: HTTPS SIMPLE (certificate files, minProtocolVersion TLSV1_3),
 * HTTPS MUTUAL (caCertificates), and PASSTHROUGH to two backends that terminate TLS themselves,
 * chosen by SNI through VirtualService `tls:` routes. A throwaway CA and its certificates are
 * made at test time (openssl); backends join as a WorkloadEntry and STATIC ServiceEntries.
 * Everything on 127.0.21.2x.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { start as startEcho } from '../../samples/echo/main.ts';
import { createPki, hasOpenssl, type IssuedCert } from '../helpers/certs.ts';
import { freePort, httpsGet, READY_MS, startGatewayMesh, tlsHandshake, until, waitListening } from '../helpers/gateway.ts';
import { serviceWithWorkloads } from '../helpers/yaml.ts';

const GW_IP = '127.0.21.20';
const ECHO_IP = '127.0.21.21';
const A_IP = '127.0.21.22';
const B_IP = '127.0.21.23';

interface Ports {
  simple: number;
  mutual: number;
  passthrough: number;
}

function config(p: Ports, files: { cert: IssuedCert; ca: string }, echoPort: number, aPort: number, bPort: number): string {
  return `
${serviceWithWorkloads({ name: 'echo', servicePort: 8000, workloads: [{ name: 'echo-1', address: ECHO_IP, port: echoPort }] })}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a-backend, namespace: default }
spec:
  hosts: [a.example.com]
  location: MESH_INTERNAL
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: STATIC
  endpoints: [{ address: ${A_IP}, ports: { tls: ${aPort} } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: b-backend, namespace: default }
spec:
  hosts: [b.example.com]
  location: MESH_INTERNAL
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: STATIC
  endpoints: [{ address: ${B_IP}, ports: { tls: ${bPort} } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: tls-gateway, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${p.simple}, name: https-simple, protocol: HTTPS }
    hosts: [simple.example.com]
    tls:
      mode: SIMPLE
      serverCertificate: ${files.cert.certFile}
      privateKey: ${files.cert.keyFile}
      minProtocolVersion: TLSV1_3
  - port: { number: ${p.mutual}, name: https-mutual, protocol: HTTPS }
    hosts: [mutual.example.com]
    tls:
      mode: MUTUAL
      serverCertificate: ${files.cert.certFile}
      privateKey: ${files.cert.keyFile}
      caCertificates: ${files.ca}
  - port: { number: ${p.passthrough}, name: tls-passthrough, protocol: TLS }
    hosts: [a.example.com, b.example.com]
    tls: { mode: PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [simple.example.com, mutual.example.com]
  gateways: [istio-system/tls-gateway]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: passthrough, namespace: default }
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [istio-system/tls-gateway]
  tls:
  - match: [{ port: ${p.passthrough}, sniHosts: [a.example.com] }]
    route: [{ destination: { host: a.example.com, port: { number: 443 } } }]
  - match: [{ port: ${p.passthrough}, sniHosts: [b.example.com] }]
    route: [{ destination: { host: b.example.com, port: { number: 443 } } }]
`;
}

/** A backend that terminates TLS itself and says who it is. */
function tlsBackend(ip: string, cert: IssuedCert, name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`backend ${name} (sni ${(req.socket as TLSSocket).servername})`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, ip, () => {
      resolve({
        port: (server.address() as { port: number }).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

test('ingress gateway: HTTPS SIMPLE and MUTUAL from certificate files, TLS PASSTHROUGH by SNI', { timeout: 240_000, skip: hasOpenssl() ? false : 'openssl CLI not available' }, async (t) => {
  const pki = createPki();
  const rogue = createPki('tsmesh-rogue-pki-');
  t.after(() => {
    pki.dispose();
    rogue.dispose();
  });
  const gatewayCert = pki.server('gateway', ['simple.example.com', 'mutual.example.com']);
  const aCert = pki.server('a', ['a.example.com']);
  const bCert = pki.server('b', ['b.example.com']);
  const client = pki.client('client', 'curl-client');
  const rogueClient = rogue.client('rogue', 'rogue-client');

  const echo = await startEcho({ port: 0, host: ECHO_IP, serviceName: 'echo', podName: 'echo-1', log: () => undefined, env: {} });
  const a = await tlsBackend(A_IP, aCert, 'a');
  const b = await tlsBackend(B_IP, bCert, 'b');
  t.after(async () => {
    await echo.close();
    await a.close();
    await b.close();
  });

  const ports: Ports = { simple: await freePort(), mutual: await freePort(), passthrough: await freePort() };
  const mesh = await startGatewayMesh(t, { ip: GW_IP, files: { 'mesh.yaml': config(ports, { cert: gatewayCert, ca: pki.caFile }, echo.port, a.port, b.port) } });
  await waitListening(GW_IP, ports.simple).catch((e) => {
    throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
  });

  await t.test('SIMPLE: a client trusting the CA, with SNI, gets the page over TLS 1.3', async () => {
    const r = await until(async () => {
      const x = await httpsGet(GW_IP, ports.simple, { ca: pki.ca, servername: 'simple.example.com' }, '/secure');
      return x.status === 200 ? x : undefined;
    }, 'the simple TLS server to answer', READY_MS, 200);
    assert.equal(r.peerCN, 'simple.example.com');
    assert.equal(r.protocol, 'TLSv1.3');
    const body = JSON.parse(r.body);
    assert.equal(body.service, 'echo');
    assert.equal(body.path, '/secure');
    assert.equal(body.headers['x-forwarded-proto'], 'https');
  });

  await t.test('SIMPLE with minProtocolVersion TLSV1_3: a TLS 1.2-only client fails the handshake', async () => {
    await assert.rejects(tlsHandshake(GW_IP, ports.simple, { ca: pki.ca, servername: 'simple.example.com', maxVersion: 'TLSv1.2' }));
    await assert.rejects(httpsGet(GW_IP, ports.simple, { ca: pki.ca, servername: 'simple.example.com', maxVersion: 'TLSv1.2' }));
    // The same client allowed TLS 1.3 still gets in: the failure was the version, nothing else.
    const ok = await tlsHandshake(GW_IP, ports.simple, { ca: pki.ca, servername: 'simple.example.com' });
    assert.equal(ok.protocol, 'TLSv1.3');
    ok.socket.destroy();
  });

  await t.test('SIMPLE: an SNI the server does not expose matches no filter chain', async () => {
    await assert.rejects(tlsHandshake(GW_IP, ports.simple, { ca: pki.ca, servername: 'other.example.com' }));
  });

  await t.test('MUTUAL: no client certificate, or one from another CA, gets no response; a good one gets the page', async () => {
    await waitListening(GW_IP, ports.mutual);
    const opts = { ca: pki.ca, servername: 'mutual.example.com' };
    const good = await until(async () => {
      const x = await httpsGet(GW_IP, ports.mutual, { ...opts, cert: client.cert, key: client.key });
      return x.status === 200 ? x : undefined;
    }, 'the mutual TLS server to answer', READY_MS, 200);
    assert.equal(JSON.parse(good.body).service, 'echo');
    assert.equal(good.peerCN, 'simple.example.com', 'the gateway presented its certificate');
    await assert.rejects(httpsGet(GW_IP, ports.mutual, opts), 'no client certificate');
    await assert.rejects(httpsGet(GW_IP, ports.mutual, { ...opts, cert: rogueClient.cert, key: rogueClient.key }), 'client certificate from an untrusted CA');
    // And TLS 1.2, where the failure is inside the handshake itself.
    await assert.rejects(tlsHandshake(GW_IP, ports.mutual, { ...opts, maxVersion: 'TLSv1.2' }));
    const again = await httpsGet(GW_IP, ports.mutual, { ...opts, cert: client.cert, key: client.key });
    assert.equal(again.status, 200, 'the gateway keeps serving after refusing clients');
    const stats = await mesh.admin('/stats');
    assert.match(stats, new RegExp(`^listener\\.[\\d.]+_${ports.mutual}\\.ssl\\.fail_verify_error: [1-9]`, 'm'), 'the untrusted certificate was counted');
  });

  await t.test('PASSTHROUGH: each SNI reaches its own TLS backend, untouched', async () => {
    await waitListening(GW_IP, ports.passthrough);
    const ra = await until(async () => {
      const x = await httpsGet(GW_IP, ports.passthrough, { ca: pki.ca, servername: 'a.example.com' });
      return x.status === 200 ? x : undefined;
    }, 'the second certificate to be served', READY_MS, 200);
    assert.equal(ra.peerCN, 'a.example.com', "backend a's own certificate, not the gateway's");
    assert.equal(ra.body, 'backend a (sni a.example.com)');
    const rb = await httpsGet(GW_IP, ports.passthrough, { ca: pki.ca, servername: 'b.example.com' });
    assert.equal(rb.peerCN, 'b.example.com');
    assert.equal(rb.body, 'backend b (sni b.example.com)');
    for (let i = 0; i < 10; i++) {
      const [x, y] = await Promise.all([
        httpsGet(GW_IP, ports.passthrough, { ca: pki.ca, servername: 'a.example.com' }),
        httpsGet(GW_IP, ports.passthrough, { ca: pki.ca, servername: 'b.example.com' }),
      ]);
      assert.equal(x.peerCN, 'a.example.com');
      assert.equal(y.peerCN, 'b.example.com');
    }
    await assert.rejects(tlsHandshake(GW_IP, ports.passthrough, { ca: pki.ca, servername: 'c.example.com' }), 'an SNI with no tls route');
  });
});
