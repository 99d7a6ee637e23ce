/**
 * The HTTP side's time comes from the injected Clock (FactoryContext.clock): a 30 s fault delay and
 * a 20 s route timeout play out on a manual clock, with real requests and no sleeping.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_FILTER } from '../../../src/xds/type_urls.ts';
import { until } from '../../helpers/poll.ts';
import { hcmConfig, request, startHcm, startUpstream, type TestProxy, type Upstream } from './harness.ts';
import { ManualClock } from '../../helpers/clock.ts';

describe('injected clock', () => {
  let up: Upstream;
  let shadow: Upstream;
  let shadowClosed = 0;
  let p: TestProxy;
  const clock = new ManualClock();
  before(async () => {
    // /never: the upstream holds the request until the test ends.
    up = await startUpstream('up', (req, res) => {
      if (req.url !== '/never') return false;
      req.socket.once('close', () => res.destroy());
      return true;
    });
    // The mirror's copy is held for ever; only the shadow timeout can end it.
    shadow = await startUpstream('shadow', (req) => {
      req.socket.once('close', () => shadowClosed++);
      return true;
    });
    const rc = {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'v',
          domains: ['*'],
          routes: [
            { match: { prefix: '/delay' }, route: { cluster: 'up' }, typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': HTTP_FILTER.FAULT, delay: { fixed_delay: '30s', percentage: { numerator: 100 } } } } },
            { match: { prefix: '/never' }, route: { cluster: 'up', timeout: '20s' } },
            { match: { prefix: '/mirror' }, route: { cluster: 'up', timeout: '15s', request_mirror_policies: [{ cluster: 'shadow' }] } },
          ],
        },
      ],
    };
    const fault = { name: 'envoy.filters.http.fault', typed_config: { '@type': HTTP_FILTER.FAULT } };
    p = await startHcm(hcmConfig(rc, {}, [fault]), [{ name: 'up', ports: [up.port] }, { name: 'shadow', ports: [shadow.port] }], { clock });
  });
  after(async () => {
    await p.close();
    await up.close();
    await shadow.close();
  });

  test('a 30 s fault delay ends when the clock says 30 s passed', async () => {
    const res = request(p.port, { path: '/delay' });
    await until(() => p.stats.get('http.test.fault.delays_injected') === 1, 'delay injected');
    await clock.advance(29_999);
    assert.equal(up.seen.length, 0, 'still delayed');
    await clock.advance(1);
    const r = await res;
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).name, 'up');
  });

  test('a 20 s route timeout answers 504 when the clock says so', async () => {
    const res = request(p.port, { path: '/never' });
    await until(() => up.seen.some((s) => s.url === '/never'), 'request upstream');
    await clock.advance(20_000);
    const r = await res;
    assert.equal(r.status, 504);
    assert.equal(p.completed.at(-1)?.responseFlags.includes('UT'), true);
  });

  test('a mirror copy is cancelled when the clock says the route timeout passed', async () => {
    const r = await request(p.port, { path: '/mirror' });
    assert.equal(r.status, 200);
    await until(() => shadow.seen.some((s) => s.url === '/mirror'), 'shadow copy sent');
    await clock.advance(14_999);
    assert.equal(shadowClosed, 0, 'shadow still pending');
    await clock.advance(1);
    await until(() => shadowClosed === 1, 'shadow request aborted at 15 s');
  });
});
