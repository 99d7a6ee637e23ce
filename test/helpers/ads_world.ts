/**
 * An in-process ADS server (our DiscoveryServer) whose test generator reads a mutable `world`,
 * and a real `tsmesh proxy` process pointed at it with the one sidecar bootstrap builder. For
 * tests that need resources valid Istio YAML never produces (NACK cases, raw Envoy fields).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoveryServer } from '../../src/xds/server/discovery_server.ts';
import { SILENT_LOGGER } from '../../src/xds/server/core.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import type { Generator, Proxy, PushContext } from '../../src/pilot/types.ts';
import { buildSidecarBootstrap, SIDECAR_DEFAULTS, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { freePort } from './processes.ts';
import { spawnTsmesh } from './mesh.ts';

/** What a test generator sees as the push context: a snapshot of the world at push time. */
export type WorldPush<W> = PushContext & { world: W };

/** Starts the ADS server on a loopback port; each push carries a copy of `world` as it is then. */
export async function startAdsServer<W extends object>(generator: Generator, world: W): Promise<{ ads: DiscoveryServer<PushContext, Proxy>; port: number }> {
  let builds = 0;
  const ads = new DiscoveryServer({
    generator,
    parseProxy,
    buildPushContext: () => ({ version: `v${++builds}`, mesh: {}, configs: [], services: [], endpoints: new Map(), workloads: [], world: { ...world } }) as unknown as PushContext,
    debounce: { afterMs: 5, maxMs: 100 },
    log: SILENT_LOGGER,
  });
  return { ads, port: await ads.listen('127.0.0.1:0') };
}

/**
 * Admin and stats ports of a sidecar's own: SIDECAR_DEFAULTS has Istio's fixed 15000 and 15090,
 * which two test files running at once on 127.0.0.1 cannot both bind.
 */
export async function ownPorts(): Promise<{ adminPort: number; prometheusPort: number }> {
  return { adminPort: await freePort(), prometheusPort: await freePort() };
}

/** A `tsmesh proxy` process with a sidecar bootstrap pointing at `adsPort`; `stop` also removes its files. */
export async function spawnAdsProxy(adsPort: number, workloadName: string): Promise<{ adminPort: number; output: () => string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `tsmesh-${workloadName}-`));
  const ports = await ownPorts();
  const adminPort = ports.adminPort;
  const file = join(dir, 'bootstrap.json');
  writeBootstrap(file, buildSidecarBootstrap({ ...SIDECAR_DEFAULTS, ...ports, discoveryAddress: `127.0.0.1:${adsPort}`, workloadName }));
  const proxy = await spawnTsmesh(['proxy', '--bootstrap', file, '--drain-time-s', '0'], /tsmesh proxy ready/);
  return {
    adminPort,
    output: () => proxy.output(),
    stop: async () => {
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
