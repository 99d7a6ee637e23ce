/**
 * AuthorizationPolicy as the RBAC filters pilot gives a sidecar: which policies reach it (root
 * namespace, its namespace, selector), the filter order AUDIT → DENY → ALLOW, Istio's policy
 * names, dry-run as shadow rules, path templates in Envoy's uri_template syntax, and the TCP
 * rules for HTTP-only keys. What the proxy then does with them is tested end to end in
 * test/integration/istio_authorization_*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authzHttpFilters, authzNetworkFilters } from '../../src/pilot/authz/index.ts';
import { proxyFor, pushFromYaml, workload } from './fixtures.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
`;
const web = workload('web-1', '127.0.9.1', { app: 'web' }, { namespace: 'shop' });

function ap(namespace: string, name: string, spec: string, annotations = ''): string {
  return `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${namespace}${annotations}}\nspec: ${spec}\n`;
}
function filters(policies: string) {
  const push = pushFromYaml(SERVICE + policies, [web]);
  const proxy = proxyFor(web);
  return { http: authzHttpFilters(push, proxy).map((f) => f.typed_config), tcp: authzNetworkFilters(push, proxy).map((f) => f.typed_config) };
}
const names = (cfg: any) => Object.keys(cfg.rules?.policies ?? {}).sort();

test('scope: root namespace and own namespace apply; a selector must match; other namespaces and targetRefs do not', () => {
  const { http } = filters(
    ap('istio-system', 'mesh', '{action: DENY, rules: [{to: [{operation: {paths: ["/a"]}}]}]}') +
      ap('shop', 'ns', '{action: DENY, rules: [{to: [{operation: {paths: ["/b"]}}]}]}') +
      ap('shop', 'sel', '{selector: {matchLabels: {app: web}}, action: DENY, rules: [{to: [{operation: {paths: ["/c"]}}]}]}') +
      ap('shop', 'other', '{selector: {matchLabels: {app: db}}, action: DENY, rules: [{to: [{operation: {paths: ["/d"]}}]}]}') +
      ap('elsewhere', 'x', '{action: DENY, rules: [{to: [{operation: {paths: ["/e"]}}]}]}') +
      ap('shop', 'gw', '{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}], action: DENY, rules: [{to: [{operation: {paths: ["/f"]}}]}]}'),
  );
  assert.equal(http.length, 1);
  assert.deepEqual(names(http[0]), ['ns[istio-system]-policy[mesh]-rule[0]', 'ns[shop]-policy[ns]-rule[0]', 'ns[shop]-policy[sel]-rule[0]']);
});

test('order AUDIT, DENY, ALLOW; no policy means no filter; allow-nothing is an ALLOW that never matches', () => {
  assert.deepEqual(filters(''), { http: [], tcp: [] });
  const { http } = filters(ap('shop', 'allow-nothing', '{}') + ap('shop', 'd', '{action: DENY, rules: [{}]}') + ap('shop', 'a', '{action: AUDIT, rules: [{}]}'));
  assert.deepEqual(http.map((c: any) => c.rules.action), ['LOG', 'DENY', 'ALLOW']);
  assert.deepEqual(http[2].rules.policies['ns[shop]-policy[allow-nothing]-rule[0]'], { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });
  // An empty rule matches everything.
  assert.deepEqual(http[1].rules.policies['ns[shop]-policy[d]-rule[0]'], { permissions: [{ and_rules: { rules: [{ any: true }] } }], principals: [{ and_ids: { ids: [{ any: true }] } }] });
});

test('dry-run policies become shadow rules with Istio stat prefixes, beside enforced ones', () => {
  const { http } = filters(ap('shop', 'dry', '{action: DENY, rules: [{}]}', ', annotations: {"istio.io/dry-run": "true"}') + ap('shop', 'real', '{action: DENY, rules: [{}]}'));
  assert.deepEqual(names(http[0]), ['ns[shop]-policy[real]-rule[0]']);
  assert.deepEqual(Object.keys(http[0].shadow_rules.policies), ['ns[shop]-policy[dry]-rule[0]']);
  assert.equal(http[0].shadow_rules_stat_prefix, 'istio_dry_run_deny_');
});

test('values: principals get spiffe://, namespaces match inside the principal, hosts ignore case, path templates use Envoy syntax', () => {
  const { http } = filters(
    ap('shop', 'p', '{rules: [{from: [{source: {principals: ["cluster.local/ns/a/sa/b"], namespaces: ["team-*"]}}], to: [{operation: {hosts: ["Web.Shop"], paths: ["/api/{*}/items/{**}"]}}]}]}'),
  );
  const pol = http[0].rules.policies['ns[shop]-policy[p]-rule[0]'];
  assert.deepEqual(pol.principals[0].and_ids.ids, [
    { or_ids: { ids: [{ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/a/sa/b' } } }] } },
    { or_ids: { ids: [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/team-.*/.*' } } } }] } },
  ]);
  const rules = pol.permissions[0].and_rules.rules;
  assert.deepEqual(rules[0], { or_rules: { rules: [{ header: { name: ':authority', string_match: { exact: 'Web.Shop', ignore_case: true } } }] } });
  assert.equal(rules[1].or_rules.rules[0].uri_template.typed_config.path_template, '/api/*/items/**');
});

test('TCP: a DENY drops HTTP-only keys (denies more), an ALLOW rule using them is left out (admits nothing)', () => {
  const { tcp } = filters(
    ap('shop', 'd', '{action: DENY, rules: [{to: [{operation: {methods: ["GET"], ports: ["9000"]}}]}]}') +
      ap('shop', 'a', '{rules: [{to: [{operation: {methods: ["GET"]}}]}, {to: [{operation: {ports: ["9001"]}}]}]}'),
  );
  assert.deepEqual(tcp[0].rules.policies['ns[shop]-policy[d]-rule[0]'].permissions, [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 9000 }] } }] } }]);
  assert.deepEqual(names(tcp[1]), ['ns[shop]-policy[a]-rule[1]']);
  assert.equal(tcp[0].stat_prefix, 'tcp.');
});
