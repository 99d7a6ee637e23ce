/**
 * What the demo prints once everything is ready: where to look, and what to try next, with
 * paths that work from the directory the user is in.
 */
import { join } from 'node:path';
import { displayPath } from './config_copy.ts';
import type { DemoPlan } from './plan.ts';
import { DEFAULT_HTTP_PORT } from './plan.ts';
import type { DemoState } from './state.ts';

export interface SummaryInput {
  state: DemoState;
  plan: DemoPlan;
  repoRoot: string;
  stateDir: string;
  defaultStateDir: string;
}

const TRY: Array<[string, string, string]> = [
  ['apply', 'virtual-service-all-v1.yaml', 'every service on v1: no stars'],
  ['apply', 'virtual-service-reviews-50-v3.yaml', 'reviews half v1, half v3 (red stars): refresh a few times'],
  ['apply', 'virtual-service-reviews-test-v2.yaml', 'sign in as jason: black stars'],
  ['delete', 'virtual-service-reviews-test-v2.yaml', 'back to round robin over v1, v2, v3'],
];

export function nextSteps(s: SummaryInput): string {
  const { state, plan } = s;
  // `tsmesh apply` finds the demo by ./.tsmesh/demo/demo.json, else port 15014; otherwise say where it is.
  const flag = s.stateDir !== s.defaultStateDir && plan.httpPort !== DEFAULT_HTTP_PORT ? ` --controlplane ${state.controlplane.http}` : '';
  if (!state.pods.some((p) => p.deployment.startsWith('productpage'))) return otherMesh(s, flag);
  const product = state.gateway.url ? `${state.gateway.url}/productpage` : '(no Gateway selects the ingress gateway)';
  const rows: Array<[string, string]> = [
    ['productpage', product],
    ['control plane', `${state.controlplane.http}/debug/syncz   (xDS on ${state.controlplane.grpc})`],
    ['gateway admin', `${state.gateway.admin}/`],
    ...(state.addons?.prometheus ? [['prometheus', `${state.addons.prometheus}/   (scrapes the control plane and every pod's :15020; try sum(rate(istio_requests_total[1m])) by (destination_workload))`] as [string, string]] : []),
    ...(state.controlplane.zipkin ? [['traces', `${state.controlplane.zipkin}/api/v2/traces?serviceName=productpage.default   (Zipkin API; every request is traced)`] as [string, string]] : []),
    ['sidecar admin', `${state.pods[0]?.admin ?? ''}/   (one per pod: ${(state.pods[0]?.appIP ?? '127.0.2.1').replace(/\d+$/, 'N')}:15000)`],
    ['logs, config', `${displayPath(s.stateDir)}/logs, ${displayPath(state.configDir)}   (state: ${displayPath(join(s.stateDir, 'demo.json'))})`],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  const net = join(s.repoRoot, 'samples/bookinfo/config/networking');
  const cmds = TRY.map(([verb, file, why]) => [`npx tsmesh ${verb} -f ${displayPath(join(net, file))}${flag}`, why] as const);
  const cmdWidth = Math.max(...cmds.map((c) => c[0].length));
  return [
    '',
    `Bookinfo is running in the mesh (${state.pods.length} pods with sidecars, an ingress gateway, the control plane):`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    'Try next, in another terminal:',
    ...(state.gateway.url ? [`  curl -s ${state.gateway.url}/productpage | grep -o 'reviews-v[0-9]'   # which reviews version answered`] : []),
    ...cmds.map(([c, why]) => `  ${c.padEnd(cmdWidth)}   # ${why}`),
    '',
    'Press Ctrl-C to stop everything.',
  ].join('\n');
}

/** Not Bookinfo (e.g. an empty mesh for Istio's security tasks): what runs, and how to add workloads. */
function otherMesh(s: SummaryInput, flag: string): string {
  const { state } = s;
  const withSidecar = state.pods.filter((p) => p.sidecar).length;
  const execFlag = s.stateDir !== s.defaultStateDir ? ` --state-dir ${displayPath(s.stateDir)}` : '';
  return [
    '',
    `The mesh is running (${state.pods.length} pod(s), ${withSidecar} with a sidecar; an ingress gateway; the control plane):`,
    `  control plane  ${state.controlplane.http}/debug/syncz   (xDS on ${state.controlplane.grpc})`,
    ...(state.addons?.prometheus ? [`  prometheus     ${state.addons.prometheus}/`] : []),
    `  logs, config   ${displayPath(s.stateDir)}/logs, ${displayPath(state.configDir)}   (state: ${displayPath(join(s.stateDir, 'demo.json'))})`,
    '',
    'Try next, in another terminal (Istio\'s samples; a namespace labelled istio-injection=enabled gets sidecars):',
    `  npx tsmesh apply -n foo -f <istio>/samples/httpbin/httpbin.yaml${flag}`,
    `  npx tsmesh apply -n foo -f <istio>/samples/curl/curl.yaml${flag}`,
    `  npx tsmesh exec -n foo deploy/curl${execFlag} -- curl -s http://httpbin.foo:8000/ip`,
    '',
    'Press Ctrl-C to stop everything.',
  ].join('\n');
}
