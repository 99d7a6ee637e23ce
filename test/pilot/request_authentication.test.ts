/**
 * RequestAuthentication → Envoy jwt_authn, as Istio translates it: which policies reach a
 * workload (root namespace, namespace, selector; targetRefs never on a sidecar), one provider per
 * jwtRule sorted by issuer with Istio's requirement shape, every jwtRule field, and where the
 * filter goes: first among the security filters, before rbac and the router, on sidecar inbound
 * and gateway HTTP chains, with or without an AuthorizationPolicy. Every listener is encoded with
 * Envoy's protos, so Envoy would accept the filter's shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { jwtAuthentication } from '../../src/pilot/authn/index.ts';
import { TYPE } from '../../src/xds/types.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { encodeResource } from '../../src/xds/codec.ts';
import { HTTP_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import { hcmOf, ownHttpFilterNames, ownHttpFilters, terminalFilter } from './filters.ts';
import { proxyFor, pushFromYaml, workload } from './fixtures.ts';
import { generateAll, gatewayWorkload, INGRESS_LABELS, pushOf, routerProxy, parseYamlText } from './gateway/helpers.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec: {selector: {app: httpbin}, ports: [{name: http, port: 8000, targetPort: 80}]}
`;
const httpbin = workload('httpbin-1', '127.0.9.1', { app: 'httpbin' }, { namespace: 'foo' });
const JWKS = '{"keys":[{"kty":"RSA","e":"AQAB","n":"abc","kid":"k"}]}';

function ra(namespace: string, spec: string, name = 'jwt'): string {
  return `---\napiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: ${spec}\n`;
}

function httpFilters(yaml: string): string[][] {
  const push = pushFromYaml(SERVICE + yaml, [httpbin]);
  const listeners = generate(push, proxyFor(httpbin), TYPE.LISTENER).map((r) => r.resource);
  const out: string[][] = [];
  for (const l of listeners) {
    for (const c of (l.filter_chains ?? []) as EnvoyJson[]) {
      if (!String(c.name ?? '').startsWith('inbound')) continue;
      const hcm = terminalFilter(c);
      if (hcm.typed_config['@type'] === NETWORK_FILTER.HTTP_CONNECTION_MANAGER) out.push(ownHttpFilterNames(hcm.typed_config));
    }
  }
  return out;
}

function jwtFilterOf(yaml: string): EnvoyJson | undefined {
  const push = pushFromYaml(SERVICE + yaml, [httpbin]);
  return jwtAuthentication(push, proxyFor(httpbin));
}

test('scope: root namespace and own namespace apply, a selector narrows, targetRefs and other namespaces never reach a sidecar', () => {
  const rule = `{jwtRules: [{issuer: "i", jwks: '${JWKS}'}]}`;
  assert.ok(jwtFilterOf(ra('istio-system', rule)));
  assert.ok(jwtFilterOf(ra('foo', rule)));
  assert.ok(jwtFilterOf(ra('foo', `{selector: {matchLabels: {app: httpbin}}, jwtRules: [{issuer: "i", jwks: '${JWKS}'}]}`)));
  assert.equal(jwtFilterOf(ra('foo', `{selector: {matchLabels: {app: other}}, jwtRules: [{issuer: "i", jwks: '${JWKS}'}]}`)), undefined);
  assert.equal(jwtFilterOf(ra('bar', rule)), undefined);
  assert.equal(jwtFilterOf(ra('foo', `{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}], jwtRules: [{issuer: "i", jwks: '${JWKS}'}]}`)), undefined);
  assert.equal(jwtFilterOf(ra('foo', '{}')), undefined, 'no jwtRules: no filter');
});

test("one provider: Istio's config, every jwtRule field translated", () => {
  const cfg = jwtFilterOf(
    ra(
      'foo',
      `{jwtRules: [{issuer: "testing@secure.istio.io", audiences: [a, b], jwksUri: "https://keys.example.com:8443/jwks.json", timeout: 3s,
        fromHeaders: [{name: x-jwt, prefix: "Bearer "}, {name: x-raw}], fromParams: [tok], fromCookies: [session],
        forwardOriginalToken: true, outputPayloadToHeader: x-payload, outputClaimToHeaders: [{header: x-sub, claim: sub}],
        spaceDelimitedClaims: [roles]}]}`,
    ),
  );
  assert.deepEqual(cfg, {
    '@type': HTTP_FILTER.JWT_AUTHN,
    providers: {
      'origins-0': {
        issuer: 'testing@secure.istio.io',
        audiences: ['a', 'b'],
        remote_jwks: { http_uri: { uri: 'https://keys.example.com:8443/jwks.json', cluster: 'outbound|8443||keys.example.com', timeout: '3s' }, cache_duration: '300s' },
        from_headers: [{ name: 'x-jwt', value_prefix: 'Bearer ' }, { name: 'x-raw' }],
        from_params: ['tok'],
        from_cookies: ['session'],
        forward: true,
        forward_payload_header: 'x-payload',
        payload_in_metadata: 'payload',
        normalize_payload_in_metadata: { space_delimited_claims: ['permission', 'roles', 'scope'] },
        claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }],
      },
    },
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
    bypass_cors_preflight: true,
  });
  // Envoy's protos accept the shape.
  const { '@type': _t, ...body } = cfg!;
  encodeResource(HTTP_FILTER.JWT_AUTHN, body);
});

test('several providers: sorted by issuer, any of {P0, P1, all of {P0 or missing, P1 or missing}}; inline jwks is local_jwks', () => {
  const cfg = jwtFilterOf(ra('foo', `{jwtRules: [{issuer: "z-issuer", jwks: '${JWKS}'}]}`) + ra('istio-system', `{jwtRules: [{issuer: "a-issuer", jwksUri: "http://keys.foo:8080/k"}]}`, 'mesh'))!;
  assert.equal(cfg.providers['origins-0'].issuer, 'a-issuer');
  assert.equal(cfg.providers['origins-0'].remote_jwks.http_uri.cluster, 'outbound|8080||keys.foo');
  assert.equal(cfg.providers['origins-0'].remote_jwks.http_uri.timeout, '5s', "Istio's default timeout");
  assert.deepEqual(cfg.providers['origins-1'].local_jwks, { inline_string: JWKS });
  assert.deepEqual(cfg.rules[0].requires, {
    requires_any: {
      requirements: [
        { provider_name: 'origins-0' },
        { provider_name: 'origins-1' },
        {
          requires_all: {
            requirements: [
              { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } },
              { requires_any: { requirements: [{ provider_name: 'origins-1' }, { allow_missing: {} }] } },
            ],
          },
        },
      ],
    },
  });
  const { '@type': _t, ...body } = cfg;
  encodeResource(HTTP_FILTER.JWT_AUTHN, body);
});

test('placement on sidecar inbound chains: jwt_authn before rbac and the router, with or without an AuthorizationPolicy', () => {
  const rule = ra('foo', `{jwtRules: [{issuer: "i", jwks: '${JWKS}'}]}`);
  const none = httpFilters('');
  assert.ok(none.length > 0);
  for (const f of none) assert.ok(!f.includes('envoy.filters.http.jwt_authn'), 'nothing without a RequestAuthentication');
  for (const f of httpFilters(rule)) {
    assert.equal(f.at(-1), 'envoy.filters.http.router');
    assert.equal(f.at(-2), 'envoy.filters.http.jwt_authn');
  }
  const ap = `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: req, namespace: foo}\nspec: {rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]}\n`;
  for (const f of httpFilters(rule + ap)) {
    assert.deepEqual(f.slice(-3), ['envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac', 'envoy.filters.http.router']);
  }
});

test('placement on a gateway: the ingress gateway gets jwt_authn before the router, with clear_route_cache for claim routes', () => {
  const configs = parseYamlText(
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules: [{issuer: "i", jwks: '${JWKS}'}]
`,
    'istio-system',
  );
  const push = pushOf(configs, [gatewayWorkload('gw-0', 'istio-system', '127.0.0.10', INGRESS_LABELS)]);
  const res = generateAll(push, routerProxy());
  const chains = res.listeners.map((r) => r.resource).flatMap((l: EnvoyJson) => l.filter_chains ?? []);
  const chain = chains.find((c: EnvoyJson) => terminalFilter(c).typed_config['@type'] === NETWORK_FILTER.HTTP_CONNECTION_MANAGER);
  const own = ownHttpFilters(hcmOf(chain));
  assert.deepEqual(own.slice(-2).map((h) => h.name), ['envoy.filters.http.jwt_authn', 'envoy.filters.http.router']);
  assert.equal(own.at(-2)!.typed_config.providers['origins-0'].clear_route_cache, true);
});
