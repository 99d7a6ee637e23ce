/**
 * Route max_stream_duration, on the wire with a slow upstream and a manual clock: the stream's
 * whole life is capped (408 before the response started, a reset after), and with
 * grpc_timeout_header_max a grpc-timeout header sets the cap, limited to that maximum.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ManualClock } from '../../helpers/clock.ts';
import { until } from '../../helpers/poll.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';

describe('max_stream_duration', () => {
  let up: Upstream;
  let p: TestProxy;
  const clock = new ManualClock();
  before(async () => {
    // /hold never answers; /trickle sends headers and one chunk, then stalls.
    up = await startUpstream('up', (req, res) => {
      if (req.url?.startsWith('/hold')) {
        req.socket.once('close', () => res.destroy());
        return true;
      }
      if (req.url?.startsWith('/trickle')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        req.socket.once('close', () => res.destroy());
        return true;
      }
      return false;
    });
    const route = (prefix: string, msd: Record<string, string>) => ({ match: { prefix }, route: { cluster: 'up', timeout: '0s', max_stream_duration: msd } });
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            route('/hold/capped', { max_stream_duration: '5s' }),
            route('/trickle', { max_stream_duration: '5s' }),
            route('/hold/grpc', { max_stream_duration: '30s', grpc_timeout_header_max: '3s' }),
            route('/hold/off', { max_stream_duration: '0s' }),
          ],
        },
      ],
    };
    p = await startHcm(hcmConfig(rc), [{ name: 'up', ports: [up.port] }], { clock });
  });
  after(async () => {
    await p.close();
    await up.close();
  });

  const seen = (url: string) => until(() => up.seen.some((s) => s.url === url), `${url} upstream`);

  test('a stream still waiting for its response at max_stream_duration gets 408', async () => {
    const res = request(p.port, { path: '/hold/capped' });
    await seen('/hold/capped');
    await clock.advance(4_999);
    assert.equal(p.stats.get('http.test.downstream_rq_max_duration_reached'), 0);
    await clock.advance(1);
    const r = await res;
    assert.equal(r.status, 408);
    assert.equal(r.body, 'downstream duration timeout');
    assert.equal(p.stats.get('http.test.downstream_rq_max_duration_reached'), 1);
  });

  test('a response still streaming at max_stream_duration is reset', async () => {
    const aborted = new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: p.port, path: '/trickle', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('aborted', () => resolve(`aborted after ${res.statusCode} ${body}`));
        res.on('end', () => resolve(`ended ${body}`));
      });
      req.on('error', () => resolve('error'));
    });
    await seen('/trickle');
    await clock.advance(5_000);
    assert.equal(await aborted, 'aborted after 200 partial');
  });

  test('grpc-timeout sets the cap when grpc_timeout_header_max is set, limited to it', async () => {
    const short = request(p.port, { path: '/hold/grpc/1', headers: { 'grpc-timeout': '1S' } });
    const long = request(p.port, { path: '/hold/grpc/2', headers: { 'grpc-timeout': '60S' } });
    const none = request(p.port, { path: '/hold/grpc/3' });
    await seen('/hold/grpc/1');
    await seen('/hold/grpc/2');
    await seen('/hold/grpc/3');
    await clock.advance(1_000);
    assert.equal((await short).status, 408, 'the header: 1 s');
    await clock.advance(2_000);
    assert.equal((await long).status, 408, '60 s limited to grpc_timeout_header_max 3 s');
    let settled = false;
    void none.then(() => (settled = true));
    await clock.advance(26_999);
    assert.equal(settled, false, 'no header: max_stream_duration 30 s');
    await clock.advance(1);
    assert.equal((await none).status, 408);
  });

  test('max_stream_duration 0s disables the cap', async () => {
    const before = p.stats.get('http.test.downstream_rq_max_duration_reached');
    void request(p.port, { path: '/hold/off' }).catch(() => {});
    await seen('/hold/off');
    await clock.advance(3_600_000);
    assert.equal(p.stats.get('http.test.downstream_rq_max_duration_reached'), before);
  });
});
