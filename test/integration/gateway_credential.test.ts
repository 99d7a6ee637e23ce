/**
 * Gateway `credentialName` (Istio's secure-gateways task): the certificate comes from a Kubernetes
 * Secret in the config directory, served to the gateway over SDS by the control plane. A
 * kubernetes.io/tls Secret for SIMPLE; a generic Secret with ca.crt for MUTUAL; replacing the
 * Secret's file rotates the certificate without restarting anything or dropping open connections;
 * a Secret in another namespace is not handed to the gateway. Everything on 127.0.21.3x.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { start as startEcho } from '../../samples/echo/main.ts';
import { createPki, hasOpenssl, type IssuedCert } from '../helpers/certs.ts';
import { freePort, httpsGet, READY_MS, startGatewayMesh, tlsHandshake, until, waitListening } from '../helpers/gateway.ts';
import { serviceWithWorkloads } from '../helpers/yaml.ts';
import type { ControlPlaneProc } from '../helpers/processes.ts';

const GW_IP = '127.0.21.30';
const ECHO_IP = '127.0.21.31';

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

function tlsSecret(name: string, namespace: string, cert: IssuedCert, ca?: string): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${namespace} }
type: ${ca ? 'Opaque' : 'kubernetes.io/tls'}
data:
  tls.crt: ${b64(cert.cert)}
  tls.key: ${b64(cert.key)}
${ca ? `  ca.crt: ${b64(ca)}\n` : ''}`;
}

function config(simple: number, mutual: number, other: number, echoPort: number): string {
  return `
${serviceWithWorkloads({ name: 'echo', servicePort: 8000, workloads: [{ name: 'echo-1', address: ECHO_IP, port: echoPort }] })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: secure, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${simple}, name: https-simple, protocol: HTTPS }
    hosts: [simple.example.com]
    tls: { mode: SIMPLE, credentialName: simple-credential }
  - port: { number: ${mutual}, name: https-mutual, protocol: HTTPS }
    hosts: [mutual.example.com]
    tls: { mode: MUTUAL, credentialName: mutual-credential }
  - port: { number: ${other}, name: https-other, protocol: HTTPS }
    hosts: [other.example.com]
    tls: { mode: SIMPLE, credentialName: elsewhere-credential }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [simple.example.com, mutual.example.com, other.example.com]
  gateways: [istio-system/secure]
  http:
  - route: [{ destination: { host: echo, port: { number: 8000 } } }]
`;
}

test('gateway credentialName: certificates from Secrets, MUTUAL with ca.crt, rotation without restart, namespace isolation', { timeout: 240_000, skip: hasOpenssl() ? false : 'openssl CLI not available' }, async (t) => {
  const pki = createPki();
  t.after(() => pki.dispose());
  const first = pki.server('simple-1', ['simple.example.com']);
  const second = pki.server('simple-2', ['simple.example.com']);
  const mutualCert = pki.server('mutual', ['mutual.example.com']);
  const otherCert = pki.server('other', ['other.example.com']);
  const client = pki.client('client', 'curl-client');

  const echo = await startEcho({ port: 0, host: ECHO_IP, serviceName: 'echo', podName: 'echo-1', log: () => undefined, env: {} });
  t.after(() => echo.close());
  const ports = { simple: await freePort(), mutual: await freePort(), other: await freePort() };
  const mesh = await startGatewayMesh(t, {
    ip: GW_IP,
    files: {
      'mesh.yaml': config(ports.simple, ports.mutual, ports.other, echo.port),
      'simple-credential.yaml': tlsSecret('simple-credential', 'istio-system', first),
      'mutual-credential.yaml': tlsSecret('mutual-credential', 'istio-system', mutualCert, pki.ca),
      // Same name as the gateway's reference, wrong namespace: Istio's gateway cannot read it.
      'elsewhere-credential.yaml': tlsSecret('elsewhere-credential', 'default', otherCert),
    },
  });
  await waitListening(GW_IP, ports.simple).catch((e) => {
    throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
  });
  const fingerprint = async (servername: string, port: number) => {
    const h = await tlsHandshake(GW_IP, port, { ca: pki.ca, servername });
    const fp = h.socket.getPeerCertificate().fingerprint256;
    h.socket.destroy();
    return fp;
  };
  const fpOf = (c: IssuedCert) => new X509Certificate(c.cert).fingerprint256;

  await t.test('SIMPLE: the kubernetes.io/tls Secret is the certificate the gateway presents', async () => {
    const r = await until(async () => {
      const x = await httpsGet(GW_IP, ports.simple, { ca: pki.ca, servername: 'simple.example.com' }, '/a');
      return x.status === 200 ? x : undefined;
    }, 'the credentialName server to answer', READY_MS, 200);
    assert.equal(JSON.parse(r.body).service, 'echo');
    assert.equal(await fingerprint('simple.example.com', ports.simple), fpOf(first));
  });

  await t.test('MUTUAL: the client CA comes from the same Secret (ca.crt)', async () => {
    await waitListening(GW_IP, ports.mutual);
    const opts = { ca: pki.ca, servername: 'mutual.example.com' };
    const good = await until(async () => {
      const x = await httpsGet(GW_IP, ports.mutual, { ...opts, cert: client.cert, key: client.key });
      return x.status === 200 ? x : undefined;
    }, 'the mutual server to answer', READY_MS, 200);
    assert.equal(JSON.parse(good.body).service, 'echo');
    await assert.rejects(httpsGet(GW_IP, ports.mutual, opts), 'no client certificate');
  });

  await t.test('rotation: replacing the Secret changes the certificate for new connections; an open one keeps working', async () => {
    const open = await tlsHandshake(GW_IP, ports.simple, { ca: pki.ca, servername: 'simple.example.com', ALPNProtocols: ['http/1.1'] });
    const pid = mesh.gw.child.pid;
    mesh.write('simple-credential.yaml', tlsSecret('simple-credential', 'istio-system', second));
    await until(async () => ((await fingerprint('simple.example.com', ports.simple)) === fpOf(second) ? true : undefined), 'the rotated certificate', READY_MS, 200);
    const reply = await new Promise<string>((resolve, reject) => {
      let data = '';
      open.socket.on('data', (d) => {
        data += d;
        if (data.includes('\r\n\r\n') && data.includes('"service"')) resolve(data);
      });
      open.socket.once('error', reject);
      open.socket.write('GET /still-open HTTP/1.1\r\nhost: simple.example.com\r\n\r\n');
    });
    open.socket.destroy();
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.equal(mesh.gw.child.pid, pid, 'same gateway process');
  });

  await t.test('a Secret in another namespace is not served to the gateway: that server never completes a handshake', async () => {
    await assert.rejects(tlsHandshake(GW_IP, ports.other, { ca: pki.ca, servername: 'other.example.com' }));
    const configz = await (await fetch(`http://127.0.0.1:${(mesh.cp as ControlPlaneProc).httpPort}/debug/configz`)).text();
    assert.ok(!configz.includes(b64(otherCert.key)) && configz.includes('<redacted>'), 'debug output never shows key material');
  });
});
