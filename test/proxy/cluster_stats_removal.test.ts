/**
 * Issue 7 bug 13: once CDS removes a cluster, its stats leave /stats (and /stats/prometheus)
 * along with its /clusters entry, as in Envoy; a cluster whose name extends the removed one
 * ("a" vs "a.b") keeps its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/proxy/admin/admin.ts';
import { TYPE } from '../../src/xds/types.ts';
import { roundTrip, startEcho, startProxy, staticCluster, tcpListener } from './helpers.ts';

test('stats of a removed cluster leave /stats with the cluster; a cluster named with its prefix keeps its own', async () => {
  const echo = await startEcho();
  const proxy = await startProxy({});
  const admin = new AdminServer({ server: proxy.server, onQuit: () => undefined, version: 'tsmesh/test', commandLineOptions: { concurrency: 1 } });
  const port = await admin.listen('127.0.0.1', 0);
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
  try {
    const s = proxy.server;
    assert.equal(s.setResources(TYPE.CLUSTER, [staticCluster('a', [echo.port]), staticCluster('a.b', [echo.port])], 'c1').ok, true);
    assert.equal(s.setResources(TYPE.LISTENER, [tcpListener('to-a', 'a'), tcpListener('to-ab', 'a.b')], 'l1').ok, true);
    await s.listeners.listening();
    assert.equal(await roundTrip(s.listeners.active.get('to-a')!.boundPort, 'x'), 'x');
    assert.equal(await roundTrip(s.listeners.active.get('to-ab')!.boundPort, 'y'), 'y');
    assert.match(await get('/stats'), /^cluster\.a\.upstream_cx_total: 1$/m);
    assert.match(await get('/stats/prometheus'), /envoy_cluster_upstream_cx_total\{envoy_cluster_name="a"\} 1/);

    assert.equal(s.setResources(TYPE.LISTENER, [tcpListener('to-ab', 'a.b')], 'l2').ok, true);
    assert.equal(s.setResources(TYPE.CLUSTER, [staticCluster('a.b', [echo.port])], 'c2').ok, true);
    assert.doesNotMatch(await get('/clusters'), /^a::/m, 'cluster a left /clusters');
    const stats = await get('/stats');
    assert.doesNotMatch(stats, /^cluster\.a\.[a-z_]+:/m, 'no stat of cluster a is left');
    assert.match(stats, /^cluster\.a\.b\.upstream_cx_total: 1$/m, 'cluster a.b keeps its stats');
    assert.doesNotMatch(await get('/stats/prometheus'), /envoy_cluster_name="a"/);
  } finally {
    await admin.close();
    await proxy.close();
    await echo.close();
  }
});
