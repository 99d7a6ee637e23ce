/**
 * envoy.filters.http.jwt_authn through a real HTTP connection manager on loopback, with tokens
 * signed at test time by jose: what a client sees (status, Envoy's body text, www-authenticate),
 * what the upstream receives (token removed or forwarded, payload and claim headers) and the
 * dynamic metadata left for rbac (istio_authn). Remote JWKS are served by a real HTTP server and
 * fetched through the proxy's cluster.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { startHcm, startUpstream, request, hcmConfig, listenOn, type Upstream, type TestProxy } from './http/harness.ts';
import { HTTP_FILTER } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { ManualClock } from '../helpers/clock.ts';
import { KID_REFETCH_INTERVAL_MS } from '../../src/proxy/http/filters/jwt/remote_jwks.ts';

const ISS = 'https://issuer.example';
const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'] as const;

interface Signer {
  alg: string;
  kid: string;
  jwk: JWK;
  sign(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  publicPem?: string;
}

async function signer(alg: string, kid = `k-${alg}`): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg };
  const publicPem = alg.startsWith('RS') ? await exportSPKI(publicKey) : undefined;
  return {
    alg,
    kid,
    jwk,
    publicPem,
    sign: (claims, header = {}) => new SignJWT(claims).setProtectedHeader({ alg, kid, ...header }).sign(privateKey),
  };
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: JWTPayload = {}): JWTPayload => ({ iss: ISS, sub: 'alice', iat: now(), exp: now() + 3600, ...extra });
const jwks = (...s: Signer[]) => JSON.stringify({ keys: s.map((x) => x.jwk) });
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function jwtFilter(config: EnvoyJson): EnvoyJson {
  return { name: 'envoy.filters.http.jwt_authn', typed_config: { '@type': HTTP_FILTER.JWT_AUTHN, ...config } };
}

/** Istio's shape: one provider, a token is optional but must be valid when present. */
function istioStyle(provider: EnvoyJson): EnvoyJson {
  return {
    providers: { 'origins-0': { issuer: ISS, payload_in_metadata: 'payload', normalize_payload_in_metadata: { space_delimited_claims: ['permission', 'scope'] }, ...provider } },
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
    bypass_cors_preflight: true,
  };
}

const routes = { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] };

let up: Upstream;
let rs: Signer;
const signers = new Map<string, Signer>();
const open: TestProxy[] = [];

async function proxyWith(config: EnvoyJson, extraClusters: { name: string; ports: number[] }[] = [], clock?: ManualClock): Promise<TestProxy> {
  const p = await startHcm(hcmConfig(routes, {}, [jwtFilter(config)]), [{ name: 'backend', ports: [up.port] }, ...extraClusters], { clock });
  open.push(p);
  return p;
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

before(async () => {
  up = await startUpstream('backend');
  for (const a of ALGS) signers.set(a, await signer(a));
  rs = signers.get('RS256')!;
});
after(async () => {
  for (const p of open) await p.close();
  await up.close();
});

test('Istio-style requirement: a valid token passes and is removed, none passes, a bad one gets 401', async () => {
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) } }));
  const ok = await request(p.port, { path: '/ok', headers: bearer(await rs.sign(claims())) });
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).headers.authorization, undefined, 'forward: false takes the token out');

  assert.equal((await request(p.port, { path: '/none' })).status, 200);

  const bad = await request(p.port, { path: '/bad?x=1', headers: { ...bearer((await rs.sign(claims())).slice(0, -4) + 'AAAA'), host: 'svc.example:8080' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.body, 'Jwt verification fails');
  assert.equal(bad.headers['www-authenticate'], 'Bearer realm="http://svc.example:8080/bad?x=1", error="invalid_token"');
  const denied = p.completed.find((i) => i.responseCode === 401);
  assert.equal(denied?.responseCodeDetails, 'jwt_authn_access_denied{Jwt_verification_fails}');
});

test('istio_authn and payload metadata for rbac: principal, audiences, presenter, claims as lists', async () => {
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) } }));
  const t = await rs.sign(claims({ aud: ['web', 'api'], azp: 'frontend', groups: ['group1', 'group2'], scope: 'read write', nested: { key: 'v', n: 3 } }));
  assert.equal((await request(p.port, { headers: bearer(t) })).status, 200);
  const info = p.completed.at(-1)!;
  const authn = info.dynamicMetadata?.get('istio_authn');
  assert.deepEqual(authn, {
    'request.auth.principal': `${ISS}/alice`,
    'request.auth.audiences': 'web',
    'request.auth.presenter': 'frontend',
    'request.auth.claims': {
      iss: [ISS],
      sub: ['alice'],
      aud: ['web', 'api'],
      azp: ['frontend'],
      groups: ['group1', 'group2'],
      scope: ['read', 'write'],
      nested: { key: ['v'], n: ['3'] },
      iat: [String((authn!['request.auth.claims'] as any).iat[0])],
      exp: [String((authn!['request.auth.claims'] as any).exp[0])],
    },
  });
  const payload = info.dynamicMetadata?.get('envoy.filters.http.jwt_authn')?.payload as Record<string, unknown>;
  assert.deepEqual(payload.scope, ['read', 'write'], 'space-delimited claims are lists in the payload metadata');
  assert.equal(payload.sub, 'alice');
});

test('a provider_name requirement: no token is 401 "Jwt is missing" with a bare Bearer challenge', async () => {
  const p = await proxyWith({ providers: { a: { issuer: ISS, local_jwks: { inline_string: jwks(rs) } } }, rules: [{ match: { prefix: '/secure' }, requires: { provider_name: 'a' } }] });
  const r = await request(p.port, { path: '/secure/x', headers: { host: 'h' } });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Jwt is missing');
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="http://h/secure/x"');
  assert.equal((await request(p.port, { path: '/open' })).status, 200, 'no rule matches: no check');
});

test('expiry honours clock_skew_seconds (60 by default); nbf in the future is refused', async () => {
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) } }));
  const expired = await request(p.port, { headers: bearer(await rs.sign(claims({ exp: now() - 120 }))) });
  assert.equal(expired.status, 401);
  assert.equal(expired.body, 'Jwt is expired');
  assert.equal((await request(p.port, { headers: bearer(await rs.sign(claims({ exp: now() - 10 }))) })).status, 200, 'within the skew');
  const early = await request(p.port, { headers: bearer(await rs.sign(claims({ nbf: now() + 600 }))) });
  assert.equal(early.status, 401);
  assert.equal(early.body, 'Jwt not yet valid');
  const strict = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) }, clock_skew_seconds: 0 }));
  assert.equal((await request(strict.port, { headers: bearer(await rs.sign(claims({ exp: now() - 10 }))) })).body, 'Jwt is expired');
});

test('a token expires while the proxy runs (the proxy clock decides)', async () => {
  const clock = new ManualClock(Date.now());
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) }, clock_skew_seconds: 0 }), [], clock);
  const t = await rs.sign(claims({ exp: Math.floor(clock.now() / 1000) + 30 }));
  assert.equal((await request(p.port, { headers: bearer(t) })).status, 200);
  await clock.advance(31_000);
  const r = await request(p.port, { headers: bearer(t) });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Jwt is expired');
});

test('wrong issuer and wrong audience', async () => {
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) }, audiences: ['api.example'] }));
  const iss = await request(p.port, { headers: bearer(await rs.sign(claims({ iss: 'https://evil.example', aud: 'api.example' }))) });
  assert.equal(iss.status, 401);
  assert.equal(iss.body, 'Jwt issuer is not configured');
  const aud = await request(p.port, { headers: bearer(await rs.sign(claims({ aud: 'other' }))) });
  assert.equal(aud.status, 403, 'Envoy answers 403 when only the audience is wrong');
  assert.equal(aud.body, 'Audiences in Jwt are not allowed');
  assert.equal((await request(p.port, { headers: bearer(await rs.sign(claims({ aud: ['x', 'https://api.example/'] }))) })).status, 200);
});

test('every supported algorithm verifies with its own key and fails with another', async () => {
  const all = [...signers.values()];
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(...all) } }));
  for (const s of all) {
    const r = await request(p.port, { headers: bearer(await s.sign(claims())) });
    assert.equal(r.status, 200, `${s.alg}: ${r.body}`);
  }
  // A token signed by a key the JWKS does not have, with a kid it does have.
  const stranger = await signer('ES256', signers.get('ES256')!.kid);
  const r = await request(p.port, { headers: bearer(await stranger.sign(claims())) });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Jwt verification fails');
});

test('algorithm confusion: HS256 signed with the RSA public key, and alg none, are refused', async () => {
  const p = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) } }));
  for (const secret of [rs.publicPem!, JSON.stringify(rs.jwk), String(rs.jwk.n)]) {
    const head = b64({ alg: 'HS256', typ: 'JWT', kid: rs.kid });
    const body = b64(claims());
    const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
    const r = await request(p.port, { headers: bearer(`${head}.${body}.${sig}`) });
    assert.equal(r.status, 401);
    assert.equal(r.body, "Jwks doesn't have key to match kid or alg from Jwt");
  }
  const none = await request(p.port, { headers: bearer(`${b64({ alg: 'none' })}.${b64(claims())}.`) });
  assert.equal(none.status, 401);
  assert.equal(none.body, 'Jwt header [alg] field value is invalid');
  const noneSigned = await request(p.port, { headers: bearer(`${b64({ alg: 'none' })}.${b64(claims())}.AAAA`) });
  assert.equal(noneSigned.status, 401);
  const garbage = await request(p.port, { headers: bearer('not-a-jwt') });
  assert.equal(garbage.status, 401);
  assert.match(garbage.body, /^Jwt is not in the form of Header\.Payload\.Signature/);
});

test('token locations: header with prefix, query parameter, cookie; claim and payload headers; forward', async () => {
  const p = await proxyWith({
    providers: {
      a: {
        issuer: ISS,
        local_jwks: { inline_string: jwks(rs) },
        from_headers: [{ name: 'x-jwt', value_prefix: 'Token ' }],
        from_params: ['jwt'],
        from_cookies: ['session'],
        forward_payload_header: 'x-jwt-payload',
        claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }, { header_name: 'x-nested', claim_name: 'nested.key' }],
      },
    },
    rules: [{ match: { prefix: '/' }, requires: { provider_name: 'a' } }],
  });
  const t = await rs.sign(claims({ nested: { key: 'deep' } }));
  const viaHeader = await request(p.port, { headers: { 'x-jwt': `Token ${t}`, 'x-sub': 'spoofed' } });
  assert.equal(viaHeader.status, 200);
  const seen = JSON.parse(viaHeader.body).headers;
  assert.equal(seen['x-jwt'], undefined);
  assert.equal(seen['x-sub'], 'alice', 'a client-set claim header is replaced');
  assert.equal(seen['x-nested'], 'deep');
  assert.equal(JSON.parse(Buffer.from(seen['x-jwt-payload'], 'base64url').toString()).sub, 'alice');
  assert.equal((await request(p.port, { path: `/q?jwt=${t}` })).status, 200);
  assert.equal((await request(p.port, { headers: { cookie: `a=b; session=${t}` } })).status, 200);
  const wrongPlace = await request(p.port, { headers: bearer(t) });
  assert.equal(wrongPlace.status, 401, 'Authorization is not a location of a provider with explicit locations');
  assert.equal(wrongPlace.body, 'Jwt is missing');
  const noSpoof = await request(p.port, { headers: { 'x-sub': 'spoofed', 'x-jwt': 'Token garbage' } });
  assert.equal(noSpoof.status, 401);

  const fwd = await proxyWith(istioStyle({ local_jwks: { inline_string: jwks(rs) }, forward: true }));
  const kept = await request(fwd.port, { headers: bearer(t) });
  assert.equal(JSON.parse(kept.body).headers.authorization, `Bearer ${t}`);
});

test('requires_all, provider_and_audiences, allow_missing_or_failed, CORS preflight bypass', async () => {
  const es = signers.get('ES256')!;
  const p = await proxyWith({
    providers: {
      a: { issuer: ISS, local_jwks: { inline_string: jwks(rs) }, from_headers: [{ name: 'x-a' }] },
      b: { issuer: 'https://b.example', local_jwks: { inline_string: jwks(es) }, from_headers: [{ name: 'x-b' }] },
    },
    rules: [
      { match: { prefix: '/all' }, requires: { requires_all: { requirements: [{ provider_name: 'a' }, { provider_name: 'b' }] } } },
      { match: { prefix: '/aud' }, requires: { provider_and_audiences: { provider_name: 'a', audiences: ['only-this'] } } },
      { match: { prefix: '/lenient' }, requires: { allow_missing_or_failed: {} } },
    ],
    bypass_cors_preflight: true,
  });
  const ta = await rs.sign(claims({ aud: 'only-this' }));
  const tb = await es.sign(claims({ iss: 'https://b.example' }));
  assert.equal((await request(p.port, { path: '/all', headers: { 'x-a': ta, 'x-b': tb } })).status, 200);
  assert.equal((await request(p.port, { path: '/all', headers: { 'x-a': ta } })).body, 'Jwt is missing');
  assert.equal((await request(p.port, { path: '/aud', headers: { 'x-a': ta } })).status, 200);
  assert.equal((await request(p.port, { path: '/aud', headers: { 'x-a': await rs.sign(claims({ aud: 'x' })) } })).status, 403);
  assert.equal((await request(p.port, { path: '/lenient', headers: { 'x-a': 'garbage' } })).status, 200);
  const pre = await request(p.port, { method: 'OPTIONS', path: '/all', headers: { origin: 'https://o', 'access-control-request-method': 'GET' } });
  assert.equal(pre.status, 200, 'a preflight is not asked for credentials');
});

/** A JWKS server whose key set the test can swap, counting fetches. */
async function startJwksServer(initial: string): Promise<{ port: number; set(s: string): void; fetches(): number; down(v: boolean): void; close(): Promise<void> }> {
  let body = initial;
  let n = 0;
  let failing = false;
  const server = http.createServer((req, res) => {
    n++;
    if (failing) {
      res.statusCode = 503;
      res.end('down');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(body);
  });
  const port = await listenOn(server);
  return {
    port,
    set: (s) => void (body = s),
    fetches: () => n,
    down: (v) => void (failing = v),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('remote_jwks through a cluster: fetched once, cached, refetched on expiry and on an unknown kid', async () => {
  const srv = await startJwksServer(jwks(rs));
  const clock = new ManualClock(Date.now());
  try {
    const p = await proxyWith(
      istioStyle({ remote_jwks: { http_uri: { uri: `http://jwks.example:${srv.port}/keys.json`, cluster: 'jwks', timeout: '2s' }, cache_duration: '300s' } }),
      [{ name: 'jwks', ports: [srv.port] }],
      clock,
    );
    const t = await rs.sign(claims({ exp: Math.floor(clock.now() / 1000) + 3600 }));
    const [a, b] = await Promise.all([request(p.port, { headers: bearer(t) }), request(p.port, { headers: bearer(t) })]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(srv.fetches(), 1, 'concurrent requests share one fetch');
    assert.equal((await request(p.port, { headers: bearer(t) })).status, 200);
    assert.equal(srv.fetches(), 1, 'cached');
    assert.equal(p.stats.get('http.test.jwt_authn.jwks_fetch_success'), 1);

    // The issuer rotates to a new key: a token with the new kid triggers a refetch.
    const rotated = await signer('RS256', 'k-rotated');
    srv.set(jwks(rs, rotated));
    const t2 = await rotated.sign(claims({ exp: Math.floor(clock.now() / 1000) + 3600 }));
    assert.equal((await request(p.port, { headers: bearer(t2) })).status, 200);
    assert.equal(srv.fetches(), 2);
    // A burst of unknown kids does not hammer the JWKS server: one refetch per interval.
    await clock.advance(KID_REFETCH_INTERVAL_MS);
    const forged = await signer('RS256', 'k-unknown');
    for (let i = 0; i < 3; i++) {
      const r = await request(p.port, { headers: bearer(await forged.sign(claims({ exp: Math.floor(clock.now() / 1000) + 3600 }))) });
      assert.equal(r.status, 401);
    }
    assert.equal(srv.fetches(), 3, 'one refetch for the unknown kid, then rate-limited');

    // Expiry of the cache: the next request fetches again; a failing server is 401.
    await clock.advance(301_000);
    srv.down(true);
    const failed = await request(p.port, { headers: bearer(t) });
    assert.equal(failed.status, 401);
    assert.equal(failed.body, 'Jwks remote fetch is failed');
    srv.down(false);
    assert.equal((await request(p.port, { headers: bearer(t) })).status, 200);
    assert.equal(p.stats.get('http.test.jwt_authn.jwks_fetch_failed'), 1);

    // The issuer drops the old key: a token verified (and cached) under it is refused once the
    // proxy holds the new key set; the verified-token cache never outlives the keys.
    srv.set(jwks(rotated));
    await clock.advance(301_000);
    const dropped = await request(p.port, { headers: bearer(t) });
    assert.equal(dropped.status, 401, dropped.body);
    assert.equal((await request(p.port, { headers: bearer(t2) })).status, 200);
  } finally {
    await srv.close();
  }
});

test('a cluster that does not exist fails the fetch (401), never lets the token through', async () => {
  const p = await proxyWith(istioStyle({ remote_jwks: { http_uri: { uri: 'http://nowhere.example/keys', cluster: 'outbound|80||nowhere.example', timeout: '1s' } } }));
  const r = await request(p.port, { headers: bearer(await rs.sign(claims())) });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Jwks remote fetch is failed');
  assert.equal((await request(p.port)).status, 200, 'no token: allow_missing');
});

test('config errors are rejected (NACK): unknown provider, missing jwks, unsupported fields', async () => {
  const bad: EnvoyJson[] = [
    { providers: { a: { issuer: ISS, local_jwks: { inline_string: jwks(rs) } } }, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'b' } }] },
    { providers: { a: { issuer: ISS } } },
    { providers: { a: { issuer: ISS, local_jwks: { inline_string: jwks(rs) }, max_lifetime: '60s' } } },
    { filter_state_rules: { name: 'x' } },
  ];
  for (const c of bad) await assert.rejects(startHcm(hcmConfig(routes, {}, [jwtFilter(c)]), [{ name: 'backend', ports: [up.port] }]));
});
