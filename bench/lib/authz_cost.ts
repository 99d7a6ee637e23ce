/**
 * Issue 10's cost line: one tsmesh hop with authorization on (a JWT verified by jwt_authn and a
 * 20-rule ALLOW AuthorizationPolicy, both translated by the pilot from Istio YAML) against the same
 * hop with neither, in alternating rounds on the same upstream; wrk sends a valid token on every
 * request. The policy's rules are ordinary ones (paths, methods, request principals, claims,
 * headers) that the request does not match, except the one the RBAC engine reaches last.
 */
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import type { EnvoyJson } from '../../src/xds/types.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { parseConfigs } from '../../src/api/yaml.ts';
import { defaultMeshConfig } from '../../src/api/mesh.ts';
import { authzHttpFilters } from '../../src/pilot/authz/index.ts';
import { authnHttpFilter } from '../../src/pilot/authn/index.ts';

const ISSUER = 'bench@tsmesh.example';
const SUBJECT = 'user-1';

/** The 20 rules; rule[9] is the one that matches (policies are tried in name order: 0, 1, 10..19, 2..9). */
function rules(): string {
  const out: string[] = [];
  for (let i = 0; i < 20; i++) {
    if (i === 9) {
      out.push(`  - from: [{source: {requestPrincipals: ["${ISSUER}/${SUBJECT}"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/", "/api/*"]}}]
    when: [{key: "request.auth.claims[groups]", values: ["bench"]}]`);
    } else {
      out.push(`  - from: [{source: {requestPrincipals: ["other-${i}@example/*"]}}]
    to: [{operation: {methods: ["GET", "POST"], paths: ["/v${i}/*", "/admin-${i}"]}}]
    when: [{key: "request.headers[x-tenant]", values: ["tenant-${i}"]}]`);
    }
  }
  return out.join('\n');
}

/** The http_filters (jwt_authn, rbac) a sidecar gets for these policies, and a token that passes them. */
export async function authzBenchFilters(): Promise<{ filters: EnvoyJson[]; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
  const token = await new SignJWT({ groups: ['bench'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuer(ISSUER)
    .setSubject(SUBJECT)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  const yaml = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: bench}
spec:
  jwtRules:
  - issuer: ${ISSUER}
    jwks: '${JSON.stringify({ keys: [jwk] })}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: twenty-rules, namespace: bench}
spec:
  action: ALLOW
  rules:
${rules()}
`;
  const { configs, errors } = parseConfigs(yaml, { file: 'bench-authz.yaml' });
  if (errors.length > 0) throw new Error(`bench policies: ${errors.map((e) => e.message).join('; ')}`);
  // Only what the authz builders read: the configs (and an index built from them on first use).
  const push = { mesh: defaultMeshConfig(), configs, services: [], endpoints: new Map(), workloads: [] } as unknown as PushContext;
  const proxy = { id: 'sidecar~127.0.0.1~bench-1.bench~bench.svc.cluster.local', type: 'sidecar', namespace: 'bench', labels: { app: 'bench' }, metadata: {} } as unknown as Proxy;
  const jwt = authnHttpFilter(push, proxy);
  if (!jwt) throw new Error('bench: no jwt_authn filter was built');
  return { filters: [jwt, ...authzHttpFilters(push, proxy)], token };
}
