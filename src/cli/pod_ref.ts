/**
 * Which pod of the running demo a command means, as istioctl and kubectl name pods:
 *   <pod>.<namespace>        productpage-v1.default (istioctl's short form)
 *   <pod> [-n <namespace>]   namespace default unless -n says otherwise
 *   deploy/<name>            a ready pod of that Deployment (kubectl's form; also pod/<name>)
 * The ingress gateway is a pod too: istio-ingressgateway-1.istio-system or
 * deploy/istio-ingressgateway -n istio-system. An unknown name is an error naming close ones.
 * Shared by proxy-status, proxy-config and any command that acts on one demo pod.
 */
import { resolve } from 'node:path';
import { closeNames, DEPLOYMENT_KINDS, POD_KINDS } from '../xds/debug_proxies.ts';
import { displayPath } from '../demo/config_copy.ts';
import { DEFAULT_STATE_DIR, STATE_FILE, pidAlive, readState, stateFilePath, type DemoState } from '../demo/state.ts';

/** One pod with a proxy (or without, for an app-only pod), wherever it came from in demo.json. */
export interface PodTarget {
  name: string;
  namespace: string;
  deployment: string;
  /** The proxy's admin API (Envoy's :15000); empty for a pod without a sidecar. */
  admin: string;
  sidecar: boolean;
  ready: boolean;
  /** The ingress gateway (a router proxy), not a workload pod. */
  gateway?: boolean;
}

/** The demo's gateway is named as gatewayBootstrap names it (deployment istio-ingressgateway, pod <name>-1). */
const GATEWAY = { deployment: 'istio-ingressgateway', namespace: 'istio-system' };

/** Every pod of the demo, the ingress gateway included. */
export function demoPodTargets(state: DemoState): PodTarget[] {
  const pods: PodTarget[] = state.pods.map((p) => ({ name: p.name, namespace: p.namespace, deployment: p.deployment, admin: p.sidecar === false ? '' : p.admin, sidecar: p.sidecar !== false, ready: p.ready !== false }));
  if (state.gateway?.admin) pods.push({ name: `${GATEWAY.deployment}-1`, namespace: GATEWAY.namespace, deployment: GATEWAY.deployment, admin: state.gateway.admin, sidecar: true, ready: true, gateway: true });
  return pods;
}

/** The running demo's state, or a sentence saying how to start one or where it is. */
export function loadDemoState(stateDir?: string, cwd = process.cwd()): { state: DemoState; file: string } | { error: string } {
  const file = stateDir ? stateFilePath(resolve(cwd, stateDir)) : resolve(cwd, DEFAULT_STATE_DIR, STATE_FILE);
  const state = readState(file);
  const start = `start one with \`npx tsmesh demo\`${stateDir ? '' : ' in this directory, or say where its state is with --state-dir <dir>'}`;
  if (!state) return { error: `no tsmesh demo is running (no ${displayPath(file)}): ${start}` };
  if (!pidAlive(state.pid)) return { error: `the demo in ${displayPath(file)} is no longer running (pid ${state.pid} is gone): ${start}` };
  return { state, file };
}

/** `<pod>.<ns>` / `<pod>` + -n / `deploy/<name>` → kind, name and namespace. */
export function parsePodArg(arg: string, namespaceFlag?: string): { kind: 'pod' | 'deployment'; name: string; namespace: string } | { error: string } {
  const slash = arg.indexOf('/');
  let kind: 'pod' | 'deployment' = 'pod';
  let rest = arg;
  if (slash >= 0) {
    const type = arg.slice(0, slash).toLowerCase();
    rest = arg.slice(slash + 1);
    if (DEPLOYMENT_KINDS.includes(type)) kind = 'deployment';
    else if (!POD_KINDS.includes(type)) return { error: `${arg}: give a pod (<pod>[.<namespace>]) or deploy/<name>, not ${type}/` };
  }
  if (rest === '') return { error: `${arg}: the name is empty` };
  const dot = rest.indexOf('.');
  if (dot > 0) {
    const ns = rest.slice(dot + 1);
    if (namespaceFlag && namespaceFlag !== ns) return { error: `${arg} names namespace ${ns} but -n says ${namespaceFlag}: give one of them` };
    return { kind, name: rest.slice(0, dot), namespace: ns };
  }
  return { kind, name: rest, namespace: namespaceFlag ?? 'default' };
}

/** The pod `arg` names among `pods`, or an error that lists the close names. */
export function findPodTarget(pods: readonly PodTarget[], arg: string, namespaceFlag?: string): { pod: PodTarget } | { error: string } {
  const ref = parsePodArg(arg, namespaceFlag);
  if ('error' in ref) return ref;
  const match = (p: PodTarget) => (ref.kind === 'deployment' ? p.deployment === ref.name : p.name === ref.name);
  const here = pods.filter((p) => p.namespace === ref.namespace && match(p));
  const what = ref.kind === 'deployment' ? `deployment ${ref.name}` : `pod ${ref.name}`;
  if (here.length === 0) {
    const elsewhere = [...new Set(pods.filter(match).map((p) => p.namespace))];
    if (elsewhere.length > 0) return { error: `no ${what} in namespace ${ref.namespace}: it is in namespace ${elsewhere.join(', ')} (give ${ref.kind === 'deployment' ? `deploy/${ref.name} -n ${elsewhere[0]}` : `${ref.name}.${elsewhere[0]}`})` };
    const names = pods.map((p) => (ref.kind === 'deployment' ? `deploy/${p.deployment} -n ${p.namespace}` : `${p.name}.${p.namespace}`));
    const typed = ref.kind === 'deployment' ? `deploy/${ref.name} -n ${ref.namespace}` : `${ref.name}.${ref.namespace}`;
    return { error: `no ${what} in namespace ${ref.namespace} of the running demo${closeNames(typed, [...new Set(names)].sort()).replace('connected:', 'pods:')}` };
  }
  return { pod: here.find((p) => p.ready) ?? here[0]! };
}

/** The demo pod `arg` names (reading demo.json), or a sentence saying what to do. */
export function resolvePod(arg: string, o: { namespace?: string; stateDir?: string; cwd?: string } = {}): { pod: PodTarget; state: DemoState } | { error: string } {
  const loaded = loadDemoState(o.stateDir, o.cwd);
  if ('error' in loaded) return loaded;
  const found = findPodTarget(demoPodTargets(loaded.state), arg, o.namespace);
  if ('error' in found) return found;
  return { pod: found.pod, state: loaded.state };
}
