/**
 * `tsmesh demo`: flags in, src/demo/run.ts does the work.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { all, one, parseFlags, parsePort } from '../demo/flags.ts';
import { startDemo } from '../demo/run.ts';
import { DEFAULT_STATE_DIR } from '../demo/state.ts';

const HELP = `Usage: tsmesh demo [--port 8080] [--config <file|dir>]... [--mesh <file>] [--state-dir <dir>]

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
  --help             this text

The control plane listens on 127.0.0.1:15010 (xDS) and :15014 (HTTP), or free ports if those
are taken. Then change the running mesh with \`npx tsmesh apply -f <file>\` / \`npx tsmesh delete -f <file>\`.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [{ name: 'port' }, { name: 'config', alias: 'c', repeat: true }, { name: 'state-dir' }, { name: 'mesh' }, { name: 'help', alias: 'h', boolean: true }]);
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
  let port: number | undefined;
  const portFlag = one(flags, 'port');
  if (portFlag !== undefined) {
    const p = parsePort(portFlag, '--port');
    if (typeof p === 'string') {
      console.error(`tsmesh demo: ${p}`);
      return 2;
    }
    port = p;
  }
  const meshFile = one(flags, 'mesh');
  if (meshFile !== undefined && !existsSync(meshFile)) {
    console.error(`tsmesh demo: --mesh ${meshFile}: no such file`);
    return 2;
  }
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const demo = startDemo({
    repoRoot,
    port,
    configs: all(flags, 'config'),
    stateDir: one(flags, 'state-dir') ?? DEFAULT_STATE_DIR,
    ...(meshFile !== undefined ? { meshFile } : {}),
    handleSignals: true,
  });
  return demo.exitCode;
}
