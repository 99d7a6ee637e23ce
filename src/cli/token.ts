/**
 * `tsmesh token create`: mints a workload token with the control plane's token key, for a
 * `tsmesh proxy` started by hand (on a VM, say) to authenticate to the CA. Thin: the token itself
 * is src/ca/token.ts's business.
 */
import { existsSync } from 'node:fs';
import { durationMsOf } from '../api/duration.ts';
import { issueWorkloadToken } from '../ca/token.ts';
import { isKubernetesName } from '../ca/spiffe.ts';
import { one, parseFlags } from './flags.ts';

const HELP = `Usage: tsmesh token create --namespace <ns> --service-account <sa> --state-dir <dir> [--ttl 1h] [--pod <name>]

Prints a workload token (a JWT shaped like a Kubernetes service-account token) that lets a
sidecar get certificates from the control plane's CA for spiffe://<trust domain>/ns/<ns>/sa/<sa>
and nothing else. Hand it to 'tsmesh proxy' started by hand; the demo mints its own.

The token is signed with the key in <state-dir>/token/signing-key.pem, so run this where the
control plane's state directory is, with the same --state-dir the control plane uses. Anyone
holding the token can get that workload's certificates until it expires: keep it secret.

Flags:
  -n, --namespace <ns>          the workload's namespace
      --service-account <sa>    the workload's service account
      --state-dir <dir>         the control plane's state directory
      --ttl <duration>          how long the token is valid (default 1h; "30m", "24h", ...)
      --pod <name>              the pod name to record in the token (optional)
  -h, --help                    show this help`;

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

export async function tokenCommand(argv: string[], out: Output = console): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? out.error : out.log)(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'create') return usage(out, `unknown subcommand '${sub}' (the only one is 'create')`);

  const parsed = parseFlags(rest, [
    { name: 'namespace', alias: 'n' },
    { name: 'service-account' },
    { name: 'state-dir' },
    { name: 'ttl' },
    { name: 'pod' },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usage(out, parsed.error);
  const { flags } = parsed;
  if (flags.help) {
    out.log(HELP);
    return 0;
  }
  if (parsed.rest.length) return usage(out, `unexpected argument '${parsed.rest[0]}'`);

  const namespace = one(flags, 'namespace');
  const serviceAccount = one(flags, 'service-account');
  const stateDir = one(flags, 'state-dir');
  const missing = [!namespace && '--namespace', !serviceAccount && '--service-account', !stateDir && '--state-dir'].filter(Boolean);
  if (missing.length) return usage(out, `missing ${missing.join(', ')}`);
  for (const [flag, v] of [
    ['--namespace', namespace!],
    ['--service-account', serviceAccount!],
  ] as const) {
    if (!isKubernetesName(v)) return usage(out, `${flag} ${JSON.stringify(v)} is not a Kubernetes name (lower-case letters, digits, '-' and '.')`);
  }
  const ttlText = one(flags, 'ttl') ?? '1h';
  const ttlMs = durationMsOf(ttlText);
  if (ttlMs === undefined || ttlMs < 1000) return usage(out, `--ttl ${JSON.stringify(ttlText)} is not a duration of at least 1s (examples: 30m, 1h, 24h)`);
  if (!existsSync(stateDir!)) {
    out.error(`tsmesh token: state directory ${stateDir} does not exist; pass the --state-dir the control plane runs with`);
    return 1;
  }

  const token = await issueWorkloadToken(stateDir!, {
    namespace: namespace!,
    serviceAccount: serviceAccount!,
    podName: one(flags, 'pod'),
    ttlSeconds: Math.floor(ttlMs / 1000),
  });
  out.log(token);
  return 0;
}

function usage(out: Output, problem: string): number {
  out.error(`tsmesh token: ${problem}\n\n${HELP}`);
  return 2;
}
