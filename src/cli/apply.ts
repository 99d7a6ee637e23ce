/**
 * `tsmesh apply -f ...` / `tsmesh delete -f ...`: flags in, src/cli/apply_client.ts does the work.
 */
import { DEFAULT_CONTROLPLANE, runApply, type Operation } from './apply_client.ts';
import { all, one, parseFlags } from './flags.ts';
import { DEFAULT_STATE_DIR, STATE_FILE } from '../demo/state.ts';

function help(op: Operation): string {
  const what = op === 'apply' ? 'Creates or replaces the resources in the files' : 'Deletes the resources named in the files';
  return `Usage: tsmesh ${op} [-n <namespace>] -f <file|dir|-> [-f ...] [--controlplane <url>]

${what} on a running control plane, like kubectl ${op}.
Everything is ${op === 'apply' ? 'validated here first, then ' : ''}sent in one request: if any resource is
${op === 'apply' ? 'invalid' : 'not found'}, nothing is ${op === 'apply' ? 'applied' : 'deleted'} and every problem is listed (file, resource, field, reason).${op === 'apply' ? `
Fields tsmesh accepts but does not enforce yet are applied and printed as warnings
(TSMESH_ERR_UNSUPPORTED_FIELD; see docs/istio-support.md).` : ''}

Flags:
  -f, --filename <path>  a YAML/JSON file, a directory (read recursively) or - for stdin; repeatable
  -n, --namespace <ns>   the namespace of resources that name none (default: default); a resource
                         that names another namespace is refused, as kubectl does
  --controlplane <url>   the control plane's HTTP address. Default: $TSMESH_CONTROLPLANE, else the
                         demo in ./${DEFAULT_STATE_DIR}/${STATE_FILE}, else ${DEFAULT_CONTROLPLANE}
  --help

Examples:
  npx tsmesh ${op} -f samples/bookinfo/config/networking/virtual-service-reviews-50-v3.yaml
  npx tsmesh ${op} -n foo -f <istio>/samples/httpbin/httpbin.yaml`;
}

async function run(op: Operation, argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [
    { name: 'filename', alias: 'f', repeat: true },
    { name: 'namespace', alias: 'n' },
    { name: 'controlplane' },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) {
    console.error(`tsmesh ${op}: ${parsed.error}\n\n${help(op)}`);
    return 2;
  }
  if (parsed.flags.help) {
    console.log(help(op));
    return 0;
  }
  // Files come only with -f (stdin is `-f -`, like kubectl); bare words are mistakes.
  if (parsed.rest.length > 0) {
    console.error(`tsmesh ${op}: unexpected argument ${parsed.rest[0]} (use -f <file>)\n\n${help(op)}`);
    return 2;
  }
  const paths = all(parsed.flags, 'filename');
  if (paths.length === 0) {
    console.error(`tsmesh ${op}: -f <file|dir|-> is required\n\n${help(op)}`);
    return 2;
  }
  const namespace = one(parsed.flags, 'namespace');
  // A Kubernetes namespace name (RFC 1123 label), as kubectl checks it.
  if (namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    console.error(`tsmesh ${op}: -n ${JSON.stringify(namespace)}: a namespace name is lowercase letters, digits and '-', starting and ending with a letter or digit (at most 63)`);
    return 2;
  }
  const r = await runApply({ op, paths, controlplane: one(parsed.flags, 'controlplane'), ...(namespace !== undefined ? { namespace } : {}) });
  for (const l of r.out) console.log(l);
  for (const l of r.err) console.error(l);
  return r.code;
}

export function applyCommand(argv: string[]): Promise<number> {
  return run('apply', argv);
}

export function deleteCommand(argv: string[]): Promise<number> {
  return run('delete', argv);
}
