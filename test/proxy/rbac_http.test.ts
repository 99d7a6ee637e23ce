/**
 * envoy.filters.http.rbac on the wire, in a real proxy with a static bootstrap: each Permission
 * and Principal kind allows a request that has the attribute and refuses (403 "RBAC: access
 * denied") one that lacks it; ALLOW / DENY / LOG semantics; RBACPerRoute replacing and disabling
 * the filter's config; shadow rules that never deny but feed stats and dynamic metadata (read by
 * a second rbac filter's metadata rule, as Istio's filters read each other's); response code
 * details in the access log; bad configs refused with the field named, the old listener serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCESS_LOGGER, HTTP_FILTER, PATH_MATCH, RESOURCE } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { httpListener, startProxy, staticCluster, until, type Proxy } from './helpers.ts';
import { request, startUpstream, type Upstream } from './http/harness.ts';
import { allow, counter, perRoute, rbacHttpFilter } from './rbac_helpers.ts';

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } };

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An HTTP listener whose filters run before the router. */
function hcmListener(name: string, port: number, httpFilters: EnvoyJson[], routes: EnvoyJson[], hcm: EnvoyJson = {}): EnvoyJson {
  return httpListener(name, routes, port, { http_filters: [...httpFilters, ROUTER], ...hcm });
}

const header = (name: string, exact: string): EnvoyJson => ({ header: { name, string_match: { exact } } });

/** One case: a route /k/<name>/ whose RBACPerRoute allows only what `rules` allow, and requests with their expected status. */
interface Case {
  name: string;
  rules: EnvoyJson;
  requests: { path?: string; method?: string; headers?: Record<string, string>; status: number }[];
}

describe('HTTP rbac: each permission and principal kind, per-route', () => {
  let up: Upstream;
  let proxy: Proxy;
  let port: number;
  let logDir: string;
  const cases: Case[] = [];

  before(async () => {
    up = await startUpstream('up');
    port = await freePort();
    const P = (permissions: EnvoyJson[]) => allow('p', { permissions });
    const Q = (principals: EnvoyJson[]) => allow('p', { principals });
    cases.push(
      // ---- permissions ----
      { name: 'any', rules: P([{ any: true }]), requests: [{ status: 200 }] },
      // Istio's hosts and methods: :authority case-insensitively, :method with the legacy exact_match field.
      { name: 'authority', rules: P([{ header: { name: ':authority', string_match: { exact: 'Bookinfo.Example', ignore_case: true } } }]), requests: [{ headers: { host: 'bookinfo.example' }, status: 200 }, { headers: { host: 'other.example' }, status: 403 }] },
      { name: 'method', rules: P([{ header: { name: ':method', exact_match: 'GET' } }]), requests: [{ status: 200 }, { method: 'POST', status: 403 }] },
      { name: 'header', rules: P([header('x-role', 'admin')]), requests: [{ headers: { 'x-role': 'admin' }, status: 200 }, { headers: { 'x-role': 'user' }, status: 403 }, { status: 403 }] },
      {
        name: 'url_path',
        rules: P([{ url_path: { path: { exact: '/k/url_path/exact' } } }, { url_path: { path: { prefix: '/k/url_path/public/' } } }]),
        requests: [
          { path: '/k/url_path/exact?q=1', status: 200 },
          { path: '/k/url_path/public/a', status: 200 },
          { path: '/k/url_path/exactly', status: 403 },
          { path: '/k/url_path/private?next=/k/url_path/public/', status: 403 },
        ],
      },
      {
        name: 'uri_template',
        rules: P([{ uri_template: { name: 'uri-template', typed_config: { '@type': PATH_MATCH.URI_TEMPLATE, path_template: '/k/uri_template/*/items/**' } } }]),
        requests: [
          { path: '/k/uri_template/u1/items/a/b?x', status: 200 },
          { path: '/k/uri_template/u1/items/', status: 200 },
          { path: '/k/uri_template/u1/u2/items/a', status: 403 },
          { path: '/k/uri_template//items/a', status: 403 },
        ],
      },
      { name: 'and_rules', rules: P([{ and_rules: { rules: [header('x-a', '1'), header('x-b', '1')] } }]), requests: [{ headers: { 'x-a': '1', 'x-b': '1' }, status: 200 }, { headers: { 'x-a': '1' }, status: 403 }] },
      { name: 'or_rules', rules: P([{ or_rules: { rules: [header('x-a', '1'), header('x-b', '1')] } }]), requests: [{ headers: { 'x-b': '1' }, status: 200 }, { headers: { 'x-c': '1' }, status: 403 }] },
      { name: 'not_rule', rules: P([{ not_rule: header('x-a', '1') }]), requests: [{ status: 200 }, { headers: { 'x-a': '1' }, status: 403 }] },
      { name: 'destination_ip', rules: P([{ destination_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }]), requests: [{ status: 200 }] },
      { name: 'destination_ip_other', rules: P([{ destination_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }]), requests: [{ status: 403 }] },
      { name: 'destination_port', rules: P([{ destination_port: port }]), requests: [{ status: 200 }] },
      { name: 'destination_port_other', rules: P([{ destination_port: port === 65535 ? 1 : port + 1 }]), requests: [{ status: 403 }] },
      { name: 'destination_port_range', rules: P([{ destination_port_range: { start: port, end: port + 1 } }]), requests: [{ status: 200 }] },
      { name: 'destination_port_range_other', rules: P([{ destination_port_range: { start: port + 1, end: port + 100 } }]), requests: [{ status: 403 }] },
      // Plaintext: the SNI is the empty string, as in Envoy.
      { name: 'requested_server_name', rules: P([{ requested_server_name: { safe_regex: { regex: '.+' } } }]), requests: [{ status: 403 }] },
      // ---- principals ----
      { name: 'p_header', rules: Q([header('x-user', 'alice')]), requests: [{ headers: { 'x-user': 'alice' }, status: 200 }, { headers: { 'x-user': 'bob' }, status: 403 }] },
      { name: 'p_url_path', rules: Q([{ url_path: { path: { suffix: '/ok' } } }]), requests: [{ path: '/k/p_url_path/ok?z', status: 200 }, { path: '/k/p_url_path/no', status: 403 }] },
      { name: 'p_and_ids', rules: Q([{ and_ids: { ids: [header('x-a', '1'), header('x-b', '1')] } }]), requests: [{ headers: { 'x-a': '1', 'x-b': '1' }, status: 200 }, { headers: { 'x-b': '1' }, status: 403 }] },
      { name: 'p_or_ids', rules: Q([{ or_ids: { ids: [header('x-a', '1'), header('x-b', '1')] } }]), requests: [{ headers: { 'x-a': '1' }, status: 200 }, { status: 403 }] },
      { name: 'p_not_id', rules: Q([{ not_id: header('x-user', 'mallory') }]), requests: [{ status: 200 }, { headers: { 'x-user': 'mallory' }, status: 403 }] },
      { name: 'p_direct_remote_ip', rules: Q([{ direct_remote_ip: { address_prefix: '127.0.0.1', prefix_len: 32 } }]), requests: [{ headers: { 'x-forwarded-for': '10.1.2.3' }, status: 200 }] },
      { name: 'p_direct_remote_ip_other', rules: Q([{ direct_remote_ip: { address_prefix: '10.1.2.0', prefix_len: 24 } }]), requests: [{ headers: { 'x-forwarded-for': '10.1.2.3' }, status: 403 }] },
      { name: 'p_source_ip', rules: Q([{ source_ip: { address_prefix: '127.0.0.1', prefix_len: 32 } }]), requests: [{ status: 200 }] },
      // remote_ip is the client the HCM trusts: with use_remote_address false, the last x-forwarded-for entry.
      { name: 'p_remote_ip', rules: Q([{ remote_ip: { address_prefix: '10.1.2.0', prefix_len: 24 } }]), requests: [{ headers: { 'x-forwarded-for': '10.1.2.3' }, status: 200 }, { status: 403 }] },
      // Plaintext: no TLS, so nothing is authenticated.
      { name: 'p_authenticated', rules: Q([{ authenticated: {} }]), requests: [{ status: 403 }] },
      { name: 'p_any', rules: Q([{ any: true }]), requests: [{ status: 200 }] },
      // ---- actions ----
      { name: 'deny_action', rules: { action: 'DENY', policies: { 'deny-admin': { permissions: [{ url_path: { path: { prefix: '/k/deny_action/admin' } } }], principals: [{ any: true }] } } }, requests: [{ path: '/k/deny_action/admin/x', status: 403 }, { path: '/k/deny_action/public', status: 200 }] },
      { name: 'log_action', rules: { action: 'LOG', policies: { everything: { permissions: [{ any: true }], principals: [{ any: true }] } } }, requests: [{ status: 200 }] },
      // An ALLOW with no policies allows nothing (Istio's allow-nothing); a DENY with none denies nothing.
      { name: 'allow_nothing', rules: { action: 'ALLOW' }, requests: [{ status: 403 }] },
      { name: 'deny_nothing', rules: { action: 'DENY' }, requests: [{ status: 200 }] },
    );
    logDir = mkdtempSync(join(tmpdir(), 'rbac-log-'));
    const routes: EnvoyJson[] = [
      ...cases.map((c) => ({ match: { prefix: `/k/${c.name}/` }, route: { cluster: 'up' }, typed_per_filter_config: perRoute({ rules: c.rules }) })),
      // An RBACPerRoute without rbac turns the filter off for the route.
      { match: { prefix: '/disabled/' }, route: { cluster: 'up' }, typed_per_filter_config: perRoute(undefined) },
      { match: { prefix: '/' }, route: { cluster: 'up' } },
    ];
    // The filter's own config denies x-block: yes; the routes above replace it.
    const base = rbacHttpFilter({ rules: { action: 'DENY', policies: { 'block-header': { permissions: [header('x-block', 'yes')], principals: [{ any: true }] } } } });
    const accessLog = [{ name: 'envoy.access_loggers.file', typed_config: { '@type': ACCESS_LOGGER.FILE, path: join(logDir, 'a.log'), log_format: { text_format: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %RESPONSE_FLAGS%\n' } } }];
    proxy = await startProxy({ clusters: [staticCluster('up', [up.port])], listeners: [hcmListener('main', port, [base], routes, { access_log: accessLog })] });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  test('every kind allows what it matches and refuses what it does not', async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const c of cases) {
      for (const r of c.requests) {
        const path = r.path ?? `/k/${c.name}/x`;
        const res = await request(port, { path, method: r.method, headers: r.headers });
        const what = `${c.name} ${r.method ?? 'GET'} ${path} ${JSON.stringify(r.headers ?? {})}`;
        got.push(`${what} -> ${res.status}${res.status === 403 ? ` ${res.body}` : ''}`);
        want.push(`${what} -> ${r.status}${r.status === 403 ? ' RBAC: access denied' : ''}`);
      }
    }
    assert.deepEqual(got, want);
  });

  test("the filter's own config applies where no route overrides it; an empty RBACPerRoute disables it", async () => {
    assert.equal((await request(port, { path: '/plain', headers: { 'x-block': 'yes' } })).status, 403);
    assert.equal((await request(port, { path: '/plain' })).status, 200);
    assert.equal((await request(port, { path: '/disabled/x', headers: { 'x-block': 'yes' } })).status, 200);
    // A per-route config replaces the filter's, rather than adding to it.
    assert.equal((await request(port, { path: '/k/any/x', headers: { 'x-block': 'yes' } })).status, 200);
  });

  test('a deny is logged with the matched policy in the response code details; allowed and denied are counted', async () => {
    const before = { allowed: counter(proxy, 'http.main.rbac.allowed'), denied: counter(proxy, 'http.main.rbac.denied') };
    assert.equal((await request(port, { path: '/k/deny_action/admin/y' })).status, 403);
    assert.equal((await request(port, { path: '/k/header/y' })).status, 403);
    assert.equal((await request(port, { path: '/k/header/z', headers: { 'x-role': 'admin' } })).status, 200);
    assert.deepEqual({ allowed: counter(proxy, 'http.main.rbac.allowed') - before.allowed, denied: counter(proxy, 'http.main.rbac.denied') - before.denied }, { allowed: 1, denied: 2 });
    const file = join(logDir, 'a.log');
    const lines = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []);
    await until(() => lines().some((l) => l.startsWith('/k/header/z ')), 'the access log lines');
    assert.ok(lines().includes('/k/deny_action/admin/y 403 rbac_access_denied_matched_policy[deny-admin] -'), lines().join('\n'));
    assert.ok(lines().includes('/k/header/y 403 rbac_access_denied_matched_policy[none] -'), lines().join('\n'));
  });

  test('LOG never denies and counts what it would log', async () => {
    const logged = counter(proxy, 'http.main.rbac.logged');
    assert.equal((await request(port, { path: '/k/log_action/z' })).status, 200);
    assert.equal(counter(proxy, 'http.main.rbac.logged') - logged, 1);
  });
});

describe('HTTP rbac: shadow rules and dynamic metadata', () => {
  let up: Upstream;
  let proxy: Proxy;
  let port: number;
  let dryLogDir: string | undefined;

  before(async () => {
    up = await startUpstream('up');
    port = await freePort();
    // Istio's dry-run shape: shadow rules only, with its stat prefix. A second rbac filter then
    // enforces on the first one's dynamic metadata, which is how a later filter reads it.
    const dryRun = rbacHttpFilter({ shadow_rules: allow('ns[foo]-policy[viewer]-rule[0]', { principals: [header('x-user', 'alice')] }), shadow_rules_stat_prefix: 'istio_dry_run_allow_' });
    const onMetadata = rbacHttpFilter({
      rules: allow('from-metadata', {
        principals: [{ metadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_dry_run_allow_shadow_effective_policy_id' }], value: { string_match: { prefix: 'ns[foo]-' } } } }],
        permissions: [{ metadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_dry_run_allow_shadow_engine_result' }], value: { string_match: { exact: 'allowed' } } } }],
      }),
    });
    const denyOnInverted = rbacHttpFilter({
      rules: { action: 'DENY', policies: { 'no-result': { permissions: [{ metadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_dry_run_allow_shadow_engine_result' }], value: { present_match: true }, invert: true } }], principals: [{ any: true }] } } },
    });
    dryLogDir = mkdtempSync(join(tmpdir(), 'rbac-dry-log-'));
    // Istio's dry-run is visible in access logs through the shadow result in dynamic metadata.
    const dryLog = [{ name: 'envoy.access_loggers.file', typed_config: { '@type': ACCESS_LOGGER.FILE, path: join(dryLogDir, 'a.log'), log_format: { text_format: '%REQ(X-USER)% %RESPONSE_CODE% %DYNAMIC_METADATA(envoy.filters.http.rbac:istio_dry_run_allow_shadow_engine_result)% %DYNAMIC_METADATA(envoy.filters.http.rbac:istio_dry_run_allow_shadow_effective_policy_id)%\n' } } }];
    proxy = await startProxy({
      clusters: [staticCluster('up', [up.port])],
      listeners: [
        hcmListener('dry', port, [dryRun], [{ match: { prefix: '/' }, route: { cluster: 'up' } }], { access_log: dryLog }),
        hcmListener('meta', 0, [dryRun, denyOnInverted, onMetadata], [{ match: { prefix: '/' }, route: { cluster: 'up' } }]),
      ],
    });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
    if (dryLogDir) rmSync(dryLogDir, { recursive: true, force: true });
  });

  test('shadow rules never deny; they count shadow_allowed / shadow_denied under their prefix', async () => {
    assert.equal((await request(port, { headers: { 'x-user': 'alice' } })).status, 200);
    assert.equal((await request(port, { headers: { 'x-user': 'bob' } })).status, 200);
    assert.equal((await request(port)).status, 200);
    assert.deepEqual(
      ['shadow_allowed', 'shadow_denied', 'allowed', 'denied'].map((s) => counter(proxy, `http.dry.rbac.istio_dry_run_allow_${s}`)).concat(counter(proxy, 'http.dry.rbac.allowed')),
      [1, 2, 0, 0, 0],
    );
    // The access log records each dry-run decision (and the policy that allowed).
    const lines = await until(() => {
      const text = existsSync(join(dryLogDir!, 'a.log')) ? readFileSync(join(dryLogDir!, 'a.log'), 'utf8') : '';
      return text.split('\n').filter(Boolean).length >= 3 ? text.split('\n').filter(Boolean) : undefined;
    }, 'three access log lines', 5000, 20);
    assert.deepEqual(lines, ['alice 200 allowed ns[foo]-policy[viewer]-rule[0]', 'bob 200 denied -', '- 200 denied -']);
  });

  test("a later filter's metadata rule sees the shadow result and policy id", async () => {
    const p = proxy.port('meta');
    assert.equal((await request(p, { headers: { 'x-user': 'alice' } })).status, 200);
    assert.equal((await request(p, { headers: { 'x-user': 'bob' } })).status, 403);
    assert.deepEqual([counter(proxy, 'http.meta.rbac.allowed'), counter(proxy, 'http.meta.rbac.denied')], [3, 1]);
  });
});

describe('HTTP rbac: a config the proxy cannot enforce is refused, naming the field', () => {
  let up: Upstream;
  let proxy: Proxy;

  before(async () => {
    up = await startUpstream('up');
    proxy = await startProxy({ clusters: [staticCluster('up', [up.port])] });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
  });

  const listenerWith = (rules: EnvoyJson) => hcmListener('l', 0, [rbacHttpFilter({ rules })], [{ match: { prefix: '/' }, route: { cluster: 'up' } }]);

  test('unknown kinds, unsupported kinds and invalid policies NACK; the last good listener keeps enforcing', async () => {
    const good = proxy.server.setResources(RESOURCE.LISTENER, [listenerWith(allow('p', { permissions: [header('x-ok', '1')] }))], 'v1');
    assert.deepEqual(good, { ok: true });
    await proxy.server.listeners.listening();
    const p = proxy.port('l');
    assert.equal((await request(p)).status, 403);
    const bad: [EnvoyJson, RegExp][] = [
      [allow('p', { permissions: [{ made_up_kind: true }] }), /made_up_kind/],
      [allow('p', { principals: [{ filter_state: { key: 'k', string_match: { exact: 'v' } } }] }), /filter_state/],
      [allow('p', { permissions: [{ matcher: { name: 'm', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Empty' } } }] }), /matcher/],
      [{ action: 'ALLOW', policies: { p: { permissions: [], principals: [{ any: true }] } } }, /policies\[p\]\.permissions/],
      [allow('p', { permissions: [{ header: { name: 'x', string_match: { safe_regex: { regex: '(a' } } } }] }), /safe_regex/],
      [allow('p', { permissions: [{ uri_template: { name: 'u', typed_config: { '@type': PATH_MATCH.URI_TEMPLATE, path_template: '/a/**/b/**' } } }] }), /path_template/],
      [allow('p', { principals: [{ remote_ip: { address_prefix: 'not-an-ip', prefix_len: 8 } }] }), /remote_ip\.address_prefix/],
    ];
    for (const [rules, why] of bad) {
      const r = proxy.server.setResources(RESOURCE.LISTENER, [listenerWith(rules)], 'v2');
      assert.equal(r.ok, false, JSON.stringify(rules));
      assert.match(String((r as { error?: string }).error ?? JSON.stringify(r)), why);
    }
    assert.equal((await request(p)).status, 403, 'the previous listener still enforces');
    assert.equal((await request(p, { headers: { 'x-ok': '1' } })).status, 200);
  });
});
