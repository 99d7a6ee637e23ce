/**
 * `tsmesh demo`: flags in, src/demo/run.ts does the work.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { all, one, parseFlags, parsePort } from './flags.ts';
import { startDemo } from '../demo/run.ts';
import { DEFAULT_STATE_DIR } from '../demo/state.ts';

const HELP = `Usage: tsmesh demo [--port 8080] [--config <file|dir>]... [--mesh <file>] [--state-dir <dir>]
                   [--xds-port 15010] [--http-port 15014] [--gateway-admin-port 15000]
                   [--pod-net 127.0.1.] [--app-net 127.0.2.] [--addons prometheus] [--kube]

Runs Bookinfo in the mesh on loopback, with no root and no containers: the control plane,
one app process and one sidecar proxy per Deployment pod (pod IP 127.0.1.N, app IP 127.0.2.N),
and an ingress gateway on 127.0.0.1. Ctrl-C stops everything.

Flags:
  --port <n>         where the ingress gateway serves Bookinfo (default: the Gateway's port, 8080).
                     With the built-in sample, the demo's copy of its Gateway is moved to this port;
                     with --config, your Gateway must already say this port.
  --config <path>    Istio/Kubernetes YAML to run instead of samples/bookinfo/config (files or
                     directories, repeatable), e.g. Istio's own:
                       --config <istio>/samples/bookinfo/platform/kube/bookinfo.yaml
                       --config <istio>/samples/bookinfo/networking/bookinfo-gateway.yaml
                       --config <istio>/samples/bookinfo/networking/destination-rule-all.yaml
  --mesh <file>      meshConfig YAML for the control plane (as \`tsmesh controlplane --mesh\`), e.g.
                     outboundTrafficPolicy: { mode: REGISTRY_ONLY }
  --state-dir <dir>  where the config copy (one file per resource), bootstrap files, logs and
                     demo.json go (default ${DEFAULT_STATE_DIR}; recreated on every start)
  --xds-port <n>, --http-port <n>, --gateway-admin-port <n>
                     the control plane's xDS and HTTP ports and the ingress gateway's admin port
                     (default 15010, 15014, 15000; when taken, or given as 0, ports the kernel picks)
  --pod-net <a.b.c.>, --app-net <a.b.c.>
                     the loopback /24s pods get their addresses from (default 127.0.1. and
                     127.0.2.): a second demo beside the first needs its own, and --state-dir
  --addons <list>    extra servers once the mesh is up (comma-separated; repeatable):
                       prometheus  a real Prometheus (Debian's package: apt-get install prometheus)
                                   on 127.0.0.1:9090 (or a free port), configured as
                                   \`tsmesh prometheus-config\` prints, its data in the state dir;
                                   pods started later are added to its targets
  --kube             the demo as a Kubernetes node: a real kube-apiserver and controller manager
                     (built by \`node scripts/kube/build.mjs\`), the control plane in Kubernetes mode and
                     a node agent that runs the pods kubectl applies (pod IPs 198.18.0.N, a local route
                     on lo: needs root once). Applies Istio's CRDs, the injector and validator webhook
                     configurations (served by the control plane on https://127.0.0.1:15017) and
                     istio-ingressgateway, then prints the kubeconfig, a kubectl line and the gateway's
                     URL; your workloads arrive with kubectl (label a namespace istio-injection=enabled)
  --help             this text

Ctrl-C, SIGTERM or SIGHUP stop everything, as does the end of the process that started the
demo (npx's npm, or a signal npm forwards to its shell).

The control plane listens on 127.0.0.1:15010 (xDS) and :15014 (HTTP), or free ports if those
are taken. Then change the running mesh with \`npx tsmesh apply [-n <ns>] -f <file>\` / \`npx tsmesh delete ...\`:
Deployments applied start their pods (with a sidecar unless their Namespace YAML lacks the label
istio-injection=enabled, or the pod says sidecar.istio.io/inject: "false"), deleted ones stop.
Run a command as a pod would with \`npx tsmesh exec [-n <ns>] deploy/<name> -- <command>\`.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [
    { name: 'port' },
    { name: 'config', alias: 'c', repeat: true },
    { name: 'state-dir' },
    { name: 'mesh' },
    { name: 'xds-port' },
    { name: 'http-port' },
    { name: 'gateway-admin-port' },
    { name: 'pod-net' },
    { name: 'app-net' },
    { name: 'addons', repeat: true },
    { name: 'help', alias: 'h', boolean: true },
    { name: 'kube', boolean: true },
  ]);
  if (!parsed.ok) {
    console.error(`tsmesh demo: ${parsed.error}\n\n${HELP}`);
    return 2;
  }
  const { flags, rest } = parsed;
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (rest.length > 0) {
    console.error(`tsmesh demo: unexpected argument ${rest[0]}\n\n${HELP}`);
    return 2;
  }
  if (flags.kube) {
    // Loaded only here: the file-based demo never needs Kubernetes code (src/kube/).
    const { startKubeDemo } = await import('../demo/kube.ts');
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const pod = one(flags, 'pod-net');
    const app = one(flags, 'app-net');
    for (const [flag, v] of [['pod-net', pod], ['app-net', app]] as const) {
      if (v !== undefined && (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.$/.test(v) || v.split('.').slice(0, 3).some((o) => Number(o) > 255))) {
        console.error(`tsmesh demo: --${flag} must be three octets and a dot, like ${flag === 'pod-net' ? '198.18.0.' : '127.0.2.'}, got ${JSON.stringify(v)}`);
        return 2;
      }
    }
    return startKubeDemo({ repoRoot, stateDir: one(flags, 'state-dir') ?? DEFAULT_STATE_DIR, ...(pod ? { podNet: pod } : {}), ...(app ? { appNet: app } : {}), handleSignals: true }).exitCode;
  }
  const ports: Record<string, number> = {};
  for (const flag of ['port', 'xds-port', 'http-port', 'gateway-admin-port']) {
    const value = one(flags, flag);
    if (value === undefined) continue;
    // 0: any port (the process binds port 0 and the demo reads which one it got); not for the
    // gateway's --port, which Gateway config must name.
    const p = flag !== 'port' && value === '0' ? 0 : parsePort(value, `--${flag}`);
    if (typeof p === 'string') {
      console.error(`tsmesh demo: ${p}`);
      return 2;
    }
    ports[flag] = p;
  }
  const nets: Record<string, string> = {};
  for (const flag of ['pod-net', 'app-net']) {
    const value = one(flags, flag);
    if (value === undefined) continue;
    // Three octets of 127.0.0.0/8 and a dot: pods get value + 1, value + 2, ...
    if (!/^127\.(\d{1,3})\.(\d{1,3})\.$/.test(value) || value.split('.').slice(1, 3).some((o) => Number(o) > 255)) {
      console.error(`tsmesh demo: --${flag} must be three octets of 127.0.0.0/8 and a dot, like 127.0.1., got ${JSON.stringify(value)}`);
      return 2;
    }
    nets[flag] = value;
  }
  const addons = all(flags, 'addons').flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  for (const a of addons) {
    if (a !== 'prometheus') {
      console.error(`tsmesh demo: --addons: unknown add-on ${JSON.stringify(a)} (known: prometheus)`);
      return 2;
    }
  }
  if (addons.includes('prometheus')) {
    const { findPrometheus, PROMETHEUS_MISSING } = await import('../demo/addons/prometheus.ts');
    // Said before anything starts, not after a minute of pods coming up.
    if (!findPrometheus()) {
      console.error(`tsmesh demo: --addons prometheus: ${PROMETHEUS_MISSING}`);
      return 2;
    }
  }
  const meshFile = one(flags, 'mesh');
  if (meshFile !== undefined && !existsSync(meshFile)) {
    console.error(`tsmesh demo: --mesh ${meshFile}: no such file`);
    return 2;
  }
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  // Whoever reads our output may be gone (a closed terminal, a dead npm): keep stopping cleanly.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const demo = startDemo({
    repoRoot,
    port: ports.port,
    ...(ports['xds-port'] !== undefined ? { xdsPort: ports['xds-port'] } : {}),
    ...(ports['http-port'] !== undefined ? { httpPort: ports['http-port'] } : {}),
    ...(ports['gateway-admin-port'] !== undefined ? { gatewayAdminPort: ports['gateway-admin-port'] } : {}),
    ...(nets['pod-net'] !== undefined ? { podNet: nets['pod-net'] } : {}),
    ...(nets['app-net'] !== undefined ? { appNet: nets['app-net'] } : {}),
    configs: all(flags, 'config'),
    stateDir: one(flags, 'state-dir') ?? DEFAULT_STATE_DIR,
    ...(meshFile !== undefined ? { meshFile } : {}),
    handleSignals: true,
    ...(addons.length > 0 ? { addons } : {}),
  });
  return demo.exitCode;
}
