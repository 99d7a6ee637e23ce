/**
 * xDS over TLS on the control plane's secure port (istiod's :15012), as a VM sidecar takes it:
 * `tsmesh proxy --discovery-address <cp>:<secure port> --control-plane-auth-policy MUTUAL_TLS`
 * with a workload token gets its certificate from the CA, then its config over TLS presenting
 * that certificate; the control plane records the SPIFFE ID on the connection (syncz), and a
 * listener from the pushed config serves. A client whose certificate another CA signed is refused.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { createWorkloadCsr } from '../../src/agent/csr.ts';
import { AdsClient } from '../../src/xds/client/index.ts';
import { TYPE } from '../../src/xds/types.ts';
import { spawnTsmesh, startControlPlane } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: vm-app, namespace: vms }
spec:
  selector: { app: vm-app }
  ports: [{ name: tcp, port: 7070, targetPort: 7070 }]
`;

test('a sidecar takes xDS over TLS on the secure port with its workload identity; another CA is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-xdstls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config');
  mkdirSync(config);
  writeFileSync(join(config, 'svc.yaml'), SERVICE);
  const cp = await startControlPlane(config);
  t.after(() => cp.stop());
  const token = join(dir, 'token');
  writeFileSync(token, await issueWorkloadToken(cp.stateDir, { namespace: 'vms', serviceAccount: 'vm-sa', podName: 'vm-1' }), { mode: 0o600 });
  const root = join(cp.stateDir, 'ca', 'root-cert.pem');
  const ip = '127.31.0.1';
  const proxy = await spawnTsmesh(
    ['proxy', '--discovery-address', `127.0.0.1:${cp.secureGrpcPort}`, '--control-plane-auth-policy', 'MUTUAL_TLS', '--ip', ip, '--namespace', 'vms', '--service-account', 'vm-sa',
      '--labels', 'app=vm-app', '--workload-name', 'vm-1', '--admin-port', '0', '--concurrency', '1', '--drain-time-s', '0',
      '--token-file', token, '--ca-root-cert', root, '--ca-address', `127.0.0.1:${cp.secureGrpcPort}`],
    /tsmesh proxy ready/,
  );
  t.after(() => proxy.stop());

  // The control plane's record of the stream carries the identity the TLS handshake verified.
  const rows = await until(async () => {
    const r = (await (await fetch(`http://127.0.0.1:${cp.httpPort}/debug/syncz`)).json()) as { id: string; proxyId: string; types: Record<string, { synced: boolean }> }[];
    const mine = r.filter((x) => x.proxyId.includes(`~${ip}~`));
    return mine.length > 0 && Object.values(mine[0]!.types).some((w) => w.synced) ? mine : undefined;
  }, 'the sidecar synced over TLS', 30_000, 100);
  const conns = (await (await fetch(`http://127.0.0.1:${cp.httpPort}/debug/connections`)).json()) as { id: string; verifiedIdentity?: string }[];
  assert.equal(conns.find((c) => c.id === rows[0]!.id)?.verifiedIdentity, 'spiffe://cluster.local/ns/vms/sa/vm-sa');

  // A listener from the pushed config serves: the flags' sidecar is captured (REDIRECT), so
  // pilot's virtualInbound listener binds 0.0.0.0:15006.
  await until(
    () => new Promise<boolean | undefined>((res) => {
      const s = connect({ host: ip, port: 15006 }, () => { s.destroy(); res(true); });
      s.on('error', () => res(undefined));
    }),
    'virtualInbound (15006) accepts',
    20_000,
    100,
  );

  // A client with a certificate from another CA: the handshake completes (no certificate is
  // required: CSR clients have none) but the xDS stream is refused, and nothing is recorded.
  const otherDir = mkdtempSync(join(tmpdir(), 'tsmesh-otherca-'));
  t.after(() => rmSync(otherDir, { recursive: true, force: true }));
  const other = await CertificateAuthority.load({ stateDir: otherDir });
  const { csrPem, keyPem } = await createWorkloadCsr('spiffe://cluster.local/ns/vms/sa/intruder', 'ECDSA');
  const chain = await other.sign(csrPem, { namespace: 'vms', serviceAccount: 'intruder' } as never);
  const rootPem = readFileSync(root, 'utf8');
  const ads = new AdsClient({
    address: `127.0.0.1:${cp.secureGrpcPort}`,
    node: { id: 'sidecar~127.31.0.9~intruder.vms~vms.svc.cluster.local', metadata: { NAMESPACE: 'vms', LABELS: { app: 'vm-app' } } } as never,
    mode: 'sotw',
    tls: { rootCertPem: () => rootPem, identity: () => ({ certChainPem: chain.join(''), privateKeyPem: keyPem }) },
  });
  t.after(() => ads.close());
  const refused = new Promise<Error | undefined>((res) => ads.once('disconnected', (e) => res(e)));
  ads.watch(TYPE.CLUSTER, '*', { onUpdate: () => assert.fail('config reached a client of another CA') });
  ads.start();
  const err = await Promise.race([refused, new Promise<undefined>((r) => setTimeout(r, 10_000))]);
  ads.close();
  assert.match(String((err as grpc.ServiceError | undefined)?.message), /UNAUTHENTICATED|authentication failure/);
  const all = (await (await fetch(`http://127.0.0.1:${cp.httpPort}/debug/syncz`)).json()) as { proxyId: string }[];
  assert.ok(!all.some((r) => r.proxyId.includes('127.31.0.9')), 'the refused client has no connection');
});
