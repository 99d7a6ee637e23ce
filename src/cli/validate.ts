/**
 * `tsmesh validate -f <file|dir> [-f ...]`: reads Istio / Kubernetes YAML, prints every problem
 * on its own line (file:line: Kind ns/name: field.path: reason) and a summary. Exit code 1 if
 * any error, 0 otherwise (warnings do not fail).
 */
import { loadPaths } from '../api/load.ts';
import { formatValidationError, isError } from '../api/types.ts';
import { crossValidate } from '../api/validation/cross.ts';

const HELP = `Usage: tsmesh validate -f <file|dir> [-f <file|dir> ...] [-n <namespace>]

Validates Istio configuration (VirtualService, DestinationRule, Gateway, ServiceEntry,
WorkloadEntry, WorkloadGroup, Sidecar, PeerAuthentication, AuthorizationPolicy,
RequestAuthentication, Telemetry) and the Kubernetes Service, Deployment, ServiceAccount and
Namespace objects tsmesh reads. Directories are read recursively (*.yaml, *.yml, *.json).

Each resource is checked against Istio's schema and semantic rules; then the set is checked as
a whole (VirtualService subsets and gateways must exist). Exit code 1 if any error.

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
  // Cross-check every resource read, invalid ones included, so one run shows every problem.
  const problems = [...result.errors, ...crossValidate(result.parsed)];
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
