/** The admin API answers in Envoy's shapes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/proxy/admin/admin.ts';
import { TYPE } from '../../src/xds/types.ts';
import { roundTrip, startEcho, startProxy, staticCluster, tcpListener } from './helpers.ts';

test('admin endpoints return Envoy-shaped output', async () => {
  const echo = await startEcho();
  const proxy = await startProxy({
    clusters: [staticCluster('static-echo', [echo.port])],
    listeners: [tcpListener('static-l', 'static-echo')],
    secrets: [{ name: 's1', tls_certificate: { certificate_chain: { inline_string: 'CERT' }, private_key: { inline_string: 'KEY' } } }],
  });
  const s = proxy.server;
  let quit = 0;
  const admin = new AdminServer({ server: s, onQuit: () => quit++, version: 'tsmesh/test', commandLineOptions: { concurrency: 1 } });
  const port = await admin.listen('127.0.0.1', 0);
  const get = async (path: string, method = 'GET') => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
  };
  try {
    s.setResources(TYPE.CLUSTER, [staticCluster('dyn', [echo.port], { type: 'EDS', load_assignment: undefined, eds_cluster_config: { eds_config: { ads: {} } } })], 'c1');
    s.setResources(TYPE.ENDPOINT, [{ cluster_name: 'dyn', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: echo.port } } } }] }] }], 'e1');
    s.setResources(TYPE.LISTENER, [tcpListener('dyn-l', 'dyn')], 'l1');
    await s.listeners.listening();
    assert.equal(await roundTrip(s.listeners.active.get('dyn-l')!.boundPort, 'x'), 'x');

    assert.deepEqual(await get('/ready'), { status: 200, body: 'LIVE\n', type: 'text/plain; charset=UTF-8' });
    const dump = JSON.parse((await get('/config_dump')).body);
    assert.deepEqual(dump.configs.map((c: any) => c['@type'].split('.').pop()), ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
    const [boot, clusters, listeners, , secrets] = dump.configs;
    assert.equal(boot.bootstrap.node.id, 'test-proxy');
    assert.equal(clusters.static_clusters[0].cluster['@type'], TYPE.CLUSTER);
    assert.equal(clusters.static_clusters[0].cluster.name, 'static-echo');
    assert.equal(clusters.dynamic_active_clusters[0].version_info, 'c1');
    assert.equal(clusters.dynamic_active_clusters[0].cluster.name, 'dyn');
    assert.equal(listeners.static_listeners[0].listener.name, 'static-l');
    assert.equal(listeners.dynamic_listeners[0].name, 'dyn-l');
    assert.equal(listeners.dynamic_listeners[0].active_state.version_info, 'l1');
    assert.equal(listeners.dynamic_listeners[0].active_state.listener['@type'], TYPE.LISTENER);
    assert.equal(secrets.static_secrets[0].name, 's1');
    assert.equal(secrets.static_secrets[0].secret.tls_certificate.private_key.inline_string, '[redacted]');
    const withEds = JSON.parse((await get('/config_dump?include_eds')).body);
    const eds = withEds.configs.find((c: any) => c['@type'].endsWith('EndpointsConfigDump'));
    assert.equal(eds.dynamic_endpoint_configs[0].endpoint_config.cluster_name, 'dyn');
    assert.equal(eds.dynamic_endpoint_configs[0].version_info, 'e1');
    const onlyActive = JSON.parse((await get('/config_dump?resource=dynamic_active_clusters')).body);
    assert.equal(onlyActive.configs.length, 1);

    const clustersText = (await get('/clusters')).body;
    assert.match(clustersText, new RegExp(`^dyn::127\\.0\\.0\\.1:${echo.port}::health_flags::healthy$`, 'm'));
    assert.match(clustersText, /^dyn::default_priority::max_connections::1024$/m);
    assert.match(clustersText, /^dyn::added_via_api::true$/m);
    assert.match(clustersText, /^static-echo::added_via_api::false$/m);
    const cj = JSON.parse((await get('/clusters?format=json')).body);
    const dyn = cj.cluster_statuses.find((c: any) => c.name === 'dyn');
    assert.deepEqual(dyn.host_statuses[0].address, { socket_address: { address: '127.0.0.1', port_value: echo.port } });
    assert.equal(dyn.host_statuses[0].health_status.eds_health_status, 'HEALTHY');

    assert.match((await get('/listeners')).body, /^dyn-l::127\.0\.0\.1:\d+$/m);
    assert.equal(JSON.parse((await get('/listeners?format=json')).body).listener_statuses.length, 2);
    const stats = (await get('/stats')).body;
    assert.match(stats, /^cluster\.dyn\.upstream_cx_total: 1$/m);
    assert.match(stats, /^server\.live: 1$/m);
    assert.match(stats, /^listener_manager\.total_listeners_active: 2$/m);
    const filtered = (await get('/stats?filter=^tcp\\.')).body;
    assert.match(filtered, /^tcp\.dyn-l\.downstream_cx_total: 1$/m);
    assert.ok(filtered.split('\n').filter(Boolean).every((l) => l.startsWith('tcp.')));
    // The filter is RE2, found anywhere in the name: lookahead (V8-only) is refused, not run.
    assert.match((await get('/stats?filter=dyn-l\\.downstream_cx_total')).body, /^tcp\.dyn-l\.downstream_cx_total: 1$/m);
    assert.equal((await get('/stats?filter=' + encodeURIComponent('(?=tcp)'))).status, 400);
    const prom = (await get('/stats/prometheus')).body;
    assert.match(prom, /^# TYPE envoy_cluster_upstream_cx_total counter$/m);
    assert.match(prom, /^envoy_cluster_upstream_cx_total\{envoy_cluster_name="dyn"\} 1$/m);
    assert.match(prom, /^envoy_server_live 1$/m);
    const info = JSON.parse((await get('/server_info')).body);
    assert.equal(info.state, 'LIVE');
    assert.equal(info.node.id, 'test-proxy');
    assert.equal(info.command_line_options.concurrency, 1);
    assert.match(info.uptime_current_epoch, /^\d+s$/);

    assert.equal((await get('/healthcheck/fail')).status, 405, 'mutations need POST');
    assert.equal((await get('/healthcheck/fail', 'POST')).status, 200);
    assert.deepEqual([(await get('/ready')).status, (await get('/ready')).body], [503, 'DRAINING\n']);
    await get('/healthcheck/ok', 'POST');
    assert.equal((await get('/ready')).status, 200);
    assert.equal((await get('/logging?level=debug', 'POST')).body, 'active loggers:\n  tsmesh: debug\n');
    assert.equal((await get('/logging?level=bogus', 'POST')).status, 400);
    await get('/logging?level=info', 'POST');
    assert.equal((await get('/nope')).status, 404);
    await get('/quitquitquit', 'POST');
    await new Promise((r) => setImmediate(r));
    assert.equal(quit, 1);
    assert.equal((await get('/drain_listeners', 'POST')).status, 200);
  } finally {
    await admin.close();
    await proxy.close();
    await echo.close();
  }
});
