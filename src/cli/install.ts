/**
 * `tsmesh install` and `tsmesh uninstall` (istioctl install / uninstall): write or remove
 * everything a Kubernetes cluster needs to run tsmesh as istiod. Thin: the objects are built in
 * src/kube/install/ and applied through the API server there.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { all, one, parseFlags, type FlagSpec } from './flags.ts';

const INSTALL_HELP = `Usage: tsmesh install [--dry-run] [-f <values.yaml>] [--set <path>=<value>] [-r <revision>] [-y]

Installs tsmesh as Istio's control plane in a Kubernetes cluster (istioctl install): namespace
istio-system, the Istio CRDs tsmesh serves, ServiceAccount and RBAC, the istiod Deployment and
Service (ports 15010, 15012, 15014, 443 for webhooks), the mesh config ConfigMap "istio", the
sidecar-injector and validation webhook configurations, and the istio-ingressgateway. Objects
are applied with server-side apply (field manager tsmesh-install); running it again updates them.

Every Deployment runs one image, <hub>/tsmesh:<tag> (default tsmesh/tsmesh:<version>): Node.js
with this package at /app, entrypoint node /app/bin/tsmesh.js.

Flags:
      --dry-run                print the manifest as YAML instead of applying it
                               (tsmesh install --dry-run | kubectl apply -f -)
  -f, --filename <file>        IstioOperator YAML (spec: hub, tag, revision, meshConfig, values,
                               components), repeatable, later files win
  -s, --set <path>=<value>     override one spec path, repeatable: hub, tag, revision, namespace,
                               meshConfig.<field>, values.pilot.replicaCount, values.pilot.image,
                               values.global.istioNamespace, components.ingressGateways[0].enabled
  -r, --revision <name>        install a revision (objects istiod-<name>; pods pick it with the
                               istio.io/rev=<name> label)
  -y, --skip-confirmation      do not ask before changing the cluster
      --kubeconfig <file>      kubeconfig (default $KUBECONFIG, then ~/.kube/config, then in-cluster)
      --context <name>         kubeconfig context to use
  -h, --help                   this help`;

const UNINSTALL_HELP = `Usage: tsmesh uninstall [--purge] [-r <revision>] [-f <values.yaml>] [--set <path>=<value>] [-y]

Removes what tsmesh install wrote (istioctl uninstall). The Istio CRDs (and with them every
VirtualService, DestinationRule, ... in the cluster) and the namespace are removed only with
--purge; pass the same -f/--set/--revision as at install so the same objects are found.

Flags:
      --purge                  also delete the CRDs (all Istio config) and the namespace
      --dry-run                print what would be deleted, change nothing
  -f, --filename <file>        IstioOperator YAML given at install, repeatable
  -s, --set <path>=<value>     a --set given at install, repeatable
  -r, --revision <name>        the revision to remove
  -y, --skip-confirmation      do not ask before changing the cluster
      --kubeconfig <file>      kubeconfig (default $KUBECONFIG, then ~/.kube/config, then in-cluster)
      --context <name>         kubeconfig context to use
  -h, --help                   this help`;

const COMMON: FlagSpec[] = [
  { name: 'filename', alias: 'f', repeat: true },
  { name: 'set', alias: 's', repeat: true },
  { name: 'revision', alias: 'r' },
  { name: 'skip-confirmation', alias: 'y', boolean: true },
  { name: 'dry-run', boolean: true },
  { name: 'kubeconfig' },
  { name: 'context' },
  { name: 'help', alias: 'h', boolean: true },
];

export interface Io {
  log(line: string): void;
  error(line: string): void;
  /** Asks a yes/no question; undefined when there is no terminal to ask on. */
  confirm?(question: string): Promise<boolean | undefined>;
}

const consoleIo: Io = {
  log: (l) => console.log(l),
  error: (l) => console.error(l),
  confirm: async (q) => {
    if (!process.stdin.isTTY) return undefined;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(`${q} (y/N) `)).trim());
    } finally {
      rl.close();
    }
  },
};

export async function installCommand(argv: string[], io: Io = consoleIo): Promise<number> {
  return run('install', argv, io);
}

export async function uninstallCommand(argv: string[], io: Io = consoleIo): Promise<number> {
  return run('uninstall', argv, io);
}

async function run(cmd: 'install' | 'uninstall', argv: string[], io: Io): Promise<number> {
  const help = cmd === 'install' ? INSTALL_HELP : UNINSTALL_HELP;
  const parsed = parseFlags(argv, cmd === 'install' ? COMMON : [...COMMON, { name: 'purge', boolean: true }]);
  if (!parsed.ok) {
    io.error(`tsmesh ${cmd}: ${parsed.error}\n\n${help}`);
    return 2;
  }
  const { flags, rest } = parsed;
  if (flags.help) {
    io.log(help);
    return 0;
  }
  if (rest.length) {
    io.error(`tsmesh ${cmd}: unexpected argument ${rest[0]}; values go in -f <file> or --set path=value\n\n${help}`);
    return 2;
  }
  const { resolveValues, ValuesError } = await import('../kube/install/values.ts');
  const { installManifest, manifestYaml, kubectlName } = await import('../kube/install/manifest.ts');
  let values;
  try {
    const files = all(flags, 'filename').map((name) => {
      try {
        return { name, text: readFileSync(name, 'utf8') };
      } catch (e) {
        throw new ValuesError(`-f ${name}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    });
    const revision = one(flags, 'revision');
    values = resolveValues(files, [...all(flags, 'set'), ...(revision !== undefined ? [`revision=${revision}`] : [])]);
  } catch (e) {
    if (!(e instanceof ValuesError)) throw e;
    io.error(`tsmesh ${cmd}: ${e.message}`);
    return 2;
  }
  const all_ = installManifest(values);
  const purge = flags.purge === true;
  // Without --purge, uninstall keeps the users' config: the CRDs (their objects go with them) and the namespace.
  const objects = cmd === 'install' || purge ? all_ : all_.filter((o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'Namespace');
  const rev = values.revision || 'default';

  if (flags['dry-run']) {
    if (cmd === 'install') io.log(manifestYaml(objects).trimEnd());
    else for (const o of [...objects].reverse()) io.log(`${kubectlName(o)} would be deleted (dry run)`);
    return 0;
  }

  const { kubeClient, applyObjects, deleteObjects } = await import('../kube/install/apply.ts');
  let client;
  try {
    client = kubeClient(one(flags, 'kubeconfig'), one(flags, 'context'));
  } catch (e) {
    io.error(`tsmesh ${cmd}: ${(e as Error).message}`);
    return 1;
  }
  const server = client.server;
  if (!flags['skip-confirmation']) {
    const question = cmd === 'install'
      ? `This will install tsmesh (revision "${rev}") into ${values.namespace} on ${server}. Proceed?`
      : `This will remove tsmesh (revision "${rev}")${purge ? ', the Istio CRDs with ALL Istio configuration in the cluster, and the namespace' : ''} from ${server}. Proceed?`;
    const yes = await io.confirm?.(question);
    if (yes === undefined) {
      io.error(`tsmesh ${cmd}: no terminal to confirm on; pass -y (--skip-confirmation) to ${cmd} without asking`);
      return 1;
    }
    if (!yes) {
      io.error(`tsmesh ${cmd}: cancelled`);
      return 1;
    }
  }
  try {
    if (cmd === 'install') {
      await applyObjects(client, objects, io);
      io.log(`✔ tsmesh installed: revision "${rev}" in namespace ${values.namespace} (${objects.length} objects). Label a namespace to inject sidecars: kubectl label namespace <ns> ${values.revision ? `istio.io/rev=${values.revision}` : 'istio-injection=enabled'}`);
    } else {
      await deleteObjects(client, objects, io);
      io.log(`✔ tsmesh uninstalled: revision "${rev}"${purge ? ' with its CRDs and namespace' : '; CRDs and namespace kept (--purge removes them)'}`);
    }
  } catch (e) {
    io.error(`tsmesh ${cmd}: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}
