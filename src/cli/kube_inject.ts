/**
 * `tsmesh kube-inject -f deploy.yaml`: istioctl kube-inject, offline. Thin: the transform is
 * src/kube/inject/ (the webhook runs the same one), this reads files and flags.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadMeshConfig } from '../api/mesh.ts';
import { kubeInjectText } from '../kube/inject/manifests.ts';
import type { MeshConfig } from '../api/types.ts';
import { resolveInjectionSettings } from '../kube/inject/values.ts';
import { one, parseFlags, type FlagSpec } from './flags.ts';

const HELP = `Usage: tsmesh kube-inject -f <file|-> [flags]

Adds the sidecar to the workloads in Kubernetes YAML (Pods, Deployments, StatefulSets,
DaemonSets, ReplicaSets, Jobs, CronJobs), as istioctl kube-inject and tsmesh's injection
webhook do: the istio-init container (tsmesh init), the istio-proxy native sidecar, rewritten
probes, Istio's labels and annotations. Other documents pass through unchanged.

  tsmesh kube-inject -f samples/bookinfo.yaml | kubectl apply -f -

Flags:
  -f, --filename <file|->     input YAML ('-' reads stdin) (required)
  -o, --output <file>         write here instead of stdout
      --meshConfigFile <file> mesh config (trustDomain, defaultConfig: discoveryAddress,
                              holdApplicationUntilProxyStarts, interceptionMode, proxyMetadata, ...)
      --valuesFile <file>     injection values (global.proxy.*, sidecarInjectorWebhook.rewriteAppHTTPProbe,
                              pilot.env.ENABLE_NATIVE_SIDECARS, istio_cni.enabled)
      --revision <rev>        the control plane revision (istio.io/rev, default "default")
  -n, --namespace <ns>        namespace of documents that name none (default "default")
      --native-sidecars <b>   true (default) runs istio-proxy as a native sidecar (Kubernetes 1.29+);
                              false as a regular container (env ENABLE_NATIVE_SIDECARS, as Istio)
  -h, --help                  show this help`;

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

const SPECS: FlagSpec[] = [
  { name: 'filename', alias: 'f' },
  { name: 'output', alias: 'o' },
  { name: 'meshConfigFile' },
  { name: 'valuesFile' },
  { name: 'injectConfigFile' },
  { name: 'revision' },
  { name: 'namespace', alias: 'n' },
  { name: 'native-sidecars' },
  { name: 'help', alias: 'h', boolean: true },
];

export async function kubeInjectCommand(argv: string[], out: Output = { log: (l) => process.stdout.write(l), error: (l) => console.error(l) }): Promise<number> {
  const parsed = parseFlags(argv, SPECS);
  if (!parsed.ok) return usage(out, parsed.error);
  const { flags } = parsed;
  if (flags.help) {
    out.log(`${HELP}\n`);
    return 0;
  }
  if (parsed.rest.length) return usage(out, `unexpected argument '${parsed.rest[0]}' (the input is -f <file>)`);
  const file = one(flags, 'filename');
  if (!file) return usage(out, '-f/--filename is required');
  if (one(flags, 'injectConfigFile')) return usage(out, "--injectConfigFile takes Istio's injection template, which tsmesh does not use: pass the values with --valuesFile and the mesh config with --meshConfigFile");

  const meshFile = one(flags, 'meshConfigFile');
  let mesh: MeshConfig | undefined;
  if (meshFile) {
    const m = loadMeshConfig(meshFile);
    if (m.errors.length) return fail(out, `--meshConfigFile ${meshFile}: ${m.errors.map((e) => `${e.path ? `${e.path}: ` : ''}${e.message}`).join('; ')}`);
    mesh = m.mesh;
  }
  const valuesFile = one(flags, 'valuesFile');
  let values: string | undefined;
  if (valuesFile) {
    const text = read(valuesFile);
    if (text instanceof Error) return fail(out, `--valuesFile ${valuesFile}: ${text.message}`);
    values = text;
  }
  const revision = one(flags, 'revision');
  const resolved = resolveInjectionSettings({ env: process.env, ...(mesh ? { mesh } : {}), ...(values !== undefined ? { values } : {}), ...(revision ? { revision } : {}) });
  if (!resolved.ok) return fail(out, `--valuesFile ${valuesFile}: ${resolved.error}`);
  for (const w of resolved.warnings) out.error(`tsmesh kube-inject: warning: --valuesFile ${valuesFile}: ${w}`);
  const settings = resolved.settings;
  const native = one(flags, 'native-sidecars');
  if (native !== undefined) {
    if (native !== 'true' && native !== 'false') return usage(out, `--native-sidecars takes true or false, got ${JSON.stringify(native)}`);
    settings.nativeSidecars = native === 'true';
  }

  const input = file === '-' ? readStdin() : read(file);
  if (input instanceof Error) return fail(out, `-f ${file}: ${input.message}`);
  const r = kubeInjectText(input, settings, one(flags, 'namespace') ?? 'default');
  if (r.errors.length) {
    for (const e of r.errors) out.error(`tsmesh kube-inject: ${e}`);
    return 1;
  }
  // As the webhook answers with admission warnings: what the injector was asked and does not do.
  for (const w of r.warnings) out.error(`tsmesh kube-inject: warning: ${w}`);
  const dest = one(flags, 'output');
  if (dest) {
    try {
      writeFileSync(dest, r.text);
    } catch (e) {
      return fail(out, `-o ${dest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else out.log(r.text);
  return 0;
}

function read(file: string): string | Error {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return new Error(code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message);
  }
}

function readStdin(): string | Error {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    return e as Error;
  }
}

function fail(out: Output, msg: string): number {
  out.error(`tsmesh kube-inject: ${msg}`);
  return 1;
}

function usage(out: Output, error: string): number {
  out.error(`tsmesh kube-inject: ${error}\n\nRun 'tsmesh kube-inject --help' for the flags.`);
  return 2;
}
