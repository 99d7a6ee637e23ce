/**
 * CaServer over real gRPC and real TLS on loopback: the CSR service Istio's agents call, with
 * every kind of abuse the issue names refused, counted, and followed by a good CSR that succeeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { CaServer, type ExtraService } from '../../src/ca/server.ts';
import { createCertificate, newCertificateClient, type CertificateServiceClient } from '../../src/ca/csr_service.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { makeCsr, tamperCsr } from './helpers.ts';

const FOO = { namespace: 'foo', serviceAccount: 'httpbin' };
const FOO_ID = 'spiffe://cluster.local/ns/foo/sa/httpbin';

async function startCa(t: { after(fn: () => Promise<void> | void): void }, extra?: ExtraService[]) {
  const stateDir = mkdtempSync(join(tmpdir(), 'tsmesh-caserver-'));
  const ca = await CertificateAuthority.load({ stateDir });
  const server = new CaServer({ ca, stateDir, extraServices: extra });
  const port = await server.listen('127.0.0.1:0');
  const client = newCertificateClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.rootsPem())));
  t.after(async () => {
    client.close();
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return { stateDir, ca, server, port, client };
}

/** A raw call, so tests can send no token or a malformed authorization header. */
function call(client: CertificateServiceClient, csr: string, authorization?: string): Promise<string[]> {
  const md = new grpc.Metadata();
  if (authorization !== undefined) md.set('authorization', authorization);
  return new Promise((resolve, reject) =>
    client.CreateCertificate({ csr, validity_duration: 0 }, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!.cert_chain))),
  );
}

async function refusedWith(p: Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `${grpc.status[e.code]}: ${e.details}`);
    assert.match(e.details, message);
    return true;
  });
}

test('a good CSR over TLS returns leaf and root; the chain verifies to the root the client trusts', async (t) => {
  const { stateDir, ca, client, server } = await startCa(t);
  const token = await issueWorkloadToken(stateDir, FOO);
  const { csrPem } = await makeCsr([FOO_ID]);
  const chain = await createCertificate(client, { csr: csrPem, validitySeconds: 3600, token });
  assert.equal(chain.length, 2);
  const leaf = new X509Certificate(chain[0]!);
  const root = new X509Certificate(chain[1]!);
  assert.equal(chain[1], ca.rootPem());
  assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
  assert.equal(leaf.subjectAltName, `URI:${FOO_ID}`);
  const lifetime = (Date.parse(leaf.validTo) - Date.now()) / 1000;
  assert.ok(Math.abs(lifetime - 3600) < 60, `validity_duration honoured, got ${lifetime}`);
  const s = server.stats();
  assert.equal(s.citadel_server_csr_count, 1);
  assert.equal(s.citadel_server_success_cert_issuance_count, 1);
  assert.ok(s.citadel_server_root_cert_expiry_timestamp! > Date.now() / 1000 + 9 * 365 * 86400);
});

test('CSR abuse: each refused with its code and a message naming the problem, counted; a good CSR right after succeeds', async (t) => {
  const { stateDir, client, server } = await startCa(t);
  const token = await issueWorkloadToken(stateDir, FOO);
  const good = await makeCsr([FOO_ID]);
  const bearer = `Bearer ${token}`;

  // Another identity in the CSR, with a valid token for foo/httpbin.
  const admin = await makeCsr(['spiffe://cluster.local/ns/istio-system/sa/istiod']);
  await refusedWith(call(client, admin.csrPem, bearer), grpc.status.PERMISSION_DENIED, /spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod.*only get a certificate for spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/);
  // A token for another workload presenting foo/httpbin's CSR.
  const otherToken = await issueWorkloadToken(stateDir, { namespace: 'bar', serviceAccount: 'curl' });
  await refusedWith(call(client, good.csrPem, `Bearer ${otherToken}`), grpc.status.PERMISSION_DENIED, /only get a certificate for spiffe:\/\/cluster\.local\/ns\/bar\/sa\/curl/);
  // Malformed CSRs.
  await refusedWith(call(client, 'not a csr', bearer), grpc.status.INVALID_ARGUMENT, /malformed CSR: not a PEM certificate request/);
  await refusedWith(call(client, tamperCsr(good.csrPem), bearer), grpc.status.INVALID_ARGUMENT, /malformed CSR: .*signature/);
  // No token, a header that is not a bearer token.
  await refusedWith(call(client, good.csrPem), grpc.status.UNAUTHENTICATED, /no workload token/);
  await refusedWith(call(client, good.csrPem, 'Basic dXNlcjpwYXNz'), grpc.status.UNAUTHENTICATED, /Bearer <token>/);
  // Expired and forged tokens.
  const expired = await issueWorkloadToken(stateDir, { ...FOO, nowSeconds: Math.floor(Date.now() / 1000) - 7200 });
  await refusedWith(call(client, good.csrPem, `Bearer ${expired}`), grpc.status.UNAUTHENTICATED, /\(expired\)/);
  const elsewhere = mkdtempSync(join(tmpdir(), 'tsmesh-forger-'));
  t.after(() => rmSync(elsewhere, { recursive: true, force: true }));
  const forged = await issueWorkloadToken(elsewhere, FOO);
  await refusedWith(call(client, good.csrPem, `Bearer ${forged}`), grpc.status.UNAUTHENTICATED, /\(bad-signature\)/);

  assert.deepEqual(server.stats(), {
    ...server.stats(),
    citadel_server_csr_count: 8,
    citadel_server_authentication_failure_count: 4,
    citadel_server_csr_parsing_err_count: 2,
    citadel_server_id_extraction_err_count: 2,
    citadel_server_success_cert_issuance_count: 0,
  });

  const chain = await createCertificate(client, { csr: good.csrPem, token });
  assert.equal(new X509Certificate(chain[0]!).subjectAltName, `URI:${FOO_ID}`);
  assert.equal(server.stats().citadel_server_success_cert_issuance_count, 1);
});

test('concurrent good and bad requests: each gets its own answer', async (t) => {
  const { stateDir, client } = await startCa(t);
  const token = await issueWorkloadToken(stateDir, FOO);
  const good = await makeCsr([FOO_ID]);
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => (i % 2 ? call(client, 'garbage', `Bearer ${token}`) : createCertificate(client, { csr: good.csrPem, token }))),
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected'],
  );
});

test('the port serves extra services (ADS beside the CA, as istiod’s :15012), and clients must trust the root', async (t) => {
  const echo: grpc.ServiceDefinition = {
    Echo: {
      path: '/test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  };
  const { port, ca } = await startCa(t, [{ definition: echo, handlers: { Echo: (c: any, cb: any) => cb(null, Buffer.concat([Buffer.from('echo:'), c.request])) } }]);
  const Client = grpc.makeGenericClientConstructor(echo, 'Echo');
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.rootPem()))) as any;
  const reply: Buffer = await new Promise((res, rej) => c.Echo(Buffer.from('hi'), (e: Error | null, r: Buffer) => (e ? rej(e) : res(r))));
  assert.equal(reply.toString(), 'echo:hi');
  c.close();

  // A client that trusts another root cannot complete the handshake.
  const otherDir = mkdtempSync(join(tmpdir(), 'tsmesh-otherca-'));
  t.after(() => rmSync(otherDir, { recursive: true, force: true }));
  const other = await CertificateAuthority.load({ stateDir: otherDir });
  const stranger = newCertificateClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(other.rootPem())));
  await refusedWith(createCertificate(stranger, { csr: 'x', token: 'y', timeoutMs: 3000 }), grpc.status.UNAVAILABLE, /./);
  stranger.close();
});
