/**
 * `tsmesh validate -f <file|dir> [-f ...]`: reads Istio / Kubernetes YAML, prints every problem
 * on its own line (file:line: Kind ns/name: field.path: reason [CODE]) and a summary. Exit code
 * 1 if any error, 0 otherwise (warnings, such as fields not enforced yet, do not fail). Like `istioctl validate`, each resource is
 * checked on its own: whether a subset or gateway it names exists elsewhere is analysis, not
 * validation (the README's VirtualService is valid even though its DestinationRule is in
 * another file).
 */
import { loadPaths } from '../api/load.ts';
import { formatValidationError, isError } from '../api/types.ts';

const HELP = `Usage: tsmesh validate -f <file|dir> [-f <file|dir> ...] [-n <namespace>]

Validates Istio configuration (VirtualService, DestinationRule, Gateway, ServiceEntry,
WorkloadEntry, WorkloadGroup, Sidecar, PeerAuthentication, AuthorizationPolicy,
RequestAuthentication, Telemetry) and the Kubernetes Service, Deployment, ServiceAccount and
Namespace objects tsmesh reads. Directories are read recursively (*.yaml, *.yml, *.json).

Each resource is checked on its own, as istioctl validate does: YAML syntax (file:line:col),
Istio's schema including unknown fields at any depth, and Istio's semantic rules. Whether the
subsets and gateways a VirtualService names exist is not checked here (that is analysis;
apply prints it as a warning). A field tsmesh accepts but does not enforce yet (an
AuthorizationPolicy, outlierDetection, ...; see docs/istio-support.md) is a warning with code
TSMESH_ERR_UNSUPPORTED_FIELD. Exit code 1 if any error; warnings alone exit 0.

Flags:
  -f, --filename <path>    file or directory to validate (repeatable)
  -n, --namespace <ns>     namespace for resources that do not set one (default "default")
  -q, --quiet              print only problems, no summary
  -h, --help               show this help`;

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

export async function validateCommand(argv: string[], out: Output = console): Promise<number> {
  const files: string[] = [];
  let namespace: string | undefined;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`flag ${flag} needs a value`);
      return v;
    };
    try {
      if (flag === '-h' || flag === '--help') {
        out.log(HELP);
        return 0;
      } else if (flag === '-f' || flag === '--filename') files.push(value());
      else if (flag === '-n' || flag === '--namespace') namespace = value();
      else if (flag === '-q' || flag === '--quiet') quiet = true;
      else if (flag.startsWith('-')) throw new UsageError(`unknown flag ${flag}`);
      else files.push(arg); // `tsmesh validate file.yaml` works too
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      out.error(`tsmesh validate: ${e.message}\n\n${HELP}`);
      return 2;
    }
  }
  if (files.length === 0) {
    out.error(`tsmesh validate: no input; pass -f <file|dir>\n\n${HELP}`);
    return 2;
  }

  const result = loadPaths(files, { namespace });
  const problems = result.errors;
  for (const p of problems) out.log(formatValidationError(p));
  const errors = problems.filter(isError).length;
  const warnings = problems.length - errors;
  if (!quiet) {
    const w = warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : '';
    const n = result.resources;
    if (errors === 0) out.log(`✔ ${n} resource${n === 1 ? '' : 's'} valid${w}`);
    else {
      const bad = new Set(problems.filter(isError).map((p) => `${p.file}\0${p.kind}\0${p.namespace}\0${p.name}`)).size;
      out.log(`✘ ${errors} error${errors === 1 ? '' : 's'}${w} in ${bad} of ${n} resource${n === 1 ? '' : 's'}`);
    }
  }
  return errors > 0 ? 1 : 0;
}

class UsageError extends Error {}
