/**
 * An LDS update adding a listener on an address another process holds is NACKed over the real
 * ADS stream, naming the listener and the address (TSMESH_ERR_ADDRESS_IN_USE), and the listeners
 * already serving keep serving (issue 7 bug 12, xDS side). Before, the update was ACKed because
 * validation could not wait for Node's asynchronous bind: the error only reached the log and
 * the listener silently never existed. Once the address is free, the same listener is accepted.
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
import { ERR } from '../../src/api/errors.ts';
import { closeServer, listen, roundTrip, startTag, staticCluster, tcpListener, until } from './helpers.ts';

for (const mode of ['sotw', 'delta'] as const) {
  test(`LDS (${mode}): a new listener whose address is taken is NACKed naming it and the address; the running listener keeps serving`, async () => {
    const app = await startTag('app');
    const squatter = net.createServer((s) => s.destroy());
    const takenPort = await listen(squatter);
    let listeners: EnvoyJson[] = [tcpListener('serving', 'app')];
      const generator: Generator = (_push, _proxy, typeUrl, names) => {
      let out: { name: string; resource: EnvoyJson }[] = [];
      if (typeUrl === TYPE.CLUSTER) out = [{ name: 'app', resource: staticCluster('app', [app.port]) }];
      if (typeUrl === TYPE.LISTENER) out = listeners.map((l) => ({ name: l.name, resource: l }));
      return out.filter((r) => !names || names.includes(r.name));
    };
    const { ads, port: xdsPort } = await startAdsServer(generator, {});
    const bootstrap = validateBootstrap(buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, ...(await ownPorts()), discoveryAddress: `127.0.0.1:${xdsPort}`, workloadName: 'app', delta: mode === 'delta' }));
    const server = new ProxyServer({ bootstrap, drainMs: 0, initialFetchTimeoutMs: 5000 });
    const lastNack = () => ads.connections()[0]?.types[TYPE.LISTENER]?.lastNack;
    try {
      await server.start();
      const port = server.listeners.active.get('serving')!.boundPort;
      assert.equal(await roundTrip(port, ''), 'app');

      listeners = [tcpListener('serving', 'app'), tcpListener('squatted', 'app', takenPort)];
      ads.configUpdate({ full: true, reason: 'add a listener on a taken port' });
      await until(() => lastNack() !== undefined, 'LDS NACK');
      const nack = lastNack()!;
      assert.match(nack.message, new RegExp(`listener squatted: address 127\\.0\\.0\\.1:${takenPort} is already in use \\[${ERR.ADDRESS_IN_USE}\\]`));
      assert.equal(server.listeners.active.has('squatted'), false);
      assert.equal(await roundTrip(port, ''), 'app', 'the previous listeners keep serving');

      // Same content would not be resent (versions follow content): the control plane's next
      // version of that listener arrives once the address is free.
      await closeServer(squatter);
      listeners = [tcpListener('serving', 'app'), tcpListener('squatted', 'app', takenPort, { listener_filters_timeout: '5s' })];
      ads.configUpdate({ full: true, reason: 'the address is free now' });
      await until(() => server.listeners.active.has('squatted') && lastNack() === undefined, 'LDS ACK once the address is free');
      await server.listeners.listening();
      assert.equal(await roundTrip(takenPort, ''), 'app', 'the new listener serves on the address it reserved');
    } finally {
      await server.shutdown(0);
      await ads.close();
      await app.close();
      await closeServer(squatter).catch(() => {});
    }
  });
}
