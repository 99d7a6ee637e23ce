/**
 * Peer identity and per-endpoint TLS, with real certificates (openssl, test/helpers/certs.ts):
 * - CertificateValidationContext.match_typed_subject_alt_names upstream: a server whose SPIFFE
 *   URI SAN matches is reached; one whose SAN does not match fails the handshake (503), though
 *   its chain is trusted (before, any certificate from trusted_ca was accepted);
 * - the same downstream (Istio's inbound listener requires a spiffe:// URI): a client
 *   certificate without one is refused, one with it is served;
 * - Cluster.transport_socket_matches (Istio's auto mTLS): in one cluster, the endpoint labelled
 *   tlsMode istio is reached over TLS and the other in plaintext (before, the cluster's
 *   transport_socket applied to both).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { createPki, hasOpenssl, type Pki } from '../helpers/certs.ts';
import { TRANSPORT_SOCKET } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { compileSanMatchers } from '../../src/proxy/tls/san_matcher.ts';
import { listen, closeServer, startProxy, startTag, staticCluster, tcpListener, httpListener } from './helpers.ts';

const GOOD = 'spiffe://cluster.local/ns/default/sa/reviews';
const OTHER = 'spiffe://cluster.local/ns/default/sa/ratings';

/** A leaf certificate from the test CA with the given subjectAltName line (e.g. "URI:spiffe://..."). */
function leaf(pki: Pki, name: string, san: string, eku: 'serverAuth' | 'clientAuth'): { cert: string; key: string } {
  const dir = pki.dir;
  writeFileSync(join(dir, `${name}.ext`), `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = ${eku}\nsubjectAltName = ${san}\n`);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

function upstreamTls(ca: string, sans?: EnvoyJson[]): EnvoyJson {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': TRANSPORT_SOCKET.UPSTREAM_TLS, common_tls_context: { validation_context: { trusted_ca: { inline_string: ca }, ...(sans ? { match_typed_subject_alt_names: sans } : {}) } } },
  };
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

async function httpsServer(c: { cert: string; key: string }, body: string): Promise<{ port: number; close: () => Promise<void> }> {
  const s = https.createServer({ cert: c.cert, key: c.key }, (_req, res) => res.end(body));
  s.on('tlsClientError', () => {});
  const port = await listen(s);
  return { port, close: () => closeServer(s) };
}

async function httpServer(body: string): Promise<{ port: number; close: () => Promise<void> }> {
  const s = http.createServer((_req, res) => res.end(body));
  const port = await listen(s);
  return { port, close: () => closeServer(s) };
}

test('SAN matchers: each type and each string matcher, against node\'s subjectaltname', () => {
  const sans = `DNS:reviews.default.svc, URI:${GOOD}, IP Address:10.0.0.7, email:ops@example.com`;
  const ok = (type: string, matcher: EnvoyJson) => compileSanMatchers({ match_typed_subject_alt_names: [{ san_type: type, matcher }] }, 'vc')!(sans) === undefined;
  assert.ok(ok('URI', { exact: GOOD }));
  assert.ok(ok('URI', { prefix: 'spiffe://' }));
  assert.ok(ok('DNS', { suffix: '.svc' }));
  assert.ok(ok('IP_ADDRESS', { exact: '10.0.0.7' }));
  assert.ok(ok('EMAIL', { contains: '@example' }));
  assert.ok(ok('URI', { safe_regex: { regex: 'spiffe://cluster\\.local/ns/default/sa/[a-z]+' } }));
  assert.ok(!ok('DNS', { exact: GOOD }), 'a URI value does not satisfy a DNS matcher');
  assert.ok(!ok('URI', { exact: OTHER }));
  assert.ok(!ok('IP_ADDRESS', { prefix: '192.' }));
  assert.throws(() => compileSanMatchers({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { safe_regex: { regex: '(a)\\1' } } }] }, 'vc'), /safe_regex/);
});

test('upstream TLS checks the server certificate\'s SANs: a match is served, a mismatch fails the handshake (503)', { skip: !hasOpenssl() && 'openssl CLI not available' }, async () => {
  const pki = createPki();
  const server = await httpsServer(leaf(pki, 'reviews', `URI:${GOOD}`, 'serverAuth'), 'reviews over mTLS');
  const proxy = await startProxy({
    clusters: [
      staticCluster('match', [server.port], { transport_socket: upstreamTls(pki.ca, [{ san_type: 'URI', matcher: { exact: GOOD } }]) }),
      staticCluster('prefix', [server.port], { transport_socket: upstreamTls(pki.ca, [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }]) }),
      staticCluster('mismatch', [server.port], { transport_socket: upstreamTls(pki.ca, [{ san_type: 'URI', matcher: { exact: OTHER } }, { san_type: 'DNS', matcher: { exact: 'reviews' } }]) }),
      staticCluster('chain-only', [server.port], { transport_socket: upstreamTls(pki.ca) }),
    ],
    listeners: [
      httpListener('http', ['match', 'prefix', 'mismatch', 'chain-only'].map((c) => ({ match: { prefix: `/${c}` }, route: { cluster: c } }))),
    ],
  });
  try {
    const port = proxy.port('http');
    assert.deepEqual(await get(port, '/match'), { status: 200, body: 'reviews over mTLS' });
    assert.deepEqual(await get(port, '/prefix'), { status: 200, body: 'reviews over mTLS' });
    assert.deepEqual(await get(port, '/chain-only'), { status: 200, body: 'reviews over mTLS' }, 'without SAN matchers only the chain is checked, as Envoy');
    const bad = await get(port, '/mismatch');
    assert.equal(bad.status, 503);
    assert.ok(proxy.server.store.counter('cluster.mismatch.upstream_cx_connect_fail').value() >= 1);
  } finally {
    await proxy.close();
    await server.close();
    pki.dispose();
  }
});

test('a downstream TLS listener requiring a spiffe:// URI SAN serves a client whose certificate has one and refuses one without', { skip: !hasOpenssl() && 'openssl CLI not available' }, async () => {
  const pki = createPki();
  const serverCert = leaf(pki, 'inbound', 'DNS:inbound.local', 'serverAuth');
  const good = leaf(pki, 'client-spiffe', `URI:${GOOD}`, 'clientAuth');
  const dnsOnly = leaf(pki, 'client-dns', 'DNS:client.example.com', 'clientAuth');
  const tag = await startTag('inbound app');
  const listener = tcpListener('inbound', 'app');
  listener.filter_chains[0].transport_socket = {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { inline_string: serverCert.cert }, private_key: { inline_string: serverCert.key } }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://' } }] },
          validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: { ads: {}, resource_api_version: 'V3' } },
        },
      },
    },
  };
  const proxy = await startProxy({
    clusters: [staticCluster('app', [tag.port])],
    listeners: [listener],
    secrets: [{ name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: pki.ca } } }],
  });
  const talk = (c: { cert: string; key: string }) =>
    new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: proxy.port('inbound'), ca: pki.ca, cert: c.cert, key: c.key, servername: 'inbound.local' });
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('error', () => {});
      s.on('close', () => resolve(got));
    });
  try {
    assert.equal(await talk(good), 'inbound app');
    assert.equal(await talk(dnsOnly), '', 'no spiffe:// URI SAN: the connection is closed');
    assert.equal(proxy.server.listeners.active.get('inbound')!.stats.counter('ssl.fail_verify_san').value(), 1);
  } finally {
    await proxy.close();
    await tag.close();
    pki.dispose();
  }
});

test('transport_socket_matches: the endpoint labelled tlsMode istio is reached over TLS, the other in plaintext, in one cluster', { skip: !hasOpenssl() && 'openssl CLI not available' }, async () => {
  const pki = createPki();
  const secure = await httpsServer(leaf(pki, 'meshed', `URI:${GOOD}`, 'serverAuth'), 'tls endpoint');
  const plain = await httpServer('plaintext endpoint');
  const endpoint = (port: number, md?: EnvoyJson) => ({
    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
    ...(md ? { metadata: { filter_metadata: { 'envoy.transport_socket_match': md } } } : {}),
  });
  const cluster: EnvoyJson = {
    name: 'auto-mtls',
    type: 'STATIC',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: 'auto-mtls', endpoints: [{ lb_endpoints: [endpoint(secure.port, { tlsMode: 'istio' }), endpoint(plain.port)] }] },
    transport_socket_matches: [
      { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: upstreamTls(pki.ca, [{ san_type: 'URI', matcher: { exact: GOOD } }]) },
      { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': TRANSPORT_SOCKET.RAW_BUFFER } } },
    ],
  };
  const proxy = await startProxy({ clusters: [cluster], listeners: [httpListener('http', [{ match: { prefix: '/' }, route: { cluster: 'auto-mtls' } }])] });
  try {
    const port = proxy.port('http');
    const seen = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const r = await get(port, '/');
      const k = `${r.status} ${r.body}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['200 plaintext endpoint', '200 tls endpoint']);
  } finally {
    await proxy.close();
    await Promise.all([secure.close(), plain.close()]);
    pki.dispose();
  }
});
