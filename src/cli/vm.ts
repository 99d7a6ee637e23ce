/**
 * `tsmesh vm bootstrap` (istioctl x workload entry configure's job): from a WorkloadGroup, writes
 * the files a VM needs to join the mesh — cluster.env, mesh.yaml, root-cert.pem, istio-token and
 * hosts — for `tsmesh sidecar --config-dir` on that VM. Thin: the files are src/agent/vm's
 * business, the token src/ca/token.ts's.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseConfigs } from '../api/yaml.ts';
import { validateConfig } from '../api/validation/index.ts';
import { formatValidationError } from '../api/types.ts';
import { issueWorkloadToken } from '../ca/token.ts';
import { CA_STATE_FILES, PLUGIN_CA_FILES } from '../ca/authority.ts';
import { workloadGroupTemplate } from '../registry/workloadentry.ts';
import { probeProblem, type ReadinessProbe } from '../agent/health/probe.ts';
import { clusterEnv, hostsFile, meshYaml, VM_FILES, type VmFileOptions } from '../agent/vm/files.ts';
import { defaultStateDir } from '../controlplane/server.ts';
import { one, parseFlags } from './flags.ts';

const HELP = `Usage: tsmesh vm bootstrap --workload-group <file> -o <dir> --ingressIP <ip> [flags]

Writes the files a VM needs to join the mesh, as 'istioctl x workload entry configure' does:
  cluster.env    the agent's environment: ISTIO_META_AUTO_REGISTER_GROUP (the control plane
                 creates the VM's WorkloadEntry from the group), the group's labels
                 (ISTIO_METAJSON_LABELS), network, service account, CANONICAL_SERVICE/REVISION,
                 ISTIO_INBOUND_PORTS
  mesh.yaml      proxy config: discoveryAddress, CA_ADDR, and the group's probe as readinessProbe
  root-cert.pem  the control plane CA's root
  istio-token    a workload token for the group's service account
  hosts          the control plane's address for istiod.istio-system.svc
Then on the VM: tsmesh sidecar --config-dir <dir>

Run it where the control plane's state directory is (the CA root and the token key live there).

Security: the VM takes xDS from the control plane's secure port (15012, as the CA) over TLS with
its workload certificate, and auto-registration checks that certificate's namespace and service
account against the WorkloadGroup; it only registers into a group that exists. A
--discovery-address with :15010 selects plaintext xDS instead, where the node's metadata is
trusted: keep 15010 reachable only from the VMs' network then.

Differences from istioctl: auto-registration is on by default (istioctl needs --autoregister);
--no-autoregister leaves ISTIO_META_AUTO_REGISTER_GROUP out, for a WorkloadEntry you write yourself.

Flags:
  -f, --workload-group <file>   the WorkloadGroup (YAML); also --file
  -o, --output <dir>            where to write the files (created)
      --ingressIP <ip>          the control plane's address as the VM reaches it (istioctl: the
                                east-west gateway's); also --discovery-address <ip>[:<xds port>]
  -n, --namespace <ns>          the group's namespace when its metadata names none (default default)
      --clusterID <id>          ISTIO_META_CLUSTER_ID (default Kubernetes)
  -r, --revision <rev>          control plane revision (ISTIO_META_REVISION)
      --tokenDuration <seconds> lifetime of istio-token (default 3600)
      --secure-grpc-port <n>    the CA's port (default 15012)
      --trust-domain <domain>   SPIFFE trust domain (default cluster.local)
      --state-dir <dir>         the control plane's state directory (default ~/.tsmesh/controlplane)
      --cacerts-dir <dir>       Istio's plug-in CA directory, when the control plane runs with one
      --capture-dns[=false]     ISTIO_META_DNS_CAPTURE: the VM's DNS goes to the agent's DNS proxy
                                (default true, as istioctl); --capture-dns=false or --no-capture-dns
      --autoregister            register the VM from the group (the default here)
      --no-autoregister         do not: no ISTIO_META_AUTO_REGISTER_GROUP in cluster.env
  -h, --help                    show this help`;

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

export async function vmCommand(argv: string[], out: Output = console): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? out.error : out.log)(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'bootstrap') return usage(out, `unknown subcommand '${sub}' (the only one is 'bootstrap')`);
  // istioctl's bool flags take =true/=false; parseFlags' booleans are bare switches.
  const args = rest.map((a) => (a === '--capture-dns=false' ? '--no-capture-dns' : a === '--capture-dns=true' ? '--capture-dns' : a));
  const parsed = parseFlags(args, [
    { name: 'workload-group', alias: 'f' },
    { name: 'file' },
    { name: 'output', alias: 'o' },
    { name: 'ingressIP' },
    { name: 'discovery-address' },
    { name: 'namespace', alias: 'n' },
    { name: 'clusterID' },
    { name: 'revision', alias: 'r' },
    { name: 'tokenDuration' },
    { name: 'secure-grpc-port' },
    { name: 'trust-domain' },
    { name: 'state-dir' },
    { name: 'cacerts-dir' },
    { name: 'capture-dns', boolean: true },
    { name: 'no-capture-dns', boolean: true },
    { name: 'autoregister', boolean: true },
    { name: 'no-autoregister', boolean: true },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usage(out, parsed.error);
  const { flags } = parsed;
  if (flags.help) {
    out.log(HELP);
    return 0;
  }
  if (parsed.rest.length) return usage(out, `unexpected argument '${parsed.rest[0]}'`);
  for (const f of ['capture-dns', 'autoregister']) if (flags[f] && flags[`no-${f}`]) return usage(out, `--${f} and --no-${f} contradict each other`);
  const file = one(flags, 'workload-group') ?? one(flags, 'file');
  const dir = one(flags, 'output');
  const missing = [!file && '--workload-group', !dir && '-o/--output'].filter(Boolean);
  if (missing.length) return usage(out, `missing ${missing.join(', ')}`);

  // Where the VM reaches the control plane: an IP (the hosts file maps istiod's name to it).
  const ingress = one(flags, 'ingressIP');
  const discovery = one(flags, 'discovery-address');
  if (ingress && discovery) return usage(out, '--ingressIP and --discovery-address name the same thing; give one');
  const where = ingress ?? discovery;
  if (!where) return usage(out, 'missing --ingressIP (or --discovery-address): the control plane\'s address as the VM reaches it');
  const m = /^(\[[^\]]+\]|[^:]+|[0-9a-fA-F:]+)(?::(\d+))?$/.exec(where);
  const address = m?.[1]?.replace(/^\[|\]$/g, '') ?? '';
  if (!isIP(address)) return usage(out, `${ingress ? '--ingressIP' : '--discovery-address'} ${JSON.stringify(where)}: expected an IP address${ingress ? '' : ' with an optional :port'} (the hosts file maps istiod.istio-system.svc to it)`);
  // Istio's VMs take xDS from the secure port once the CA exists: TLS with the workload
  // certificate, so auto-registration can check the VM's identity against its group.
  const caPort = Number(one(flags, 'secure-grpc-port') ?? 15012);
  const xdsPort = m?.[2] ? Number(m[2]) : caPort;
  for (const [f, p] of [['--discovery-address port', xdsPort], ['--secure-grpc-port', caPort]] as const) {
    if (!Number.isInteger(p) || p <= 0 || p > 65535) return usage(out, `${f}: expected a port number, got ${p}`);
  }
  const ttlText = one(flags, 'tokenDuration') ?? '3600';
  const ttl = Number(ttlText);
  if (!Number.isInteger(ttl) || ttl < 1) return usage(out, `--tokenDuration ${JSON.stringify(ttlText)}: expected whole seconds >= 1 (istioctl's unit)`);

  let text: string;
  try {
    text = readFileSync(file!, 'utf8');
  } catch (e) {
    out.error(`tsmesh vm bootstrap: cannot read ${file}: ${(e as Error).message}`);
    return 1;
  }
  const namespace = one(flags, 'namespace') ?? 'default';
  const { configs, errors } = parseConfigs(text, { file: file!, namespace });
  const hard = errors.filter((e) => e.severity !== 'warning');
  const groups = configs.filter((c) => c.kind === 'WorkloadGroup');
  if (hard.length || groups.length !== 1) {
    for (const e of hard) out.error(`tsmesh vm bootstrap: ${formatValidationError(e)}`);
    if (groups.length !== 1) out.error(`tsmesh vm bootstrap: ${file}: expected one WorkloadGroup, found ${groups.length}`);
    return 1;
  }
  const wg = groups[0]!;
  const invalid = validateConfig(wg).filter((e) => e.severity !== 'warning');
  if (invalid.length) {
    for (const e of invalid) out.error(`tsmesh vm bootstrap: ${formatValidationError({ file: file!, ...e })}`);
    return 1;
  }
  const probe = wg.spec?.probe as ReadinessProbe | undefined;
  if (probe !== undefined) {
    const problem = probeProblem(probe);
    if (problem) {
      out.error(`tsmesh vm bootstrap: WorkloadGroup ${wg.metadata.namespace}/${wg.metadata.name}: spec.${problem}`);
      return 1;
    }
  }
  const tpl = workloadGroupTemplate(wg);
  const ns = wg.metadata.namespace ?? namespace;
  const opts: VmFileOptions = {
    group: {
      name: wg.metadata.name,
      namespace: ns,
      labels: tpl.labels,
      // Kubernetes' default: the namespace's `default` service account.
      serviceAccount: tpl.serviceAccount ?? 'default',
      ...(tpl.network ? { network: tpl.network } : {}),
      ...(tpl.ports ? { ports: tpl.ports } : {}),
      ...(probe ? { probe } : {}),
    },
    address,
    xdsPort,
    caPort,
    clusterId: one(flags, 'clusterID') ?? 'Kubernetes',
    trustDomain: one(flags, 'trust-domain') ?? 'cluster.local',
    ...(one(flags, 'revision') ? { revision: one(flags, 'revision')! } : {}),
    captureDns: flags['no-capture-dns'] !== true,
    autoRegister: flags['no-autoregister'] !== true,
  };

  const stateDir = one(flags, 'state-dir') ?? defaultStateDir();
  const cacerts = one(flags, 'cacerts-dir');
  const rootFile = cacerts ? join(cacerts, PLUGIN_CA_FILES.rootCert) : join(stateDir, 'ca', CA_STATE_FILES.rootCert);
  if (!existsSync(rootFile)) {
    out.error(`tsmesh vm bootstrap: no CA root at ${rootFile}: start the control plane once with this --state-dir (it creates its CA there), or pass the --state-dir / --cacerts-dir it runs with`);
    return 1;
  }
  let token: string;
  try {
    token = await issueWorkloadToken(stateDir, { namespace: ns, serviceAccount: opts.group.serviceAccount, ttlSeconds: ttl });
  } catch (e) {
    out.error(`tsmesh vm bootstrap: cannot issue a token for ${ns}/${opts.group.serviceAccount}: ${(e as Error).message}`);
    return 1;
  }
  mkdirSync(dir!, { recursive: true });
  writeFileSync(join(dir!, VM_FILES.clusterEnv), clusterEnv(opts));
  writeFileSync(join(dir!, VM_FILES.mesh), meshYaml(opts));
  writeFileSync(join(dir!, VM_FILES.rootCert), readFileSync(rootFile));
  // The token is a credential: readable by its owner only (chmod too: `mode` applies only to a new file).
  writeFileSync(join(dir!, VM_FILES.token), token, { mode: 0o600 });
  chmodSync(join(dir!, VM_FILES.token), 0o600);
  writeFileSync(join(dir!, VM_FILES.hosts), hostsFile(opts));
  out.log(`wrote ${Object.values(VM_FILES).join(', ')} to ${dir} for WorkloadGroup ${ns}/${wg.metadata.name} (service account ${opts.group.serviceAccount}, token valid ${ttl}s)`);
  return 0;
}

function usage(out: Output, problem: string): number {
  out.error(`tsmesh vm: ${problem}\n\n${HELP}`);
  return 2;
}
