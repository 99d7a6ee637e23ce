
/**
 * Router behaviour on the wire: real requests through the HCM to real upstreams on 127.0.0.1:0 —
 * virtual host selection, route matching, rewrites, redirects, direct responses, header
 * mutations, weighted/header clusters, mirroring, retries, timeouts and failure flags.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../src/proxy/http/index.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';
import { until } from '../../helpers/poll.ts';
import { HTTP_FILTER } from '../../../src/xds/type_urls.ts';
import { refusedPort } from '../../helpers/refused_port.ts';

const json = (b: string) => JSON.parse(b);

describe('route matching and actions', () => {
  let a: Upstream, b: Upstream, shadow: Upstream;
  let p: TestProxy;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    shadow = await startUpstream('shadow');
    const rc = {
      name: 'rc',
      request_headers_to_add: [{ header: { key: 'x-rc', value: 'rc' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      response_headers_to_add: [{ header: { key: 'x-rc-resp', value: 'yes' } }],
      virtual_hosts: [
        {
          name: 'exact',
          domains: ['exact.example.com', 'exact.example.com:8080'],
          routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'exact' } } }],
        },
        { name: 'suffix', domains: ['*.wild.com'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'suffix' } } }] },
        { name: 'prefix', domains: ['api.*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'prefix' } } }] },
        { name: 'port', domains: ['ported.com'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'port-stripped' } } }] },
        {
          name: 'main',
          domains: ['*'],
          request_headers_to_add: [{ header: { key: 'x-vh', value: 'vh' } }],
          routes: [
            { match: { path: '/exact-path' }, route: { cluster: 'b' } },
            { match: { prefix: '/CaseLess', case_sensitive: false }, route: { cluster: 'b' } },
            { match: { safe_regex: { regex: '/re/[0-9]+' } }, route: { cluster: 'b' } },
            { match: { path_separated_prefix: '/sep' }, route: { cluster: 'b' } },
            { match: { prefix: '/hdr', headers: [{ name: 'x-ver', string_match: { exact: 'v2' } }] }, route: { cluster: 'b' } },
            { match: { prefix: '/hdr', headers: [{ name: 'x-legacy', exact_match: 'yes' }] }, route: { cluster: 'b', prefix_rewrite: '/legacy' } },
            { match: { prefix: '/hdr', headers: [{ name: 'x-num', range_match: { start: 10, end: 20 } }] }, direct_response: { status: 200, body: { inline_string: 'range' } } },
            { match: { prefix: '/hdr', headers: [{ name: 'x-absent', present_match: true, invert_match: true }, { name: 'user-agent', string_match: { prefix: 'TEST', ignore_case: true } }] }, direct_response: { status: 200, body: { inline_string: 'ua' } } },
            { match: { prefix: '/q', query_parameters: [{ name: 'debug', string_match: { exact: '1' } }] }, direct_response: { status: 200, body: { inline_string: 'q-debug' } } },
            { match: { prefix: '/q', query_parameters: [{ name: 'flag', present_match: true }] }, direct_response: { status: 200, body: { inline_string: 'q-flag' } } },
            { match: { prefix: '/rewrite/' }, route: { cluster: 'a', prefix_rewrite: '/new/', host_rewrite_literal: 'rewritten.local' } },
            { match: { prefix: '/regex/' }, route: { cluster: 'a', regex_rewrite: { pattern: { regex: '^/regex/([a-z]+)/(\\d+)$' }, substitution: '/r/\\2/\\1' } } },
            { match: { prefix: '/redirect-https' }, redirect: { https_redirect: true } },
            { match: { prefix: '/redirect-path' }, redirect: { path_redirect: '/other', response_code: 'FOUND', strip_query: true } },
            { match: { prefix: '/redirect-prefix/' }, redirect: { prefix_rewrite: '/p2/', host_redirect: 'elsewhere.com', port_redirect: 9443, scheme_redirect: 'https', response_code: 'TEMPORARY_REDIRECT' } },
            { match: { prefix: '/direct-bytes' }, direct_response: { status: 201, body: { inline_bytes: Buffer.from('bytes!').toString('base64') } } },
            { match: { prefix: '/direct-empty' }, direct_response: { status: 204 } },
            {
              match: { prefix: '/headers' },
              request_headers_to_add: [
                { header: { key: 'x-route', value: 'r' } },
                { header: { key: 'x-client', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } },
                { header: { key: 'x-keep', value: 'mine' }, append_action: 'ADD_IF_ABSENT' },
                { header: { key: 'x-rc', value: 'route-level' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
              ],
              request_headers_to_remove: ['x-remove-me'],
              response_headers_to_add: [{ header: { key: 'x-resp', value: 'added' } }],
              response_headers_to_remove: ['x-upstream'],
              route: { cluster: 'a' },
            },
            { match: { prefix: '/by-header' }, route: { cluster_header: 'x-cluster' } },
            { match: { prefix: '/nocluster' }, route: { cluster: 'missing' } },
            { match: { prefix: '/mirror' }, route: { cluster: 'a', request_mirror_policies: [{ cluster: 'shadow' }] } },
            { match: { prefix: '/decorated' }, decorator: { operation: 'my-op' }, route: { cluster: 'a' } },
            { match: { prefix: '/' }, route: { cluster: 'a' } },
          ],
        },
      ],
    };
    p = await startHcm(hcmConfig(rc), [
      { name: 'a', ports: [a.port] },
      { name: 'b', ports: [b.port] },
      { name: 'shadow', ports: [shadow.port] },
    ]);
  });
  after(async () => {
    await p.close();
    await Promise.all([a.close(), b.close(), shadow.close()]);
  });

  test('virtual hosts: exact, host:port, *.suffix, prefix.*, port stripping, * fallback', async () => {
    assert.equal((await request(p.port, { headers: { host: 'exact.example.com' } })).body, 'exact');
    assert.equal((await request(p.port, { headers: { host: 'EXACT.example.com:8080' } })).body, 'exact');
    assert.equal((await request(p.port, { headers: { host: 'a.b.wild.com' } })).body, 'suffix');
    assert.equal((await request(p.port, { headers: { host: 'api.anything.io' } })).body, 'prefix');
    assert.equal((await request(p.port, { headers: { host: 'ported.com:1234' } })).body, 'port-stripped');
    assert.equal(json((await request(p.port, { headers: { host: 'other.com' } })).body).name, 'a');
  });

  test('path, case-insensitive prefix, safe_regex and path_separated_prefix', async () => {
    assert.equal(json((await request(p.port, { path: '/exact-path?x=1' })).body).name, 'b');
    assert.equal(json((await request(p.port, { path: '/exact-path/more' })).body).name, 'a');
    assert.equal(json((await request(p.port, { path: '/caseless/x' })).body).name, 'b');
    assert.equal(json((await request(p.port, { path: '/re/123' })).body).name, 'b');
    assert.equal(json((await request(p.port, { path: '/re/12a' })).body).name, 'a');
    assert.equal(json((await request(p.port, { path: '/sep' })).body).name, 'b');
    assert.equal(json((await request(p.port, { path: '/sep/x' })).body).name, 'b');
    assert.equal(json((await request(p.port, { path: '/separate' })).body).name, 'a');
  });

  test('header matchers: string_match, legacy exact_match, range, present+invert, ignore_case', async () => {
    assert.equal(json((await request(p.port, { path: '/hdr', headers: { 'x-ver': 'v2' } })).body).name, 'b');
    const legacy = json((await request(p.port, { path: '/hdr/x', headers: { 'x-legacy': 'yes' } })).body);
    assert.equal(legacy.name, 'b');
    assert.equal(legacy.url, '/legacy/x');
    assert.equal((await request(p.port, { path: '/hdr', headers: { 'x-num': '15' } })).body, 'range');
    assert.equal(json((await request(p.port, { path: '/hdr', headers: { 'x-num': '20', 'user-agent': 'curl' } })).body).name, 'a');
    assert.equal((await request(p.port, { path: '/hdr', headers: { 'user-agent': 'test-agent' } })).body, 'ua');
    assert.equal(json((await request(p.port, { path: '/hdr', headers: { 'user-agent': 'test-agent', 'x-absent': '1' } })).body).name, 'a');
  });

  test('query parameter matchers', async () => {
    assert.equal((await request(p.port, { path: '/q?debug=1' })).body, 'q-debug');
    assert.equal((await request(p.port, { path: '/q?debug=2&flag' })).body, 'q-flag');
    assert.equal(json((await request(p.port, { path: '/q?debug=2' })).body).name, 'a');
  });

  test('prefix_rewrite + host_rewrite_literal, regex_rewrite keeps the query', async () => {
    const r = json((await request(p.port, { path: '/rewrite/x/y?z=1' })).body);
    assert.equal(r.url, '/new/x/y?z=1');
    assert.equal(r.headers.host, 'rewritten.local');
    assert.equal(r.headers['x-envoy-original-path'], '/rewrite/x/y?z=1');
    const g = json((await request(p.port, { path: '/regex/abc/42?k=v' })).body);
    assert.equal(g.url, '/r/42/abc?k=v');
  });

  test('redirects', async () => {
    const r1 = await request(p.port, { path: '/redirect-https/a?b=c', headers: { host: 'site.com' } });
    assert.equal(r1.status, 301);
    assert.equal(r1.headers.location, 'https://site.com/redirect-https/a?b=c');
    const r2 = await request(p.port, { path: '/redirect-path?q=1', headers: { host: 'site.com:8080' } });
    assert.equal(r2.status, 302);
    assert.equal(r2.headers.location, 'http://site.com:8080/other');
    const r3 = await request(p.port, { path: '/redirect-prefix/x?y=1', headers: { host: 'site.com' } });
    assert.equal(r3.status, 307);
    assert.equal(r3.headers.location, 'https://elsewhere.com:9443/p2/x?y=1');
    assert.equal(p.stats.get('http.test.rq_redirect'), 3);
  });

  test('direct responses: inline_bytes and empty body; route-config response headers apply', async () => {
    const r = await request(p.port, { path: '/direct-bytes' });
    assert.equal(r.status, 201);
    assert.equal(r.body, 'bytes!');
    assert.equal(r.headers['x-rc-resp'], 'yes');
    const e = await request(p.port, { path: '/direct-empty' });
    assert.equal(e.status, 204);
    assert.equal(e.body, '');
  });

  test('request/response header mutations at route, vhost and route-config levels', async () => {
    const r = await request(p.port, { path: '/headers', headers: { 'x-remove-me': '1', 'x-keep': 'theirs' } });
    const seen = json(r.body).headers;
    assert.equal(seen['x-route'], 'r');
    assert.equal(seen['x-vh'], 'vh');
    assert.equal(seen['x-client'], '127.0.0.1');
    assert.equal(seen['x-keep'], 'theirs');
    assert.equal(seen['x-remove-me'], undefined);
    // Least specific level wins on overwrite by default (route config after route).
    assert.equal(seen['x-rc'], 'rc');
    assert.ok(seen['x-request-id']);
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-envoy-expected-rq-timeout-ms'], '15000');
    assert.equal(r.headers['x-resp'], 'added');
    assert.equal(r.headers['x-upstream'], undefined);
    assert.equal(r.headers.server, 'envoy');
    assert.ok(Number(r.headers['x-envoy-upstream-service-time']) >= 0);
  });

  test('cluster_header, missing cluster (NC) and no route', async () => {
    assert.equal(json((await request(p.port, { path: '/by-header', headers: { 'x-cluster': 'b' } })).body).name, 'b');
    const nc = await request(p.port, { path: '/by-header', headers: { 'x-cluster': 'nope' } });
    assert.equal(nc.status, 503);
    const nc2 = await request(p.port, { path: '/nocluster' });
    assert.equal(nc2.status, 503);
    assert.ok(p.completed.some((c) => c.responseFlags.includes('NC')));
    assert.equal(p.stats.get('http.test.no_cluster'), 2);
  });

  test('mirroring reaches the shadow with -shadow host and does not change the response', async () => {
    const before = shadow.seen.length;
    const r = await request(p.port, { method: 'POST', path: '/mirror', headers: { host: 'svc:8080' }, body: 'payload' });
    assert.equal(json(r.body).name, 'a');
    await until(() => shadow.seen.length > before);
    const s = shadow.seen[shadow.seen.length - 1];
    assert.equal(s.headers.host, 'svc-shadow:8080');
    assert.equal(s.body, 'payload');
  });

  test('decorator operation propagates upstream', async () => {
    assert.equal(json((await request(p.port, { path: '/decorated' })).body).headers['x-envoy-decorator-operation'], 'my-op');
  });
});

describe('no route', () => {
  test('404 with NR and empty body', async () => {
    const up = await startUpstream('a');
    const p = await startHcm(hcmConfig({ name: 'rc', virtual_hosts: [{ name: 'v', domains: ['only.com'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }] }] }), [{ name: 'a', ports: [up.port] }]);
    try {
      const r = await request(p.port, { headers: { host: 'else.com' } });
      assert.equal(r.status, 404);
      assert.equal(r.body, '');
      await until(() => p.completed.length > 0);
      assert.deepEqual(p.completed[0].responseFlags, ['NR']);
      assert.equal(p.stats.get('http.test.no_route'), 1);
      assert.equal(p.stats.get('http.test.downstream_rq_4xx'), 1);
    } finally {
      await p.close();
      await up.close();
    }
  });
});

describe('RDS and idle timeout', () => {
  test('route config comes from the RouteConfigProvider by name; route idle_timeout gives 408', async () => {
    const slow = await startUpstream('slow', (_q, res) => {
      setTimeout(() => res.end('late'), 1500).unref();
      return true;
    });
    const hcm = { stat_prefix: 'test', rds: { route_config_name: 'dyn' }, http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }] };
    const p = await startHcm(hcm, [{ name: 's', ports: [slow.port] }]);
    try {
      assert.equal((await request(p.port)).status, 404);
      p.routes.set('dyn', { name: 'dyn', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 's', idle_timeout: '0.2s' } }] }] });
      const r = await request(p.port);
      assert.equal(r.status, 408);
      assert.equal(r.body, 'stream timeout');
      await until(() => p.completed.some((c) => c.responseFlags.includes('SI')));
    } finally {
      await p.close();
      await slow.close();
    }
  });
});

describe('weighted clusters', () => {
  test('1,000 requests split 80/20 within tolerance with a seeded random', async () => {
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            {
              match: { prefix: '/' },
              route: {
                weighted_clusters: {
                  clusters: [
                    { name: 'a', weight: 80 },
                    { name: 'b', weight: 20, request_headers_to_add: [{ header: { key: 'x-picked', value: 'b' } }] },
                  ],
                },
              },
            },
          ],
        },
      ],
    };
    const p = await startHcm(hcmConfig(rc), [
      { name: 'a', ports: [a.port] },
      { name: 'b', ports: [b.port] },
    ], { random: seededRandom(42) });
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 8 });
    try {
      const counts: Record<string, number> = { a: 0, b: 0 };
      for (let i = 0; i < 1000; i += 50) {
        const batch = await Promise.all(Array.from({ length: 50 }, () => request(p.port, { agent })));
        for (const r of batch) counts[json(r.body).name]++;
      }
      assert.ok(counts.a >= 750 && counts.a <= 850, `a=${counts.a}`);
      assert.equal(counts.a + counts.b, 1000);
      assert.ok(b.seen.every((s) => s.headers['x-picked'] === 'b'));
      assert.ok(a.seen.every((s) => s.headers['x-picked'] === undefined));
    } finally {
      agent.destroy();
      await p.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('retries, timeouts and upstream failures', () => {
  test('503 then 200 succeeds on retry with x-envoy-attempt-count 2 upstream', async () => {
    const flaky = await startUpstream('flaky', (_req, res, _b, n) => {
      if (n === 1) {
        res.writeHead(503).end('busy');
        return true;
      }
    });
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          include_request_attempt_count: true,
          include_attempt_count_in_response: true,
          routes: [{ match: { prefix: '/' }, route: { cluster: 'f', retry_policy: { retry_on: '5xx', num_retries: 2 } } }],
        },
      ],
    };
    const p = await startHcm(hcmConfig(rc), [{ name: 'f', ports: [flaky.port] }]);
    try {
      const r = await request(p.port, { method: 'POST', body: 'data' });
      assert.equal(r.status, 200);
      assert.equal(flaky.seen.length, 2);
      assert.equal(flaky.seen[0].headers['x-envoy-attempt-count'], '1');
      assert.equal(flaky.seen[1].headers['x-envoy-attempt-count'], '2');
      assert.equal(flaky.seen[1].body, 'data');
      assert.equal(r.headers['x-envoy-attempt-count'], '2');
      assert.equal(p.stats.get('cluster.f.upstream_rq_retry'), 1);
      assert.equal(p.stats.get('cluster.f.upstream_rq_retry_success'), 1);
    } finally {
      await p.close();
      await flaky.close();
    }
  });

  test('retries exhausted pass the last 503 through with URX', async () => {
    const bad = await startUpstream('bad', (_req, res) => {
      res.writeHead(503).end('nope');
      return true;
    });
    const rc = { name: 'rc', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'x', retry_policy: { retry_on: 'gateway-error', num_retries: 2 } } }] }] };
    const p = await startHcm(hcmConfig(rc), [{ name: 'x', ports: [bad.port] }]);
    try {
      const r = await request(p.port);
      assert.equal(r.status, 503);
      assert.equal(r.body, 'nope');
      assert.equal(bad.seen.length, 3);
      await until(() => p.completed.length === 1);
      assert.ok(p.completed[0].responseFlags.includes('URX'));
    } finally {
      await p.close();
      await bad.close();
    }
  });

  test('route timeout gives 504 with UT; per-try timeout retries', async () => {
    let n = 0;
    const slow = await startUpstream('slow', (_req, res) => {
      n++;
      if (n === 1 || n === 3) {
        setTimeout(() => res.end('late'), 1500).unref();
        return true;
      }
    });
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/pertry' }, route: { cluster: 's', timeout: '5s', retry_policy: { retry_on: 'reset', num_retries: 1, per_try_timeout: '0.2s' } } },
            { match: { prefix: '/' }, route: { cluster: 's', timeout: '0.2s' } },
          ],
        },
      ],
    };
    const p = await startHcm(hcmConfig(rc), [{ name: 's', ports: [slow.port] }]);
    try {
      const r1 = await request(p.port, { path: '/pertry' });
      assert.equal(r1.status, 200);
      assert.equal(p.stats.get('cluster.s.upstream_rq_per_try_timeout'), 1);
      const r2 = await request(p.port, { path: '/' });
      assert.equal(r2.status, 504);
      assert.equal(r2.body, 'upstream request timeout');
      await until(() => p.completed.some((c) => c.responseFlags.includes('UT')));
      assert.equal(p.stats.get('cluster.s.upstream_rq_timeout'), 1);
    } finally {
      await p.close();
      await slow.close();
    }
  });

  test('connection failure gives 503 UF; no hosts gives UH; circuit breaker gives UO', async () => {
    const deadPort = await refusedPort();
    const hold = await startUpstream('hold', (_req, res) => {
      setTimeout(() => res.end('ok'), 300).unref();
      return true;
    });
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/dead' }, route: { cluster: 'dead' } },
            { match: { prefix: '/empty' }, route: { cluster: 'empty' } },
            { match: { prefix: '/' }, route: { cluster: 'hold' } },
          ],
        },
      ],
    };
    const p = await startHcm(hcmConfig(rc), [
      { name: 'dead', ports: [deadPort] },
      { name: 'empty', ports: [] },
      { name: 'hold', ports: [hold.port], maxRequests: 1 },
    ]);
    try {
      const uf = await request(p.port, { path: '/dead' });
      assert.equal(uf.status, 503);
      assert.match(uf.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
      const uh = await request(p.port, { path: '/empty' });
      assert.equal(uh.status, 503);
      assert.equal(uh.body, 'no healthy upstream');
      const [r1, r2] = await Promise.all([request(p.port), request(p.port)]);
      const statuses = [r1.status, r2.status].sort();
      assert.deepEqual(statuses, [200, 503]);
      const over = r1.status === 503 ? r1 : r2;
      assert.equal(over.headers['x-envoy-overloaded'], 'true');
      await until(() => p.completed.length === 4);
      const flags = p.completed.flatMap((c) => c.responseFlags).sort();
      assert.deepEqual(flags, ['UF', 'UH', 'UO']);
    } finally {
      await p.close();
      await hold.close();
    }
  });
});
