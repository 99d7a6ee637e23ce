/**
 * istiod's :15012 carries ADS over TLS beside the CA, and authenticates its xDS clients (Istio's
 * XDS_AUTH): a client that verifies the control plane's certificate against the mesh root and
 * sends a workload token gets its config there; the same client without a token, a client
 * trusting another root, or one speaking plaintext, gets nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../src/controlplane/server.ts';
import { AdsClient } from '../../src/xds/client/index.ts';
import { TYPE } from '../../src/xds/types.ts';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { caStateDir } from '../helpers/processes.ts';
import { issueWorkloadToken } from '../../src/ca/token.ts';
import { until } from '../helpers/poll.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  ports: [{ name: http, port: 80 }]
`;

const node = { id: 'sidecar~127.0.0.9~client.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default' } };

/** Clusters a client gets over :15012 within a few seconds, or the error that stopped it. */
async function clustersOver(port: number, credentials: grpc.ChannelCredentials): Promise<string[] | string> {
  const client = new AdsClient({ address: `localhost:${port}`, node, mode: 'sotw', credentials, backoff: { initialMs: 200, maxMs: 500 } });
  let error = '';
  client.on('disconnected', (e) => (error = e?.message ?? 'closed'));
  client.watch(TYPE.CLUSTER, '*', { onUpdate: () => {} });
  client.start();
  try {
    return await until(() => (client.resources(TYPE.CLUSTER).size > 0 ? [...client.resources(TYPE.CLUSTER).keys()] : undefined), 'clusters over :15012', 4000, 50);
  } catch {
    return error || 'no response';
  } finally {
    client.close();
  }
}

test(':15012 serves ADS to clients that verify the control plane against the mesh root, and to no one else', { skip: !hasOpenssl() && 'openssl CLI not available', timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-secure-ads-'));
  writeFileSync(join(dir, 'web.yaml'), SERVICE);
  const stateDir = caStateDir(t);
  const cp = new ControlPlane({ configDir: dir, grpcPort: 0, httpPort: 0, secureGrpcPort: 0, stateDir, log: () => undefined });
  await cp.start();
  t.after(async () => {
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const root = readFileSync(join(stateDir, 'ca', 'root-cert.pem'));
  const token = await issueWorkloadToken(stateDir, { namespace: 'default', serviceAccount: 'client' });
  const bearer = grpc.credentials.createFromMetadataGenerator((_, cb) => {
    const md = new grpc.Metadata();
    md.add('authorization', `Bearer ${token}`);
    cb(null, md);
  });
  const got = await clustersOver(cp.secureGrpcPort, grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(root), bearer));
  assert.ok(Array.isArray(got) && got.includes('outbound|80||web.default.svc.cluster.local'), String(got));

  const anonymous = await clustersOver(cp.secureGrpcPort, grpc.credentials.createSsl(root));
  assert.match(String(anonymous), /UNAUTHENTICATED/, 'TLS without a certificate or token gets no config');

  const rogue = createPki('tsmesh-rogue-root-');
  t.after(() => rogue.dispose());
  const refused = await clustersOver(cp.secureGrpcPort, grpc.credentials.createSsl(Buffer.from(rogue.ca)));
  assert.equal(typeof refused, 'string', 'a client trusting another root gets no config');
  const plaintext = await clustersOver(cp.secureGrpcPort, grpc.credentials.createInsecure());
  assert.equal(typeof plaintext, 'string', 'plaintext gets no config on :15012');
});
