/**
 * AuthorizationPolicy CUSTOM as pilot translates it for a sidecar, against Istio's goldens
 * (pilot/pkg/security/authz/builder/testdata/http/custom-*-out*.yaml): a shadow rbac filter with
 * the CUSTOM rules named istio-ext-authz-ns[..]-policy[..]-rule[..] (stat prefix
 * istio_ext_authz_), then ext_authz gated on its metadata, before DENY and ALLOW; the provider's
 * service resolved to its outbound cluster; header lists as Istio's matchers; the request body
 * as with_request_body. Unusable providers
 * keep the policy fail-closed (its rules in the DENY filter) with a message; TCP chains always.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authzHttpFilters, authzNetworkFilters, customPolicyProblems } from '../../src/pilot/authz/index.ts';
import { defaultMeshConfig, parseMeshConfig } from '../../src/api/mesh.ts';
import type { MeshConfig } from '../../src/api/types.ts';
import { normalize, toAny, unpackAny } from '../../src/xds/codec.ts';
import { walkResource } from '../../src/proxy/config/support_walker.ts';
import { meshSupportWarnings } from '../../src/api/fields/mesh_support.ts';
import { proxyFor, pushFromYaml, workload } from './fixtures.ts';

const SERVICES = `apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec: {selector: {app: httpbin}, ports: [{name: http, port: 8000, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz, namespace: foo}
spec: {selector: {app: ext-authz}, ports: [{name: http, port: 8000}, {name: grpc, port: 9000}]}
`;
const httpbin = workload('httpbin-1', '127.0.9.1', { app: 'httpbin' }, { namespace: 'foo' });

const CUSTOM = (provider: string, name = 'ext-authz', paths = '["/headers"]') => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: CUSTOM
  provider: {name: ${provider}}
  rules:
  - to:
    - operation: {paths: ${paths}}
`;

function mesh(yaml: string): MeshConfig {
  const r = parseMeshConfig(yaml);
  assert.deepEqual(r.errors, []);
  return r.mesh;
}

const MESH = mesh(`extensionProviders:
- name: sample-ext-authz-grpc
  envoyExtAuthzGrpc:
    service: ext-authz.foo.svc.cluster.local
    port: "9000"
- name: sample-ext-authz-http
  envoyExtAuthzHttp:
    service: foo/ext-authz.foo.svc.cluster.local
    port: 8000
    timeout: 10s
    pathPrefix: /check
    failOpen: true
    statusOnError: "503"
    includeRequestHeadersInCheck: ["x-ext-authz", "x-prefix-*", "*-suffix"]
    includeAdditionalHeadersInCheck: {x-header-2: value-2, x-header-1: value-1}
    headersToUpstreamOnAllow: ["authorization", "x-ext-authz-*"]
    headersToDownstreamOnDeny: ["set-cookie"]
    headersToDownstreamOnAllow: ["x-allow"]
- name: with-body
  envoyExtAuthzGrpc:
    service: ext-authz.foo.svc.cluster.local
    port: 9000
    includeRequestBodyInCheck: {maxRequestBytes: 1024, allowPartialMessage: true, packAsBytes: true}
- name: missing-service
  envoyExtAuthzHttp:
    service: nowhere.foo.svc.cluster.local
    port: 8000
`);

function filters(policies: string, m: MeshConfig = MESH) {
  const push = pushFromYaml(SERVICES + policies, [httpbin], m);
  const proxy = proxyFor(httpbin);
  return { http: authzHttpFilters(push, proxy), tcp: authzNetworkFilters(push, proxy).map((f) => f.typed_config), problems: customPolicyProblems(push, proxy) };
}

const GATE = { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { string_match: { prefix: 'istio-ext-authz' } } };

test('gRPC provider: shadow rbac with the CUSTOM rules, then ext_authz on the outbound cluster, gated on the shadow result, before DENY and ALLOW', () => {
  const deny = `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: d, namespace: foo}\nspec: {action: DENY, rules: [{to: [{operation: {paths: ["/admin"]}}]}]}\n`;
  const audit = `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: foo}\nspec: {action: AUDIT, rules: [{}]}\n`;
  const { http, problems } = filters(CUSTOM('sample-ext-authz-grpc') + deny + audit + `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-all, namespace: foo}\nspec: {rules: [{}]}\n`);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    http.map((f) => [f.name, f.typed_config.rules?.action ?? (f.typed_config.shadow_rules ? 'shadow' : 'ext_authz')]),
    [
      ['envoy.filters.http.rbac', 'LOG'],
      ['envoy.filters.http.rbac', 'shadow'],
      ['envoy.filters.http.ext_authz', 'ext_authz'],
      ['envoy.filters.http.rbac', 'DENY'],
      ['envoy.filters.http.rbac', 'ALLOW'],
    ],
  );
  const shadow = http[1]!.typed_config;
  assert.equal(shadow.shadow_rules_stat_prefix, 'istio_ext_authz_');
  assert.equal(shadow.shadow_rules.action, 'DENY');
  assert.deepEqual(Object.keys(shadow.shadow_rules.policies), ['istio-ext-authz-ns[foo]-policy[ext-authz]-rule[0]']);
  assert.equal(shadow.rules, undefined, 'CUSTOM rules are never enforced by rbac');
  assert.deepEqual(http[2]!.typed_config, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
    transport_api_version: 'V3',
    filter_enabled_metadata: GATE,
    grpc_service: {
      envoy_grpc: { cluster_name: 'outbound|9000||ext-authz.foo.svc.cluster.local', authority: 'outbound_.9000_._.ext-authz.foo.svc.cluster.local' },
      timeout: '600s',
    },
  });
  assert.deepEqual(Object.keys(http[3]!.typed_config.rules.policies), ['ns[foo]-policy[d]-rule[0]'], 'the CUSTOM policy is not in the DENY filter');
});

test('HTTP provider: every field as Istio translates it', () => {
  const { http } = filters(CUSTOM('sample-ext-authz-http'));
  assert.equal(http.length, 2);
  const ci = (m: object) => ({ ...m, ignore_case: true });
  assert.deepEqual(http[1]!.typed_config, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
    transport_api_version: 'V3',
    filter_enabled_metadata: GATE,
    failure_mode_allow: true,
    status_on_error: { code: 503 },
    http_service: {
      server_uri: { uri: 'http://ext-authz.foo.svc.cluster.local', cluster: 'outbound|8000||ext-authz.foo.svc.cluster.local', timeout: '10s' },
      path_prefix: '/check',
      authorization_request: {
        allowed_headers: { patterns: [ci({ exact: 'x-ext-authz' }), ci({ prefix: 'x-prefix-' }), ci({ suffix: '-suffix' })] },
        headers_to_add: [
          { key: 'x-header-1', value: 'value-1' },
          { key: 'x-header-2', value: 'value-2' },
        ],
      },
      authorization_response: {
        allowed_upstream_headers: { patterns: [ci({ exact: 'authorization' }), ci({ prefix: 'x-ext-authz-' })] },
        allowed_client_headers: { patterns: [ci({ exact: 'set-cookie' })] },
        allowed_client_headers_on_success: { patterns: [ci({ exact: 'x-allow' })] },
      },
    },
  });
});

test('includeRequestBodyInCheck becomes with_request_body', () => {
  const { http, problems } = filters(CUSTOM('with-body'));
  assert.deepEqual(problems, []);
  assert.deepEqual(http[1]!.typed_config.with_request_body, { max_request_bytes: 1024, allow_partial_message: true, pack_as_bytes: true });
});

test('several CUSTOM policies with one provider share the filters; a policy without rules never triggers the check', () => {
  const { http } = filters(CUSTOM('sample-ext-authz-grpc', 'one', '["/a"]') + CUSTOM('sample-ext-authz-grpc', 'two', '["/b", "/c"]') + `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: none, namespace: foo}\nspec: {action: CUSTOM, provider: {name: sample-ext-authz-grpc}}\n`);
  assert.equal(http.length, 2);
  const policies = http[0]!.typed_config.shadow_rules.policies;
  assert.deepEqual(Object.keys(policies).sort(), ['istio-ext-authz-ns[foo]-policy[none]-rule[0]', 'istio-ext-authz-ns[foo]-policy[one]-rule[0]', 'istio-ext-authz-ns[foo]-policy[two]-rule[0]']);
  assert.deepEqual(policies['istio-ext-authz-ns[foo]-policy[none]-rule[0]'], { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });
});

test('unusable providers keep the policy fail-closed in the DENY filter, with a message naming the reason', () => {
  const cases: Array<[string, RegExp, MeshConfig?]> = [
    ['unknown', /extension provider "unknown" is not in meshConfig.extensionProviders \(available: sample-ext-authz-grpc/],
    ['missing-service', /envoyExtAuthzHttp.service: no service with hostname nowhere.foo.svc.cluster.local/],
    ['sample-ext-authz-grpc', /not in meshConfig.extensionProviders \(none defined\)/, defaultMeshConfig()],
  ];
  for (const [provider, why, m] of cases) {
    const { http, problems } = filters(CUSTOM(provider), m);
    assert.equal(http.length, 1, provider);
    assert.equal(http[0]!.name, 'envoy.filters.http.rbac');
    assert.equal(http[0]!.typed_config.rules.action, 'DENY');
    assert.deepEqual(Object.keys(http[0]!.typed_config.rules.policies), ['ns[foo]-policy[ext-authz]-rule[0]']);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^AuthorizationPolicy foo\/ext-authz: /);
    assert.match(problems[0]!, why);
    assert.match(problems[0]!, /fail closed/);
  }
  const two = filters(CUSTOM('sample-ext-authz-grpc', 'one') + CUSTOM('sample-ext-authz-http', 'two'));
  assert.deepEqual(two.http.map((f) => f.name), ['envoy.filters.http.rbac']);
  assert.equal(two.problems.length, 2);
  assert.match(two.problems[0]!, /must name one provider; found "sample-ext-authz-grpc", "sample-ext-authz-http"/);
});

test('TCP chains and dry-run: CUSTOM stays fail-closed on TCP (no network ext_authz); a dry-run CUSTOM policy is a shadow DENY', () => {
  const { tcp } = filters(CUSTOM('sample-ext-authz-grpc'));
  assert.equal(tcp.length, 1);
  assert.equal(tcp[0].rules.action, 'DENY');
  assert.deepEqual(Object.keys(tcp[0].rules.policies), ['ns[foo]-policy[ext-authz]-rule[0]']);
  const dry = CUSTOM('sample-ext-authz-grpc').replace('metadata: {name: ext-authz, namespace: foo}', 'metadata: {name: ext-authz, namespace: foo, annotations: {"istio.io/dry-run": "true"}}');
  const { http } = filters(dry);
  assert.deepEqual(http.map((f) => f.name), ['envoy.filters.http.rbac']);
  assert.equal(http[0]!.typed_config.rules, undefined);
  assert.deepEqual(Object.keys(http[0]!.typed_config.shadow_rules.policies), ['ns[foo]-policy[ext-authz]-rule[0]']);
});

test('meshConfig: ext authz providers are validated field by field', () => {
  const r = parseMeshConfig(`extensionProviders:
- name: a
  envoyExtAuthzHttp: {service: "", port: 70000, pathPrefix: check, statusOnError: nope, timeout: soon, includeRequestHeadersInCheck: ["*"], bogus: 1, includeRequestBodyInCheck: {maxRequestBytes: 0}}
- name: b
  envoyExtAuthzGrpc: {service: ext-authz.foo.svc.cluster.local, port: "x"}
`);
  const byPath = Object.fromEntries(r.errors.map((e) => [e.path, e.message]));
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.service']!, /required/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.port']!, /\[1, 65535\], got 70000/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.pathPrefix']!, /begin with "\/"/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.statusOnError']!, /HTTP status code/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.timeout']!, /duration/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.includeRequestHeadersInCheck']!, /single wildcard/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.bogus']!, /unknown field/);
  assert.match(byPath['extensionProviders[0].envoyExtAuthzHttp.includeRequestBodyInCheck.maxRequestBytes']!, /greater than 0/);
  assert.match(byPath['extensionProviders[1].envoyExtAuthzGrpc.port']!, /got "x"/);
  assert.equal(r.errors.length, 9);
});

test('the filters encode with Envoy\'s protos and the proxy honours every field they set', () => {
  const grpc = filters(CUSTOM('sample-ext-authz-grpc')).http;
  const http = filters(CUSTOM('sample-ext-authz-http')).http;
  const body = filters(CUSTOM('with-body')).http;
  for (const f of [...grpc, ...http, ...body]) {
    const { '@type': type, ...rest } = f.typed_config;
    const { '@type': _t, ...back } = unpackAny(toAny(f.typed_config));
    assert.deepEqual(back, normalize(type, rest), f.name);
    assert.deepEqual(walkResource(type, back), [], `${f.name}: every field in the proxy's support table`);
  }
});

test('meshConfig: ext authz providers are enforced (no warning), tracing providers tsmesh has no exporter for still warn', () => {
  const { mesh, errors } = parseMeshConfig(`extensionProviders:
- name: http
  envoyExtAuthzHttp: {service: ext-authz.foo.svc.cluster.local, port: "8000", includeRequestHeadersInCheck: [x-ext-authz]}
- name: grpc
  envoyExtAuthzGrpc: {service: ext-authz.foo.svc.cluster.local, port: 9000}
- name: body
  envoyExtAuthzGrpc: {service: ext-authz.foo.svc.cluster.local, port: 9000, includeRequestBodyInCheck: {maxRequestBytes: 10}}
- name: datadog
  datadog: {service: datadog-agent.datadog.svc.cluster.local, port: 8126}
`);
  assert.deepEqual(errors, []);
  const w = meshSupportWarnings(mesh);
  assert.deepEqual(w.map((x) => x.path), ['extensionProviders[3]']);
  assert.match(w[0]!.message, /issue 12: /);
});
