/**
 * A new listener's address is bound while its LDS update is validated (so a taken port can be
 * NACKed). A client that connects in the window before the listener has warmed — here, before
 * its route configuration has arrived — waits, as it would in the kernel's backlog under Envoy,
 * and is served once the listener activates; it is not reset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Generator } from '../../src/pilot/types.ts';
import { ownPorts, startAdsServer } from '../helpers/ads_world.ts';
import { validateBootstrap } from '../../src/proxy/bootstrap.ts';
import { buildSidecarBootstrap, SIDECAR_DEFAULTS } from '../../src/agent/bootstrap.ts';
import { ProxyServer } from '../../src/proxy/server.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { freePort } from '../../src/demo/ports.ts';
import { httpListener, startTag, staticCluster, tcpListener, until } from './helpers.ts';

function rdsListener(name: string, port: number): EnvoyJson {
  return httpListener(name, [], port, { rds: { route_config_name: 'late', config_source: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '30s' } } });
}

/** Sends one HTTP/1.1 request on a fresh connection and resolves with the raw response text. */
function rawRequest(port: number): { sent: Promise<void>; response: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  const sent = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => socket.write('GET / HTTP/1.1\r\nhost: warm\r\nconnection: close\r\n\r\n', () => resolve()));
    socket.once('error', reject);
  });
  const response = new Promise<string>((resolve) => {
    socket.on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', () => {});
  });
  return { sent, response };
}

test('a connection that reaches a new listener while it warms is held, then served', async () => {
  const app = await startTag('app');
  const port = await freePort('127.0.0.1');
  let listeners: EnvoyJson[] = [tcpListener('serving', 'app')];
  let routeReady = false;
  const route = { name: 'late', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'warmed' } } }] }] };
  const generator: Generator = (_push, _proxy, typeUrl, names) => {
    let out: { name: string; resource: EnvoyJson }[] = [];
    if (typeUrl === TYPE.CLUSTER) out = [{ name: 'app', resource: staticCluster('app', [app.port]) }];
    if (typeUrl === TYPE.LISTENER) out = listeners.map((l) => ({ name: l.name, resource: l }));
    if (typeUrl === TYPE.ROUTE && routeReady) out = [{ name: 'late', resource: route }];
    return out.filter((r) => !names || names.includes(r.name));
  };
  const { ads, port: xdsPort } = await startAdsServer(generator, {});
  const bootstrap = validateBootstrap(buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, ...(await ownPorts()), discoveryAddress: `127.0.0.1:${xdsPort}`, workloadName: 'app' }));
  const server = new ProxyServer({ bootstrap, drainMs: 0, initialFetchTimeoutMs: 5000 });
  try {
    await server.start();
    listeners = [tcpListener('serving', 'app'), rdsListener('late', port)];
    ads.configUpdate({ full: true, reason: 'add an HTTP listener whose routes are not there yet' });
    await until(() => server.listeners.warming.has('late'), 'listener warming on its routes');
    const early = rawRequest(port);
    await early.sent;
    assert.equal(server.listeners.active.has('late'), false, 'still warming when the client connected');
    routeReady = true;
    ads.configUpdate({ full: true, reason: 'the routes arrive' });
    const text = await early.response;
    assert.match(text, /^HTTP\/1\.1 200/, `the held connection is served, got ${JSON.stringify(text.slice(0, 40))}`);
    assert.match(text, /warmed$/);
  } finally {
    await server.shutdown(0);
    await ads.close();
    await app.close();
  }
});
