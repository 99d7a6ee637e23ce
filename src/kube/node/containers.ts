/**
 * What the node agent does with each container of a pod, without a container runtime:
 *  - `istio-init` (Istio's iptables init container, `tsmesh init` when tsmesh injected it): the
 *    demo's pods share the host's network (loopback addresses, no network namespace), so there is
 *    nothing to capture in and rewriting the host's iptables would capture the whole machine. It
 *    completes at once (exit 0). The sidecar runs in Istio's NONE interception mode instead, as
 *    every demo sidecar does: inbound listeners on the pod IP, the app on its own address with its
 *    outbound calls sent to the sidecar's HTTP proxy listener (src/demo/apps.ts).
 *  - `istio-proxy` (the injected sidecar, native or regular): the demo's sidecar, a `tsmesh proxy`
 *    with the demo's NONE-mode bootstrap for this pod (sidecar.ts).
 *  - any other container: run as the demo runs a Deployment's container (src/demo/apps.ts): its
 *    `node <file in this repository>` command, or the app its `app` label names (Bookinfo, httpbin,
 *    curl/sleep), or an error that becomes the container's waiting reason.
 */
import type { Config } from '../../api/types.ts';
import { appLaunch, type AppLaunch } from '../../demo/apps.ts';
import type { PodSlot } from '../../demo/ports.ts';
import type { DeploymentInfo } from '../../registry/deployments.ts';
import type { KubeContainer, KubePod } from './types.ts';

export type ContainerRole = 'istio-init' | 'istio-proxy' | 'app';

/** Istio's names for the containers its injector adds. */
export const ISTIO_PROXY = 'istio-proxy';
const INIT_NAMES = new Set(['istio-init', 'istio-validation']);

export function containerRole(c: KubeContainer): ContainerRole {
  if (c.name === ISTIO_PROXY) return 'istio-proxy';
  if (INIT_NAMES.has(c.name)) return 'istio-init';
  const line = [...(c.command ?? []), ...(c.args ?? [])];
  // istio-iptables, or `tsmesh init` / `pilot-agent istio-iptables` under another name.
  if (line.some((a) => /(^|\/)istio-iptables$/.test(a))) return 'istio-init';
  if (line.length >= 2 && /(^|\/)tsmesh(\.js)?$/.test(line[0]!) && line[1] === 'init') return 'istio-init';
  return 'app';
}

/** True when the pod carries a sidecar the agent runs as the demo's (so its apps listen on the app IP). */
export function hasIstioProxy(pod: KubePod): boolean {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some((c) => c.name === ISTIO_PROXY);
}

/** An init container with restartPolicy Always: started before the next one and kept running. */
export function isNativeSidecar(c: KubeContainer): boolean {
  return c.restartPolicy === 'Always';
}

/** The pod's addresses, as the demo's PodSlot for one of its containers. */
export interface PodAddresses {
  index: number;
  podIP: string;
  appIP: string;
}

/** DeploymentInfo-shaped facts about one container of a pod (what the demo's app mapping reads). */
export function containerInfo(pod: KubePod, c: KubeContainer): DeploymentInfo {
  const ports: Record<string, number> = {};
  const all = new Set<number>();
  for (const p of c.ports ?? []) {
    const n = Number(p.containerPort);
    if (!Number.isInteger(n) || n <= 0) continue;
    all.add(n);
    if (p.name) ports[p.name] = n;
  }
  const info: DeploymentInfo = {
    name: pod.metadata.name,
    namespace: pod.metadata.namespace,
    replicas: 1,
    labels: { ...(pod.metadata.labels ?? {}) },
    ports,
    containerPorts: [...all].sort((a, b) => a - b),
  };
  if (pod.spec.serviceAccountName) info.serviceAccount = pod.spec.serviceAccountName;
  if (pod.metadata.annotations) info.annotations = { ...pod.metadata.annotations };
  return info;
}

/** Every containerPort of the pod's app containers (the sidecar's inbound ports come from these). */
export function podInfo(pod: KubePod): DeploymentInfo {
  const apps = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].filter((c) => containerRole(c) === 'app');
  const merged: KubeContainer = { name: 'pod', ports: apps.flatMap((c) => c.ports ?? []) };
  return containerInfo(pod, merged);
}

/** How one app container runs here, or why it cannot (src/demo/apps.ts decides both). */
export function appContainerLaunch(pod: KubePod, c: KubeContainer, addr: PodAddresses, repoRoot: string, sidecar: boolean): AppLaunch | { error: string } {
  const slot: PodSlot = { name: pod.metadata.name, deployment: containerInfo(pod, c), index: addr.index, podIP: addr.podIP, appIP: addr.appIP };
  // appLaunch reads a Deployment's pod template: this container alone is that template.
  const template: Config = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
    spec: { template: { metadata: { labels: pod.metadata.labels ?? {} }, spec: { containers: [c] } } },
  } as Config;
  return appLaunch(template, slot, repoRoot, sidecar);
}
