/**
 * The fault and CORS filters on the wire: delays (100%, lower bound only), abort percentages with
 * a seeded random, per-route overrides, header-controlled faults, gRPC aborts; CORS preflight
 * answered locally and actual requests decorated only for allowed origins.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { seededRandom } from '../../../src/proxy/http/index.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';
import { HTTP_FILTER } from '../../../src/xds/type_urls.ts';

const FAULT = HTTP_FILTER.FAULT;
const CORS = HTTP_FILTER.CORS;

describe('fault filter', () => {
  let up: Upstream;
  let p: TestProxy;
  before(async () => {
    up = await startUpstream('a');
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/delay' }, route: { cluster: 'a' }, typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT, delay: { fixed_delay: '0.2s', percentage: { numerator: 100 } } } } },
            { match: { prefix: '/half' }, route: { cluster: 'a' }, typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT, abort: { http_status: 503, percentage: { numerator: 5000, denominator: 'TEN_THOUSAND' } } } } },
            { match: { prefix: '/grpc' }, route: { cluster: 'a' }, typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT, abort: { grpc_status: 14, percentage: { numerator: 100 } } } } },
            { match: { prefix: '/hdr' }, route: { cluster: 'a' }, typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT, abort: { header_abort: {}, percentage: { numerator: 100 } } } } },
            { match: { prefix: '/' }, route: { cluster: 'a' } },
          ],
        },
      ],
    };
    // The listener-level config never fires (0%), so unconfigured routes pass untouched.
    const filters = [{ name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT, abort: { http_status: 500, percentage: { numerator: 0 } } } }];
    p = await startHcm(hcmConfig(rc, {}, filters), [{ name: 'a', ports: [up.port] }], { random: seededRandom(7) });
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  test('a 200 ms delay at 100% holds the request at least that long, then forwards it (DI)', async () => {
    const t0 = Date.now();
    const r = await request(p.port, { method: 'POST', path: '/delay', body: 'held body' });
    assert.ok(Date.now() - t0 >= 190, 'not before the delay');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).body, 'held body');
    assert.ok(p.completed.some((c) => c.responseFlags.includes('DI')));
    assert.equal(p.stats.get('http.test.fault.delays_injected'), 1);
  });

  test('50% aborts over 400 requests stay within tolerance (FI)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let aborted = 0;
    try {
      for (let i = 0; i < 400; i += 40) {
        const rs = await Promise.all(Array.from({ length: 40 }, () => request(p.port, { path: '/half', agent })));
        for (const r of rs) {
          if (r.status === 503) {
            assert.equal(r.body, 'fault filter abort');
            aborted++;
          } else assert.equal(r.status, 200);
        }
      }
    } finally {
      agent.destroy();
    }
    assert.ok(aborted >= 160 && aborted <= 240, `aborted=${aborted}`);
    assert.equal(p.stats.get('http.test.fault.aborts_injected'), aborted);
  });

  test('gRPC abort answers HTTP 200 with grpc-status', async () => {
    const r = await request(p.port, { method: 'POST', path: '/grpc', headers: { 'content-type': 'application/grpc' }, body: '' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['grpc-status'], '14');
    assert.equal(r.headers['grpc-message'], 'fault filter abort');
  });

  test('header-controlled abort only when the header asks', async () => {
    assert.equal((await request(p.port, { path: '/hdr', headers: { 'x-envoy-fault-abort-request': '418' } })).status, 418);
    assert.equal((await request(p.port, { path: '/hdr' })).status, 200);
    assert.equal((await request(p.port, { path: '/other' })).status, 200);
  });
});

describe('cors filter', () => {
  let up: Upstream;
  let p: TestProxy;
  before(async () => {
    up = await startUpstream('a');
    const policy = {
      '@type': HTTP_FILTER.CORS_POLICY,
      allow_origin_string_match: [{ exact: 'https://app.example.com' }, { suffix: '.trusted.io' }],
      allow_methods: 'GET, POST, PUT',
      allow_headers: 'content-type, x-token',
      expose_headers: 'x-upstream',
      max_age: '600',
      allow_credentials: true,
    };
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/api' }, route: { cluster: 'a' }, typed_per_filter_config: { 'envoy.filters.http.cors': policy } },
            { match: { prefix: '/' }, route: { cluster: 'a' } },
          ],
        },
      ],
    };
    p = await startHcm(hcmConfig(rc, {}, [{ name: 'envoy.filters.http.cors', typed_config: { '@type': CORS } }]), [{ name: 'a', ports: [up.port] }]);
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  test('preflight from an allowed origin is answered locally', async () => {
    const before = up.seen.length;
    const r = await request(p.port, { method: 'OPTIONS', path: '/api/x', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, POST, PUT');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type, x-token');
    assert.equal(r.headers['access-control-max-age'], '600');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(up.seen.length, before);
  });

  test('actual request gets allow-origin and expose-headers; disallowed origin gets none', async () => {
    const ok = await request(p.port, { path: '/api/y', headers: { origin: 'https://x.trusted.io' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://x.trusted.io');
    assert.equal(ok.headers['access-control-expose-headers'], 'x-upstream');
    const bad = await request(p.port, { path: '/api/y', headers: { origin: 'https://evil.com' } });
    assert.equal(bad.status, 200);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    const badPre = await request(p.port, { method: 'OPTIONS', path: '/api/z', headers: { origin: 'https://evil.com', 'access-control-request-method': 'GET' } });
    assert.equal(badPre.headers['access-control-allow-origin'], undefined);
    const noPolicy = await request(p.port, { path: '/other', headers: { origin: 'https://app.example.com' } });
    assert.equal(noPolicy.headers['access-control-allow-origin'], undefined);
  });
});
