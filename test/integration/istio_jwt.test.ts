/**
 * Istio's JWT task on the ingress gateway, end to end: a real control plane, a real gateway proxy,
 * httpbin behind it, and Istio's demo JWKS and tokens (security/tools/jwt/samples: jwks.json,
 * demo.jwt, groups-scope.jwt, read in place) served by a local HTTP server that joins the mesh as
 * a Service, so the gateway fetches the keys through the mesh (remote_jwks). The jwksUri is the
 * only change from Istio's YAML: the test has no internet.
 *   - RequestAuthentication: a valid token 200, an invalid one 401, none 200;
 *   - AuthorizationPolicy requestPrincipals on the gateway: none 403, valid 200;
 *   - a `request.auth.claims[groups]` condition: demo.jwt (no groups) 403, groups-scope.jwt 200.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start as startHttpbin } from '../../samples/httpbin/main.ts';
import { freePort, httpGet, READY_MS, startGatewayMesh, until, waitListening } from '../helpers/gateway.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { httpGatewayTo, serviceWithWorkloads } from '../helpers/yaml.ts';

const SAMPLES = join(ISTIO_DATA, 'security/tools/jwt/samples');
const NO_SAMPLES = existsSync(join(SAMPLES, 'jwks.json')) ? false : `Istio's JWT samples are not in ${SAMPLES}`;

const GW_IP = '127.0.21.70';
const HTTPBIN_IP = '127.0.21.71';
const JWKS_IP = '127.0.21.72';
const ISSUER = 'testing@secure.istio.io';

function config(gwPort: number, httpbinPort: number, jwksPort: number): Record<string, string> {
  return {
    'backends.yaml': [
      serviceWithWorkloads({ name: 'httpbin', servicePort: 8000, workloads: [{ name: 'httpbin-1', address: HTTPBIN_IP, port: httpbinPort }] }),
      serviceWithWorkloads({ name: 'jwks', servicePort: 8000, workloads: [{ name: 'jwks-1', address: JWKS_IP, port: jwksPort }] }),
    ].join('---\n'),
    'gateway.yaml': httpGatewayTo({ name: 'httpbin-gateway', port: gwPort, service: 'httpbin', servicePort: 8000 }),
    'jwt.yaml': `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt-example, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  jwtRules:
  - issuer: "${ISSUER}"
    jwksUri: "http://jwks.default.svc.cluster.local:8000/jwks.json"
`,
  };
}

const REQUIRE_PRINCIPAL = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: frontend-ingress, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  action: DENY
  rules:
  - from:
    - source: { notRequestPrincipals: ["*"] }
`;

const REQUIRE_GROUP = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: require-jwt, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  action: ALLOW
  rules:
  - from:
    - source: { requestPrincipals: ["${ISSUER}/${ISSUER}"] }
    when:
    - key: request.auth.claims[groups]
      values: ["group1"]
`;

test("Istio's JWT task on the ingress gateway", { skip: NO_SAMPLES, timeout: 240_000 }, async (t) => {
  const demo = readFileSync(join(SAMPLES, 'demo.jwt'), 'utf8').trim();
  const groups = readFileSync(join(SAMPLES, 'groups-scope.jwt'), 'utf8').trim();
  const jwks = readFileSync(join(SAMPLES, 'jwks.json'), 'utf8');
  let fetches = 0;
  const jwksServer = http.createServer((req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(jwks);
  });
  const jwksPort = await new Promise<number>((r) => jwksServer.listen(0, JWKS_IP, () => r((jwksServer.address() as { port: number }).port)));
  const quiet = { log: () => undefined };
  const httpbin = await startHttpbin({ port: 0, host: HTTPBIN_IP, ...quiet, env: {} });
  t.after(async () => {
    await httpbin.close();
    jwksServer.closeAllConnections();
    await new Promise<void>((r) => jwksServer.close(() => r()));
  });
  const gwPort = await freePort();
  const mesh = await startGatewayMesh(t, { ip: GW_IP, files: config(gwPort, httpbin.port, jwksPort) });
  const get = (token?: string) => httpGet(GW_IP, gwPort, 'httpbin.example.com', '/headers', token ? { authorization: `Bearer ${token}` } : {});
  const wait = async (what: string, check: () => Promise<boolean>) =>
    until(async () => ((await check()) ? true : undefined), what, READY_MS, 200).catch((e) => {
      throw new Error(`${(e as Error).message}\n${mesh.logs()}`);
    });

  await waitListening(GW_IP, gwPort);
  await wait('an invalid token to be refused (jwt_authn in place)', async () => (await get('deadbeef')).status === 401);

  await t.test('RequestAuthentication: valid 200, invalid 401, none 200', async () => {
    const ok = await get(demo);
    assert.equal(ok.status, 200, ok.body);
    assert.ok(fetches >= 1, 'the keys came from the JWKS server through the mesh');
    const bad = await get('deadbeef');
    assert.equal(bad.status, 401);
    assert.match(bad.body, /^Jwt is not in the form of Header\.Payload\.Signature/);
    assert.match(String(bad.headers['www-authenticate']), /^Bearer realm="http:\/\/httpbin\.example\.com\/headers", error="invalid_token"$/);
    const tampered = await get(demo.slice(0, -6) + 'AAAAAA');
    assert.equal(tampered.status, 401);
    assert.equal(tampered.body, 'Jwt verification fails');
    assert.equal((await get()).status, 200, 'no token passes until a policy requires one');
  });

  await t.test('AuthorizationPolicy requiring a request principal: none 403, valid 200', async () => {
    mesh.write('require-principal.yaml', REQUIRE_PRINCIPAL);
    await wait('a request without a token to get 403', async () => (await get()).status === 403);
    const none = await get();
    assert.equal(none.body, 'RBAC: access denied');
    assert.equal((await get(demo)).status, 200);
    assert.equal((await get('deadbeef')).status, 401, 'an invalid token is still a 401, before rbac');
  });

  await t.test('a groups claim condition: demo.jwt (no groups) 403, groups-scope.jwt 200', async () => {
    mesh.write('require-group.yaml', REQUIRE_GROUP);
    await wait('demo.jwt without the group to get 403', async () => (await get(demo)).status === 403);
    assert.equal((await get(groups)).status, 200);
    mesh.remove('require-group.yaml');
    await wait('demo.jwt to pass again', async () => (await get(demo)).status === 200);
  });
});
