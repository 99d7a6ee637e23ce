/**
 * Issue 7, bug 4: config regexes run on RE2 only, compiled once at config time. A pattern that
 * would backtrack exponentially on V8 answers promptly and never stalls other connections; RE2's
 * own syntax means what it means in Envoy; what RE2 rejects (back-references) rejects the config
 * with TSMESH_ERR_INVALID_REGEX naming the field, including hash_policy's regex_rewrite.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ERR } from '../../../src/api/errors.ts';
import { compileRegexRewrite, compileSafeRegex } from '../../../src/proxy/http/common/regex.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';
import { HTTP_FILTER } from '../../../src/xds/type_urls.ts';

const direct = (text: string) => ({ status: 200, body: { inline_string: text } });

function routes(extra: object[]): object {
  return { name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [...extra, { match: { prefix: '/' }, direct_response: direct('fallthrough') }] }] };
}

describe('RE2 on the wire', () => {
  let p: TestProxy;
  let up: Upstream;
  before(async () => {
    up = await startUpstream('up');
    p = await startHcm(
      hcmConfig(
        routes([
          { match: { prefix: '/evil', headers: [{ name: 'x-evil', string_match: { safe_regex: { regex: '(a+)+b' } } }] }, direct_response: direct('evil matched') },
          { match: { safe_regex: { regex: '/\\x{41}' } }, direct_response: direct('hex escape') },
          { match: { prefix: '/ok' }, route: { cluster: 'up' } },
        ]),
      ),
      [{ name: 'up', ports: [up.port] }],
    );
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  test('(a+)+b against 30 characters answers at once and another connection is served meanwhile', async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const [evil, ok] = await Promise.all([request(p.port, { path: '/evil', headers: { 'x-evil': 'a'.repeat(30) } }), request(p.port, { path: '/ok' })]);
    delay.disable();
    assert.equal(evil.body, 'fallthrough', 'the pathological header does not match and the next route answers');
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).name, 'up');
    // V8's backtracking needs tens of seconds here; RE2 microseconds. The bound is generous.
    assert.ok(delay.max / 1e6 < 2000, `event loop stalled ${(delay.max / 1e6).toFixed(0)} ms`);
    const good = await request(p.port, { path: '/evil', headers: { 'x-evil': 'aaab' } });
    assert.equal(good.body, 'evil matched');
  });

  test("RE2 syntax means RE2's meaning: \\x{41} is the letter A (V8 would read 41 x's)", async () => {
    assert.equal((await request(p.port, { path: '/A' })).body, 'hex escape');
    assert.equal((await request(p.port, { path: '/' + 'x'.repeat(41) })).body, 'fallthrough');
  });
});

describe('what RE2 rejects is rejected at config time, naming the field', () => {
  const rejects = (hcm: object, field: RegExp) =>
    assert.rejects(startHcm(hcm, [{ name: 'c', ports: [1] }]), (e: Error & { code?: string }) => {
      assert.equal(e.code, ERR.INVALID_REGEX);
      assert.match(e.message, field);
      return true;
    });

  test('a back-reference in a route regex', async () => {
    await rejects(hcmConfig(routes([{ match: { safe_regex: { regex: '/(a)\\1' } }, route: { cluster: 'c' } }])), /safe_regex/);
  });

  test("a back-reference in hash_policy's header regex_rewrite (was compiled per request by V8)", async () => {
    const hash = [{ header: { header_name: 'x-user', regex_rewrite: { pattern: { regex: '(a)\\1' }, substitution: 'x' } } }];
    await rejects(hcmConfig(routes([{ match: { prefix: '/h' }, route: { cluster: 'c', hash_policy: hash } }])), /hash_policy\[0\]\.header\.regex_rewrite/);
  });

  test('a CORS origin regex', async () => {
    const cors = { '@type': HTTP_FILTER.CORS_POLICY, allow_origin_string_match: [{ safe_regex: { regex: '(?=x)' } }] };
    const rc = { ...routes([]), virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: direct('x') }], typed_per_filter_config: { 'envoy.filters.http.cors': cors } }] };
    const filters = [{ name: 'envoy.filters.http.cors', typed_config: { '@type': HTTP_FILTER.CORS } }];
    await rejects(hcmConfig(rc, {}, filters), /allow_origin_string_match\[0\]/);
  });

  test('a substitution naming a group the pattern lacks', () => {
    assert.throws(() => compileRegexRewrite({ pattern: { regex: '/(x)' }, substitution: '\\2' }, 'r'), { code: ERR.INVALID_REGEX });
  });
});

describe('rewrites use RE2 substitution syntax', () => {
  test('\\N groups, \\\\ a backslash, $ literal, every match replaced', () => {
    const r = compileRegexRewrite({ pattern: { regex: '([a-z]+)-(\\d+)' }, substitution: '\\2$\\\\\\1' }, 'r');
    assert.equal(r('/ab-12/cd-3'), '/12$\\ab/3$\\cd');
    assert.equal(compileRegexRewrite({ pattern: { regex: 'é' }, substitution: 'e' }, 'r')('/café/é'), '/cafe/e');
  });
  test('literal patterns match only themselves', () => {
    assert.equal(compileSafeRegex({ regex: '/exact' }, 'm').matches('/exact'), true);
    assert.equal(compileSafeRegex({ regex: '/exact' }, 'm').matches('/exactly'), false);
  });
});
