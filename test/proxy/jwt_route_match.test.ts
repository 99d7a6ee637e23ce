/**
 * Routing on JWT claims (VirtualService `headers: {"@request.auth.claims.groups": ...}`): the
 * RouteMatch pilot emits (dynamic_metadata on jwt_authn's payload) evaluated against the metadata
 * a real jwt_authn filter left after verifying a real token. A route input without metadata never
 * matches such a route, inverted or not (fail closed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { translateRouteMatch } from '../../src/pilot/route/match.ts';
import { compileRouteMatch, type MatchInput } from '../../src/proxy/http/router/route_match.ts';
import { startHcm, startUpstream, request, hcmConfig } from './http/harness.ts';
import { HTTP_FILTER } from '../../src/xds/type_urls.ts';

function input(metadata?: ReadonlyMap<string, Record<string, unknown>>): MatchInput {
  return { headers: new Map(), path: '/', query: () => new URLSearchParams(), random: Math.random, ...(metadata ? { metadata: () => metadata } : {}) };
}

test('a claim route matches the payload jwt_authn verified: lists and strings, nested claims, withoutHeaders', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k' };
  const up = await startUpstream('b');
  const routes = { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'b' } }] }] };
  const filter = {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: {
      '@type': HTTP_FILTER.JWT_AUTHN,
      providers: { p: { issuer: 'iss', local_jwks: { inline_string: JSON.stringify({ keys: [jwk] }) }, payload_in_metadata: 'payload', clear_route_cache: true } },
      rules: [{ match: { prefix: '/' }, requires: { provider_name: 'p' } }],
    },
  };
  const p = await startHcm(hcmConfig(routes, {}, [filter]), [{ name: 'b', ports: [up.port] }]);
  t.after(async () => {
    await p.close();
    await up.close();
  });
  const token = await new SignJWT({ iss: 'iss', sub: 's', groups: ['group1', 'group2'], tier: 'gold', org: { team: 'red' } }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).sign(privateKey);
  assert.equal((await request(p.port, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  const metadata = p.completed.at(-1)!.dynamicMetadata!;

  const matches = (headers: Record<string, unknown>, without?: Record<string, unknown>, m = metadata) =>
    compileRouteMatch(translateRouteMatch({ headers, ...(without ? { withoutHeaders: without } : {}) } as never))(input(m));
  assert.equal(matches({ '@request.auth.claims.groups': { exact: 'group1' } }), true);
  assert.equal(matches({ '@request.auth.claims.groups': { exact: 'group3' } }), false);
  assert.equal(matches({ '@request.auth.claims.tier': { prefix: 'go' } }), true);
  assert.equal(matches({ '@request.auth.claims.org.team': { exact: 'red' } }), true);
  assert.equal(matches({ '@request.auth.claims[org][team]': { exact: 'blue' } }), false);
  assert.equal(matches({}, { '@request.auth.claims.groups': { exact: 'group2' } }), false, 'withoutHeaders excludes a token with the claim');
  assert.equal(matches({}, { '@request.auth.claims.groups': { exact: 'admin' } }), true);
  assert.equal(matches({ '@request.auth.claims.groups': { exact: 'group1' } }, undefined, new Map()), false, 'no token, no claim');
  const noMetadata = compileRouteMatch(translateRouteMatch({ withoutHeaders: { '@request.auth.claims.groups': { exact: 'admin' } } } as never));
  assert.equal(noMetadata(input()), false, 'an input that cannot show metadata never matches');
});
