/**
 * SDS end to end, as Istio wires it: the agent's SDS server on a Unix socket, and a real
 * `tsmesh proxy` whose static listener's DownstreamTlsContext names `default` and `ROOTCA`
 * through the static `sds-grpc` cluster (pipe endpoint). A TLS client sees the certificate the
 * agent serves; after a rotation, new connections see the new one while an open connection keeps
 * working. Also: AdsClient speaks SDS (service: 'sds') to the same server, SotW and delta.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createPki, hasOpenssl } from '../helpers/certs.ts';
import { spawnTsmesh, freePort } from '../helpers/processes.ts';
import { until } from '../helpers/poll.ts';
import { askOn, startEcho } from '../proxy/helpers.ts';
import { SecretCache } from '../../src/agent/secret_cache.ts';
import { SdsServer } from '../../src/agent/sds_server.ts';
import { rootSecret, workloadSecret } from '../../src/agent/secrets.ts';
import { sdsGrpcCluster, sdsSecretConfig, SDS_CLUSTER } from '../../src/agent/bootstrap.ts';
import { AdsClient } from '../../src/xds/client/index.ts';
import { TYPE_URL_PREFIX, TRANSPORT_SOCKET } from '../../src/xds/type_urls.ts';
import { TYPE } from '../../src/xds/types.ts';

const skip = !hasOpenssl() && 'openssl CLI not available';

/** Connects over TLS, trusting `ca`; resolves with the serial the server presented and the socket. */
function connectTls(port: number, ca: string): Promise<{ serial: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'workload.test' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      resolve({ serial, socket });
    });
    socket.once('error', reject);
  });
}

test('a real tsmesh proxy serves the agent\'s certificate over sds-grpc and picks up a rotation for new connections only', { skip, timeout: 90_000 }, async () => {
  const pki = createPki();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-sds-'));
  const echo = await startEcho();
  const cache = new SecretCache();
  const sds = new SdsServer(cache);
  const socketPath = join(dir, 'socket');
  await sds.listen(socketPath);
  const first = pki.server('workload-1', ['workload.test']);
  cache.set(workloadSecret(first.cert, first.key));
  cache.set(rootSecret(pki.ca));
  let proxy: Awaited<ReturnType<typeof spawnTsmesh>> | undefined;
  try {
    const port = await freePort();
    const bootstrap = {
      node: { id: 'sidecar~127.0.0.1~sds-test.default~default.svc.cluster.local', cluster: 'sds-test.default' },
      static_resources: {
        clusters: [
          sdsGrpcCluster(socketPath),
          { name: 'echo', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'echo', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: echo.port } } } }] }] } },
        ],
        listeners: [
          {
            name: 'tls-in',
            address: { socket_address: { address: '127.0.0.1', port_value: port } },
            filter_chains: [
              {
                filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': `${TYPE_URL_PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: 'tls-in', cluster: 'echo' } }],
                transport_socket: {
                  name: 'envoy.transport_sockets.tls',
                  typed_config: {
                    '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
                    common_tls_context: { tls_certificate_sds_secret_configs: [sdsSecretConfig('default')], validation_context_sds_secret_config: sdsSecretConfig('ROOTCA') },
                  },
                },
              },
            ],
          },
        ],
      },
    };
    const file = join(dir, 'bootstrap.json');
    writeFileSync(file, JSON.stringify(bootstrap));
    proxy = await spawnTsmesh(['proxy', '-c', file, '--admin-port', '0', '--drain-time-s', '0'], /tsmesh proxy ready/, { timeoutMs: 20_000 });
    assert.equal(sds.stats.streams, 1, 'one SDS stream for the sds-grpc cluster');

    const a = await connectTls(port, pki.ca);
    assert.equal(a.serial, new X509Certificate(first.cert).serialNumber, 'the client sees the agent\'s certificate');
    assert.equal(await askOn(a.socket, 'before'), 'before');

    const second = pki.server('workload-2', ['workload.test']);
    cache.set(workloadSecret(second.cert, second.key));
    const wantSerial = new X509Certificate(second.cert).serialNumber;
    const b = await until(async () => {
      const c = await connectTls(port, pki.ca);
      if (c.serial === wantSerial) return c;
      c.socket.destroy();
      return undefined;
    }, 'a new connection presented the rotated certificate', 10_000, 50);
    assert.equal(await askOn(b.socket, 'new'), 'new');
    assert.equal(await askOn(a.socket, 'after'), 'after', 'the connection opened before the rotation keeps working');
    a.socket.destroy();
    b.socket.destroy();
  } finally {
    const code = proxy ? await proxy.stop() : null;
    await sds.close();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
    pki.dispose();
    if (proxy) assert.equal(code, 0, proxy.output());
  }
});

for (const mode of ['sotw', 'delta'] as const) {
  test(`AdsClient speaks SDS (${mode}): the named secrets, then a pushed new version, over a Unix socket`, { skip }, async () => {
    const pki = createPki();
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-sds-'));
    const cache = new SecretCache();
    const sds = new SdsServer(cache);
    const socketPath = join(dir, 'socket');
    await sds.listen(socketPath);
    const client = new AdsClient({ address: `unix:${socketPath}`, node: { id: 'n1', cluster: 'c' }, mode, service: 'sds', backoff: { initialMs: 50, maxMs: 200 } });
    try {
      const updates: string[][] = [];
      client.watch(TYPE.SECRET, ['default', 'ROOTCA'], { onUpdate: (u) => updates.push([...u.added.keys(), ...u.changed.keys()].sort()) });
      client.start();
      cache.set(rootSecret(pki.ca)); // only ROOTCA exists yet: sent alone
      await until(() => updates.some((u) => u.includes('ROOTCA')), 'ROOTCA delivered');
      const c1 = pki.server('w1', ['w']);
      cache.set(workloadSecret(c1.cert, c1.key));
      await until(() => updates.some((u) => u.includes('default')), 'default delivered once it exists');
      const c2 = pki.server('w2', ['w']);
      const before = client.resources(TYPE.SECRET).get('default')!.version;
      cache.set(workloadSecret(c2.cert, c2.key));
      await until(() => client.resources(TYPE.SECRET).get('default')!.version !== before, 'the rotation pushed');
      const got = client.resources(TYPE.SECRET).get('default')!.resource;
      assert.equal(Buffer.from(got.tls_certificate.certificate_chain.inline_bytes, 'base64').toString(), c2.cert);
      assert.equal(sds.stats.nacks, 0);
    } finally {
      client.close();
      await sds.close();
      rmSync(dir, { recursive: true, force: true });
      pki.dispose();
    }
  });
}

test('sds-grpc names the agent socket as Istio\'s bootstrap does', () => {
  const c = sdsGrpcCluster('/x/socket');
  assert.equal(c.name, SDS_CLUSTER);
  assert.deepEqual(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { pipe: { path: '/x/socket' } });
  assert.deepEqual(sdsSecretConfig('default').sds_config.api_config_source.grpc_services, [{ envoy_grpc: { cluster_name: 'sds-grpc' } }]);
});
