/**
 * x-forwarded-client-cert on the wire. Over plaintext a client's XFCC is removed by every mode
 * but ALWAYS_FORWARD_ONLY (there is no client certificate to vouch for it). Over real mutual TLS
 * (a proxy listener with a DownstreamTlsContext, certificates from openssl) FORWARD_ONLY keeps it,
 * APPEND_FORWARD appends this hop's element, SANITIZE_SET replaces it, SANITIZE (the default)
 * removes it; the element is By=<the proxy's URI SAN>;Hash=<sha256 of the client certificate>
 * then the set_current_client_cert_details fields, as Envoy writes them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { createPki, hasOpenssl, type Pki } from '../../helpers/certs.ts';
import { HTTP_FILTER, NETWORK_FILTER, TRANSPORT_SOCKET } from '../../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../../src/xds/types.ts';
import { startProxy, staticCluster, type Proxy } from '../helpers.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

const XFCC = 'x-forwarded-client-cert';
const CLIENT_XFCC = 'By=spiffe://evil/sa/x;Hash=00';
const MODES = ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'];
const routes = { name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] };

describe('XFCC over plaintext', () => {
  let up: Upstream;
  const proxies: TestProxy[] = [];
  before(async () => {
    up = await startUpstream('up');
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await up.close();
  });

  test('only ALWAYS_FORWARD_ONLY passes a client XFCC without mTLS; the default removes it', async () => {
    const got: Record<string, unknown> = {};
    for (const mode of [undefined, ...MODES]) {
      const p = await startHcm(hcmConfig(routes, mode ? { forward_client_cert_details: mode, set_current_client_cert_details: { uri: true } } : {}), [{ name: 'up', ports: [up.port] }]);
      proxies.push(p);
      const r = await request(p.port, { path: `/${mode}`, headers: { [XFCC]: CLIENT_XFCC } });
      got[mode ?? 'default'] = JSON.parse(r.body).headers[XFCC];
    }
    assert.deepEqual(got, { default: undefined, SANITIZE: undefined, FORWARD_ONLY: undefined, APPEND_FORWARD: undefined, SANITIZE_SET: undefined, ALWAYS_FORWARD_ONLY: CLIENT_XFCC });
  });
});

const PROXY_ID = 'spiffe://cluster.local/ns/default/sa/proxy';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';

/** A leaf certificate from the test CA with the given subjectAltName line. */
function leaf(pki: Pki, name: string, san: string, eku: 'serverAuth' | 'clientAuth'): { cert: string; key: string } {
  const dir = pki.dir;
  writeFileSync(join(dir, `${name}.ext`), `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = ${eku}\nsubjectAltName = ${san}\n`);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=tsmesh/CN=${name}`]);
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

describe('XFCC over mutual TLS', { skip: !hasOpenssl() && 'openssl CLI not available' }, () => {
  let pki: Pki;
  let up: Upstream;
  let proxy: Proxy;
  let client: { cert: string; key: string };

  const mtlsListener = (name: string, hcm: EnvoyJson, server: { cert: string; key: string }): EnvoyJson => ({
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
            require_client_certificate: true,
            common_tls_context: {
              tls_certificates: [{ certificate_chain: { inline_string: server.cert }, private_key: { inline_string: server.key } }],
              validation_context: { trusted_ca: { inline_string: pki.ca } },
            },
          },
        },
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
              stat_prefix: name,
              route_config: routes,
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
              ...hcm,
            },
          },
        ],
      },
    ],
  });

  before(async () => {
    pki = createPki();
    const server = leaf(pki, 'proxy', `URI:${PROXY_ID}, DNS:proxy.local`, 'serverAuth');
    client = leaf(pki, 'client', `URI:${CLIENT_ID}, DNS:client.local`, 'clientAuth');
    up = await startUpstream('up');
    proxy = await startProxy({
      clusters: [staticCluster('up', [up.port])],
      listeners: [
        mtlsListener('append', { forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { subject: true, dns: true, uri: true } }, server),
        mtlsListener('set', { forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { cert: true, uri: true } }, server),
        mtlsListener('forward', { forward_client_cert_details: 'FORWARD_ONLY' }, server),
        mtlsListener('sanitize', {}, server),
      ],
    });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
    pki?.dispose();
  });

  /** One request over mTLS with a client XFCC; returns the XFCC the upstream received. */
  const xfccSeen = (listener: string): Promise<string | undefined> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: proxy.port(listener), path: `/${listener}`, ca: pki.ca, cert: client.cert, key: client.key, servername: 'proxy.local', agent: false, headers: { [XFCC]: CLIENT_XFCC } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(JSON.parse(body).headers[XFCC]));
        },
      );
      req.on('error', reject);
      req.end();
    });

  const hash = () => createHash('sha256').update(new X509Certificate(client.cert).raw).digest('hex');

  test("APPEND_FORWARD with the pilot's Subject, DNS and URI appends this hop's element", async () => {
    assert.equal(await xfccSeen('append'), `${CLIENT_XFCC},By=${PROXY_ID};Hash=${hash()};Subject="CN=client,O=tsmesh";URI=${CLIENT_ID};DNS=client.local`);
  });

  test('SANITIZE_SET replaces the header; Cert is the URL-encoded PEM', async () => {
    assert.equal(await xfccSeen('set'), `By=${PROXY_ID};Hash=${hash()};URI=${CLIENT_ID};Cert="${encodeURIComponent(new X509Certificate(client.cert).toString())}"`);
  });

  test('FORWARD_ONLY keeps it as the client sent it; SANITIZE removes it', async () => {
    assert.equal(await xfccSeen('forward'), CLIENT_XFCC);
    assert.equal(await xfccSeen('sanitize'), undefined);
  });
});
