/**
 * The HCM's path options, on the wire: normalize_path (RFC 3986) and merge_slashes decide what
 * routing and the upstream see; path_with_escaped_slashes_action keeps, rejects (400), redirects
 * (307 to the unescaped path) or forwards unescaped a path with %2F / %5C.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hcmConfig, rawExchange, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

const routes = {
  name: 'rc',
  virtual_hosts: [
    {
      name: 'v',
      domains: ['*'],
      routes: [
        { match: { prefix: '/b' }, route: { cluster: 'b' } },
        { match: { prefix: '/' }, route: { cluster: 'other' } },
      ],
    },
  ],
};

describe('path normalization', () => {
  let b: Upstream;
  let other: Upstream;
  const proxies: TestProxy[] = [];
  const start = async (extra: Record<string, unknown>) => {
    const p = await startHcm(hcmConfig(routes, extra), [
      { name: 'b', ports: [b.port] },
      { name: 'other', ports: [other.port] },
    ]);
    proxies.push(p);
    return p;
  };
  before(async () => {
    b = await startUpstream('b');
    other = await startUpstream('other');
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await b.close();
    await other.close();
  });

  test('normalize_path: /a/../b routes as /b and goes upstream as /b; unreserved escapes are decoded', async () => {
    const p = await start({ normalize_path: true });
    const r = await request(p.port, { path: '/a/../b?x=/../y' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).name, 'b');
    assert.equal(JSON.parse(r.body).url, '/b?x=/../y', 'query untouched');
    const r2 = await request(p.port, { path: '/a/%2e%2E/%62/./c%7e' });
    assert.deepEqual([JSON.parse(r2.body).name, JSON.parse(r2.body).url], ['b', '/b/c~']);
  });

  test('without normalize_path the dot segments reach routing untouched', async () => {
    const p = await start({});
    const r = await request(p.port, { path: '/a/../b' });
    assert.deepEqual([JSON.parse(r.body).name, JSON.parse(r.body).url], ['other', '/a/../b']);
  });

  test('normalize_path: a path that cannot be normalized is a 400', async () => {
    const p = await start({ normalize_path: true });
    const raw = await rawExchange(p.port, 'GET /b/%zz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal(p.stats.get('http.test.downstream_rq_failed_path_normalization'), 1);
  });

  test('merge_slashes: //b///c routes as /b/c', async () => {
    const p = await start({ merge_slashes: true });
    const r = await request(p.port, { path: '//b///c' });
    assert.deepEqual([JSON.parse(r.body).name, JSON.parse(r.body).url], ['b', '/b/c']);
  });

  test('KEEP_UNCHANGED (and the default) leaves %2F alone', async () => {
    for (const extra of [{ path_with_escaped_slashes_action: 'KEEP_UNCHANGED' }, {}]) {
      const p = await start(extra);
      const r = await request(p.port, { path: '/x%2Fb' });
      assert.deepEqual([JSON.parse(r.body).name, JSON.parse(r.body).url], ['other', '/x%2Fb']);
    }
  });

  test('REJECT_REQUEST answers 400 to %2F and %5c, and passes other paths', async () => {
    const p = await start({ path_with_escaped_slashes_action: 'REJECT_REQUEST' });
    assert.equal((await request(p.port, { path: '/a%2Fb' })).status, 400);
    assert.equal((await request(p.port, { path: '/a%5cb' })).status, 400);
    assert.equal((await request(p.port, { path: '/b?q=%2F' })).status, 200, 'the query is not the path');
    assert.equal(p.stats.get('http.test.downstream_rq_failed_path_normalization'), 2);
    assert.equal(b.seen.filter((s) => s.url.includes('%2F') && !s.url.includes('?')).length, 0);
  });

  test('UNESCAPE_AND_REDIRECT answers 307 to the unescaped (and normalized) path', async () => {
    const p = await start({ path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT', normalize_path: true });
    const r = await request(p.port, { path: '/x%2F..%2Fb%2fc?q=1' });
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, '/b/c?q=1');
    assert.equal(p.stats.get('http.test.downstream_rq_redirected_with_normalized_path'), 1);
    const follow = await request(p.port, { path: r.headers.location });
    assert.deepEqual([JSON.parse(follow.body).name, JSON.parse(follow.body).url], ['b', '/b/c?q=1']);
  });

  test('UNESCAPE_AND_FORWARD routes and forwards the unescaped path', async () => {
    const p = await start({ path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' });
    const r2 = await request(p.port, { path: '/b%2Fc' });
    assert.deepEqual([JSON.parse(r2.body).name, JSON.parse(r2.body).url], ['b', '/b/c']);
  });

  test('an unknown path_with_escaped_slashes_action is refused', async () => {
    await assert.rejects(start({ path_with_escaped_slashes_action: 'SOMETIMES' }), /path_with_escaped_slashes_action/);
  });
});
