/**
 * `tsmesh <command>`: dispatches to one module per subcommand, loaded lazily so that
 * `tsmesh proxy` never pays for the control plane's imports and vice versa.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<(argv: string[]) => Promise<number>> }> = {
  demo: { summary: 'run the control plane, an ingress gateway and Bookinfo with sidecars on loopback', load: async () => (await import('./demo.ts')).demoCommand },
  controlplane: { summary: "run the control plane (istiod's job): config, discovery, xDS on :15010", load: async () => (await import('./controlplane.ts')).controlplaneCommand },
  proxy: { summary: "run the data-plane proxy (Envoy's job) from a bootstrap or sidecar flags", load: async () => (await import('./proxy.ts')).proxyCommand },
  agent: { summary: 'run the workload agent for proxyless gRPC: certificate files and a gRPC xDS bootstrap (--grpc-bootstrap <file>)', load: async () => (await import('./agent.ts')).agentCommand },
  analyze: { summary: "find configuration problems across resources, as istioctl analyze: tsmesh analyze [file|dir ...] (or the running config)", load: async () => (await import('./analyze.ts')).analyzeCommand },
  validate: { summary: 'validate Istio YAML files: tsmesh validate -f <file|dir>', load: async () => (await import('./validate.ts')).validateCommand },
  apply: { summary: 'apply Istio YAML to a running demo/control plane: tsmesh apply -f <file>', load: async () => (await import('./apply.ts')).applyCommand },
  delete: { summary: 'delete the resources in a file from a running demo/control plane', load: async () => (await import('./apply.ts')).deleteCommand },
  token: { summary: 'mint a workload token for a sidecar started by hand: tsmesh token create -n <ns> --service-account <sa>', load: async () => (await import('./token.ts')).tokenCommand },
  vm: { summary: "write the files a VM needs to join the mesh from a WorkloadGroup: tsmesh vm bootstrap --workload-group <file> -o <dir> (istioctl x workload entry configure)", load: async () => (await import('./vm.ts')).vmCommand },
  sidecar: { summary: "run a VM's sidecar (agent + proxy + capture) from tsmesh vm bootstrap's files: tsmesh sidecar --config-dir <dir>", load: async () => (await import('./sidecar.ts')).sidecarCommand },
  exec: { summary: "run a command as a demo pod would: tsmesh exec [-n ns] deploy/<name> -- <command>", load: async () => (await import('./exec.ts')).execCommand },
  tap: { summary: "stream the requests through one workload's proxy live (Linkerd's tap): tsmesh tap deploy/<name>", load: async () => (await import('./tap.ts')).tapCommand },
  'prometheus-config': { summary: 'print a Prometheus scrape configuration for the running mesh (control plane and every proxy)', load: async () => (await import('./prometheus_config.ts')).prometheusConfigCommand },
  dashboard: { summary: 'open the mesh dashboard (graph, charts, traces, tap) served by the control plane (istioctl dashboard)', load: async () => (await import('./dashboard.ts')).dashboardCommand },
  'proxy-status': { summary: "each proxy's xDS sync state, or with a pod its config diff against the control plane (istioctl proxy-status; alias ps)", load: async () => (await import('./proxy_status.ts')).proxyStatusCommand },
  ps: { summary: 'alias of proxy-status', load: async () => (await import('./proxy_status.ts')).proxyStatusCommand },
  'proxy-config': { summary: "a proxy's clusters, listeners, routes, endpoints, secrets, bootstrap, log levels (istioctl proxy-config; alias pc)", load: async () => (await import('./proxy_config.ts')).proxyConfigCommand },
  pc: { summary: 'alias of proxy-config', load: async () => (await import('./proxy_config.ts')).proxyConfigCommand },
  describe: { summary: 'which Istio config applies to a pod or service, and its effect: tsmesh describe pod|svc <name> (istioctl x describe)', load: async () => (await import('./describe.ts')).describeCommand },
  version: { summary: 'client, control plane and proxy versions (istioctl version)', load: async () => (await import('./version.ts')).versionCommand },
  install: { summary: 'install tsmesh as istiod in a Kubernetes cluster, or print the manifest with --dry-run (istioctl install)', load: async () => (await import('./install.ts')).installCommand },
  uninstall: { summary: 'remove what tsmesh install wrote; --purge also the CRDs (istioctl uninstall)', load: async () => (await import('./install.ts')).uninstallCommand },
  'kube-inject': { summary: 'add the sidecar to Kubernetes workload YAML offline, as the injection webhook does (istioctl kube-inject): tsmesh kube-inject -f <file>', load: async () => (await import('./kube_inject.ts')).kubeInjectCommand },
  init: { summary: "redirect a workload's traffic to its sidecar, as istio-init (istio-iptables): run as root in its network namespace", load: async () => (await import('./init.ts')).initCommand },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'tsmesh: a service mesh in TypeScript, compatible with Istio config and Envoy xDS v3',
    '',
    'Usage: tsmesh <command> [flags]',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'tsmesh <command> --help' for a command's flags.",
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return 0;
  }
  if (cmd === '--version') {
    console.log(`tsmesh ${(await import('../common/version.ts')).TSMESH_VERSION}`);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    console.error(`tsmesh: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  return (await c.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`tsmesh: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
