/**
 * The pure parts of the RBAC engine: MetadataMatcher / ValueMatcher on the shapes Istio's
 * translation emits for request.auth.* (istio_authn keys with dots, nested claims, list-valued
 * claims under list_match, the extended jwt_authn payload form with or_match of list and scalar),
 * Envoy's missing-value semantics, uri_template paths, and the engine's policy order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMetadataMatcher } from '../../src/proxy/rbac/value_matcher.ts';
import { compileUriTemplate } from '../../src/proxy/rbac/uri_template.ts';
import { compileRbac } from '../../src/proxy/rbac/engine.ts';
import { RbacRequest } from '../../src/proxy/rbac/request.ts';
import type { ConnectionInfo, StreamInfo } from '../../src/proxy/interfaces.ts';
import { PATH_MATCH } from '../../src/xds/type_urls.ts';

type Md = Map<string, Record<string, unknown>>;
const md = (ns: string, fields: Record<string, unknown>): Md => new Map([[ns, fields]]);

test("Istio's istio_authn matchers: a key with dots, nested claims, list-valued claims", () => {
  const meta = md('istio_authn', {
    'request.auth.principal': 'https://issuer.example/alice',
    'request.auth.claims': { groups: ['dev', 'group1'], iss: ['https://issuer.example'], nested1: { nested2: ['deep'] } },
  });
  const principal = compileMetadataMatcher({ filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: { exact: 'https://issuer.example/alice' } } }, 'm');
  const group = (g: string) => compileMetadataMatcher({ filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: g } } } } }, 'm');
  const nested = compileMetadataMatcher({ filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'nested1' }, { key: 'nested2' }], value: { list_match: { one_of: { string_match: { prefix: 'de' } } } } }, 'm');
  assert.deepEqual([principal(meta), group('group1')(meta), group('admin')(meta), nested(meta), principal(undefined), group('dev')(new Map())], [true, true, false, true, false, false]);
});

test("the extended jwt_authn form: or_match over a list or a scalar claim, as Istio emits for aud/azp/claims", () => {
  const aud = compileMetadataMatcher(
    {
      filter: 'envoy.filters.http.jwt_authn',
      path: [{ key: 'payload' }, { key: 'aud' }],
      value: { or_match: { value_matchers: [{ list_match: { one_of: { string_match: { exact: 'bookinfo' } } } }, { string_match: { exact: 'bookinfo' } }] } },
    },
    'm',
  );
  const ns = 'envoy.filters.http.jwt_authn';
  assert.deepEqual(
    [aud(md(ns, { payload: { aud: ['x', 'bookinfo'] } })), aud(md(ns, { payload: { aud: 'bookinfo' } })), aud(md(ns, { payload: { aud: ['x'] } })), aud(md(ns, { payload: { aud: 'x' } })), aud(md(ns, {}))],
    [true, true, false, false, false],
  );
});

test("a missing value: only present_match false matches it; invert flips the result; kinds must agree", () => {
  const m = (value: object, invert = false) => compileMetadataMatcher({ filter: 'f', path: [{ key: 'a' }, { key: 'b' }], value, invert }, 'm');
  const none = md('f', { a: 'not a struct' });
  const withNull = md('f', { a: { b: null } });
  const withTrue = md('f', { a: { b: true } });
  const withNum = md('f', { a: { b: 3 } });
  assert.deepEqual(
    [
      m({ present_match: true })(none),
      m({ present_match: false })(none),
      m({ null_match: {} })(none),
      m({ null_match: {} })(withNull),
      m({ bool_match: true })(withTrue),
      m({ string_match: { exact: 'true' } })(withTrue),
      m({ double_match: { range: { start: 1, end: 3 } } })(withNum),
      m({ double_match: { exact: 3 } })(withNum),
      m({ string_match: { exact: 'x' } }, true)(none),
    ],
    [false, true, false, true, true, false, false, true, true],
  );
  assert.throws(() => m({}), /ValueMatcher needs one of/);
  assert.throws(() => m({ or_match: { value_matchers: [{ bool_match: true }] } }), /at least 2/);
});

test("uri_template: * is one segment, ** any number, {name} and {name=**} as Envoy reads them", () => {
  const t = (template: string) => compileUriTemplate({ name: 'u', typed_config: { '@type': PATH_MATCH.URI_TEMPLATE, path_template: template } }, 'p');
  const cases: [string, string, boolean][] = [
    ['/videos/*/*/*.m4s', '/videos/123414/hls/1080p5000_00001.m4s', true],
    ['/videos/*/*/*.m4s', '/videos/123414/1080p5000_00001.m4s', false],
    ['/videos/{file}', '/videos/1080p5000_00001.m4s', true],
    ['/videos/{file}', '/videos/a/b', false],
    ['/**.mpd', '/content/123/india/dash/55/manifest.mpd', true],
    ['/**.mpd', '/content/manifest.mp4', false],
    ['/api/{rest=**}', '/api/', true],
    ['/api/{rest=**}', '/api/v1/users', true],
    ['/api/{rest=**}', '/apix/v1', false],
    ['/a.b/*', '/aXb/c', false],
  ];
  assert.deepEqual(
    cases.map(([tpl, path]) => `${tpl} ${path} ${t(tpl)(path)}`),
    cases.map(([tpl, path, want]) => `${tpl} ${path} ${want}`),
  );
  assert.throws(() => compileUriTemplate({ name: 'u', typed_config: { '@type': 'type.googleapis.com/other.Type', path_template: '/x' } }, 'p'), /unsupported path matcher/);
});

test('the engine: the first matching policy by name is reported; ALLOW, DENY and LOG decide as Envoy', () => {
  const conn: ConnectionInfo = { remoteAddress: '10.0.0.5', remotePort: 5000, localAddress: '10.0.0.1', localPort: 9080 };
  const req = (path: string) => new RbacRequest(conn, new Map([[':path', path], [':method', 'GET']]), { startTime: 0, responseFlags: [], attemptCount: 0, bytesReceived: 0, bytesSent: 0, connection: conn } as StreamInfo, undefined);
  const policies = {
    'z-admin': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] },
    'a-admin-from-ten': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }] },
  };
  const decide = (action: string, path: string) => {
    const r = compileRbac({ action, policies }).evaluate(req(path));
    return `${r.allowed ? 'allow' : 'deny'} ${r.policyId ?? 'none'}`;
  };
  assert.deepEqual(
    ['ALLOW', 'DENY', 'LOG'].flatMap((a) => [decide(a, '/admin/x'), decide(a, '/public')]),
    ['allow a-admin-from-ten', 'deny none', 'deny a-admin-from-ten', 'allow none', 'allow a-admin-from-ten', 'allow none'],
  );
  const rules = { action: 'DENY', policies };
  assert.equal(compileRbac(rules), compileRbac(rules), 'compiled once per config object');
  assert.throws(() => compileRbac({ action: 'AUDIT', policies: {} }), /action: unknown action "AUDIT"/);
  assert.throws(() => compileRbac({ policies: { p: { permissions: [{ any: true }], principals: [{ any: true }], condition: {} } } }), /policies\[p\]: CEL conditions/);
  assert.throws(() => compileRbac({ policies: { p: { permissions: [{ brand_new: {} }], principals: [{ any: true }] } } }), /policies\[p\]\.permissions\[0\]\.brand_new: unknown RBAC permission kind "brand_new"/);
  assert.throws(() => compileRbac({ policies: { p: { permissions: [{ any: true }], principals: [{ brand_new: {} }] } } }), /unknown RBAC principal kind "brand_new"/);
  assert.throws(() => compileRbac({ policies: { p: { permissions: [{ any: true, header: { name: 'x' } }], principals: [{ any: true }] } } }), /exactly one rule, got any, header/);
});
