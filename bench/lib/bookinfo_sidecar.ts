/**
 * A Bookinfo sidecar for the memory figure: the control plane serving Bookinfo's own config
 * (samples/bookinfo/config, top-level files) and one tsmesh proxy as productpage-v1's sidecar,
 * built the way the demo builds it (inbound listener on the pod address, no iptables), so the
 * proxy holds Bookinfo's real listeners, routes and clusters. Load enters through the inbound
 * listener on podIP:9080 and reaches the "app", nginx answering 1 KiB on appIP:9080.
 */
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, sleep, start, type Started } from './procs.ts';
import { freePort } from './ports.ts';
import { nginxUpstream } from './configs.ts';
import { startTsmeshProxy } from './tsmesh_proxy.ts';
import { sidecarBootstrap, writeBootstrap } from '../../src/agent/bootstrap.ts';
import { REPO_ROOT, tsmeshCommand } from '../../src/common/self_command.ts';

/** Addresses unlikely to collide with the demo's (127.0.1.N / 127.0.2.N with small N). */
const POD_IP = '127.0.1.231';
const APP_IP = '127.0.2.231';
const PORT = 9080;

export interface BookinfoSidecar {
  /** Where load goes: the sidecar's inbound listener for productpage:9080. */
  url: string;
  sidecar: Started;
}

/** Starts control plane, app and sidecar (pushed into `procs` for the caller to stop). */
export async function startBookinfoSidecar(dir: string, nginx: string, procs: Started[]): Promise<BookinfoSidecar> {
  const cfg = join(dir, 'bookinfo-config');
  mkdirSync(cfg, { recursive: true });
  const src = join(REPO_ROOT, 'samples/bookinfo/config');
  for (const f of readdirSync(src)) if (statSync(join(src, f)).isFile()) copyFileSync(join(src, f), join(cfg, f));
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const cp = tsmeshCommand(['controlplane', '--config', cfg, '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--secure-grpc-port', '0']);
  procs.push(await start('tsmesh controlplane', cp.command, cp.args, { port: grpcPort }, cp.env));

  const appDir = join(dir, 'bookinfo-app');
  mkdirSync(appDir, { recursive: true });
  procs.push(await start('productpage app (nginx)', nginx, ['-c', nginxUpstream(appDir, PORT, { address: APP_IP }), '-e', join(appDir, 'err')], { port: PORT, host: APP_IP }));

  const boot = join(dir, 'productpage-sidecar.json');
  writeBootstrap(
    boot,
    sidecarBootstrap({
      pod: 'productpage-v1-1',
      namespace: 'default',
      podIP: POD_IP,
      appIP: APP_IP,
      app: 'productpage',
      labels: { app: 'productpage', version: 'v1' },
      serviceAccount: 'bookinfo-productpage',
      workloadName: 'productpage-v1',
      ports: { http: PORT },
      containerPorts: [PORT],
      adminPort: await freePort(APP_IP),
      outboundPort: await freePort(APP_IP),
      xds: { host: '127.0.0.1', port: grpcPort },
    }),
  );
  const sidecar = await startTsmeshProxy('productpage sidecar', ['--bootstrap', boot], { line: /tsmesh proxy ready/ });
  procs.push(sidecar);
  // Ready means the inbound listener from xDS is bound, not just that the process started.
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(PORT, POD_IP))) {
    if (Date.now() > deadline) throw new Error(`productpage sidecar: no inbound listener on ${POD_IP}:${PORT} after 30 s:\n${sidecar.output()}`);
    await sleep(200);
  }
  return { url: `http://${POD_IP}:${PORT}/productpage`, sidecar };
}
