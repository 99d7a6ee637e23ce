/**
 * `tsmesh describe pod|service <name>` (istioctl x describe): which VirtualServices,
 * DestinationRules, Gateways, PeerAuthentications and AuthorizationPolicies apply to a pod or a
 * service, and what they do to its traffic. The pod is found in the running demo (deploy/<name>
 * or its name, `name.namespace` as istioctl takes it); the facts come from the control plane
 * (/debug/describe/*), which asks pilot; describe_format.ts prints them.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { controlPlaneGet, controlPlaneRef } from './controlplane_client.ts';
import { parseFlags, one } from './flags.ts';
import { parsePodArg, resolvePod } from './pod_ref.ts';
import { formatPod, formatServiceDescription } from './describe_format.ts';
import type { PodDescription, ServiceDescription } from '../controlplane/debug_describe.ts';
import { DEFAULT_STATE_DIR, STATE_FILE, stateFilePath } from '../demo/state.ts';

const HELP = `Usage: tsmesh describe pod <pod>[.<namespace>] | deploy/<name>   [flags]
       tsmesh describe service|svc <service>[.<namespace>]          [flags]

Describes a pod or a service and the Istio configuration that affects it, as istioctl x describe
does: its services and ports, the DestinationRule (matching subsets, TLS mode, policies) and the
VirtualServices (routes and weights that reach it), the RBAC policies of its AuthorizationPolicies,
the effective PeerAuthentication mTLS mode, and the ingress gateway it is exposed on.

Flags:
  -n, --namespace <ns>    the namespace (default: default); <name>.<namespace> does the same
  --ignoreUnmeshed        suppress warnings for pods without a sidecar
  --controlplane <url>    the control plane's HTTP address (default: $TSMESH_CONTROLPLANE, else
                          the demo's in --state-dir, else http://127.0.0.1:15014)
  --state-dir <dir>       the demo's state directory (default ./${DEFAULT_STATE_DIR}): its pods, and
                          its control plane
  -h, --help

Examples:
  npx tsmesh describe pod deploy/reviews-v1
  npx tsmesh describe svc productpage`;

export async function describeCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [
    { name: 'namespace', alias: 'n' },
    { name: 'ignoreUnmeshed', boolean: true },
    { name: 'controlplane' },
    { name: 'state-dir' },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usageError(parsed.error);
  // Without a resource type, istioctl x describe prints its help.
  if (parsed.flags.help || parsed.rest.length === 0) {
    console.log(HELP);
    return 0;
  }
  const [kind, target, extra] = parsed.rest;
  const k = kind!.toLowerCase();
  const isPod = ['pod', 'po', 'pods'].includes(k);
  const isSvc = ['service', 'svc', 'services'].includes(k);
  if (!isPod && !isSvc) return usageError(`unknown resource type ${JSON.stringify(kind)}: describe takes pod or service`);
  if (!target) return usageError(isPod ? 'expecting pod name' : 'expecting service name');
  if (extra) return usageError(`unexpected argument ${extra}`);
  const nsFlag = one(parsed.flags, 'namespace');
  const stateDir = one(parsed.flags, 'state-dir');
  const ignoreUnmeshed = parsed.flags.ignoreUnmeshed === true;

  // istioctl's <name>[.<namespace>] (src/cli/pod_ref.ts reads it for pods and services alike);
  // -n names the namespace described, whose names print bare.
  const ref = parsePodArg(isPod ? target : `pod/${target}`, nsFlag);
  if ('error' in ref) return usageError(ref.error);
  const { name, namespace } = ref;
  const described = nsFlag ?? 'default';

  const cp = controlPlaneRef(one(parsed.flags, 'controlplane'), stateDir);
  if (isSvc) {
    const r = await controlPlaneGet<ServiceDescription>(cp, `/debug/describe/service?name=${encodeURIComponent(name)}&namespace=${encodeURIComponent(namespace)}`, { timeoutMs: 15_000 });
    if ('error' in r) return fail(r.error);
    console.log(formatServiceDescription(r.value, { namespace: described }).join('\n'));
    return 0;
  }

  // A demo pod: its name and Deployment from demo.json (deploy/<name> needs it); without a demo,
  // the control plane looks the name up among its connected proxies.
  let podName = name;
  let deployment: string | undefined;
  let ready: boolean | undefined;
  const stateFile = stateDir ? stateFilePath(resolve(stateDir)) : resolve(DEFAULT_STATE_DIR, STATE_FILE);
  if (existsSync(stateFile) || ref.kind === 'deployment' || stateDir) {
    const found = resolvePod(target, { namespace: nsFlag, stateDir });
    if ('error' in found) return fail(found.error);
    podName = found.pod.name;
    deployment = found.pod.gateway ? undefined : found.pod.deployment;
    ready = found.pod.ready;
  }
  const q = `name=${encodeURIComponent(podName)}&namespace=${encodeURIComponent(namespace)}${deployment ? `&deployment=${encodeURIComponent(deployment)}` : ''}`;
  const r = await controlPlaneGet<PodDescription>(cp, `/debug/describe/pod?${q}`, { timeoutMs: 15_000 });
  if ('error' in r) return fail(r.error);
  const { out, error } = formatPod(r.value, { namespace: described, ignoreUnmeshed, ready });
  console.log(out.join('\n'));
  if (error) {
    console.error(`Error: ${error}`);
    return 1;
  }
  return 0;
}

function usageError(why: string): number {
  console.error(`tsmesh describe: ${why}\n\n${HELP}`);
  return 2;
}

function fail(why: string): number {
  console.error(`Error: ${why}`);
  return 1;
}
