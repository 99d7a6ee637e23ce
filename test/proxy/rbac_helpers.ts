/**
 * Shared by the rbac_* tests: RBAC filter configs in Envoy's JSON shape, mTLS material (leaf
 * certificates with chosen SANs from the test CA) and clients that speak through a TLS listener
 * (they trust the test CA and ask for any SNI: the name checks under test are the proxy's).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { join } from 'node:path';
import type { Pki } from '../helpers/certs.ts';
import { HTTP_FILTER, LISTENER_FILTER, TRANSPORT_SOCKET } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import type { Proxy } from './helpers.ts';

export const RBAC_NAME = 'envoy.filters.http.rbac';

export function rbacHttpFilter(config: EnvoyJson): EnvoyJson {
  return { name: RBAC_NAME, typed_config: { '@type': HTTP_FILTER.RBAC, ...config } };
}

/** A typed_per_filter_config map giving a route its own RBACPerRoute (`rbac` undefined disables). */
export function perRoute(rbac: EnvoyJson | undefined): EnvoyJson {
  return { [RBAC_NAME]: { '@type': HTTP_FILTER.RBAC_PER_ROUTE, ...(rbac ? { rbac } : {}) } };
}

/** An ALLOW policy named `name` whose permissions and principals are given (default: any). */
export function allow(name: string, p: { permissions?: EnvoyJson[]; principals?: EnvoyJson[] }): EnvoyJson {
  return { action: 'ALLOW', policies: { [name]: { permissions: p.permissions ?? [{ any: true }], principals: p.principals ?? [{ any: true }] } } };
}

export function counter(proxy: Proxy, name: string): number {
  return proxy.server.store.counter(name).value();
}

export const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': LISTENER_FILTER.TLS_INSPECTOR } };

/** A DownstreamTlsContext transport socket that asks for (and verifies) a client certificate. */
export function downstreamTls(pki: Pki, server: { cert: string; key: string }, requireClient: boolean): EnvoyJson {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
      require_client_certificate: requireClient,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { inline_string: server.cert }, private_key: { inline_string: server.key } }],
        validation_context: { trusted_ca: { inline_string: pki.ca } },
      },
    },
  };
}

/** A leaf certificate from the test CA with the given subjectAltName line (or none) and subject. */
export function leaf(pki: Pki, name: string, san: string | undefined, eku: 'serverAuth' | 'clientAuth', subject = `/O=tsmesh/CN=${name}`): { cert: string; key: string } {
  const dir = pki.dir;
  writeFileSync(join(dir, `${name}.ext`), `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = ${eku}\n${san ? `subjectAltName = ${san}\n` : ''}`);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

/** One HTTPS request with a client certificate; resolves with the status and body. */
export function httpsGet(port: number, path: string, o: { ca: string; cert?: string; key?: string; servername: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, ca: o.ca, cert: o.cert, key: o.key, servername: o.servername, agent: false, checkServerIdentity: () => undefined }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Opens TLS to `port`, writes `data`, and collects what comes back until the connection closes
 * (a denied connection closes with nothing). The handshake itself succeeds either way: rbac
 * runs after it.
 */
export function tlsRoundTrip(port: number, data: string, o: { ca: string; cert?: string; key?: string; servername: string }): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: o.ca, cert: o.cert, key: o.key, servername: o.servername, checkServerIdentity: () => undefined }, () => s.end(data));
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}
