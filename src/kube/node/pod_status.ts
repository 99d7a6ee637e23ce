/**
 * A pod's status as a kubelet reports it, from the agent's container records: phase, the four
 * conditions, pod and host IPs, and containerStatuses / initContainerStatuses. Pure, so the
 * lifecycle rules (what Initialized, Ready and Succeeded mean with native sidecars) are tested
 * without processes.
 */
import type { ContainerRecord, ContainerState } from './types.ts';

export interface PodStatusInput {
  records: readonly ContainerRecord[];
  restartPolicy: string;
  podIP?: string;
  hostIP: string;
  startTime: string;
  /** Kept from the last status: a condition's time changes only when its status does. */
  previous?: PodStatus;
  now: string;
}

export interface PodCondition {
  type: 'PodScheduled' | 'Initialized' | 'ContainersReady' | 'Ready';
  status: 'True' | 'False';
  reason?: string;
  lastTransitionTime: string;
  lastProbeTime: null;
}

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState | Record<string, never>;
}

export interface PodStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  conditions: PodCondition[];
  hostIP: string;
  hostIPs: Array<{ ip: string }>;
  podIP?: string;
  podIPs?: Array<{ ip: string }>;
  startTime: string;
  initContainerStatuses: ContainerStatus[];
  containerStatuses: ContainerStatus[];
}

const isTerminated = (r: ContainerRecord) => 'terminated' in r.state;
const isRunning = (r: ContainerRecord) => 'running' in r.state;
const exitCode = (r: ContainerRecord) => ('terminated' in r.state ? r.state.terminated.exitCode : undefined);

/** The pod phase, by the kubelet's rules (native sidecars never count towards completion). */
export function podPhase(records: readonly ContainerRecord[], restartPolicy: string): PodStatus['phase'] {
  const init = records.filter((r) => r.init && !r.nativeSidecar);
  const regular = records.filter((r) => !r.init);
  // A failed init container that will not be retried fails the pod.
  if (restartPolicy === 'Never' && init.some((r) => isTerminated(r) && exitCode(r) !== 0)) return 'Failed';
  if (!initialized(records)) return 'Pending';
  // Terminal only once nothing runs: the kubelet stops native sidecars first, then reports it.
  if (regular.length > 0 && regular.every(isTerminated) && restartPolicy !== 'Always' && !records.some(isRunning)) {
    if (regular.every((r) => exitCode(r) === 0)) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
  }
  if (regular.some((r) => isRunning(r) || isTerminated(r))) return 'Running';
  return 'Pending';
}

/** Init containers done, and every native sidecar started (the kubelet's Initialized). */
export function initialized(records: readonly ContainerRecord[]): boolean {
  return records.filter((r) => r.init).every((r) => (r.nativeSidecar ? r.started || isTerminated(r) : exitCode(r) === 0));
}

export function podStatus(i: PodStatusInput): PodStatus {
  const phase = podPhase(i.records, i.restartPolicy);
  const regular = i.records.filter((r) => !r.init);
  const sidecars = i.records.filter((r) => r.nativeSidecar);
  const done = phase === 'Succeeded' || phase === 'Failed';
  const containersReady = !done && regular.every((r) => r.ready) && sidecars.every((r) => r.ready);
  const cond = (type: PodCondition['type'], ok: boolean, reason?: string): PodCondition => {
    const status = ok ? 'True' : 'False';
    const prev = i.previous?.conditions.find((c) => c.type === type);
    return {
      type,
      status,
      ...(reason && !ok ? { reason } : {}),
      lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : i.now,
      lastProbeTime: null,
    };
  };
  const notReady = done ? 'PodCompleted' : 'ContainersNotReady';
  const status: PodStatus = {
    phase,
    conditions: [
      cond('PodScheduled', true),
      cond('Initialized', initialized(i.records) || done, 'ContainersNotInitialized'),
      cond('ContainersReady', containersReady, notReady),
      cond('Ready', containersReady, notReady),
    ],
    hostIP: i.hostIP,
    hostIPs: [{ ip: i.hostIP }],
    startTime: i.startTime,
    initContainerStatuses: i.records.filter((r) => r.init).map(containerStatus),
    containerStatuses: regular.map(containerStatus),
  };
  if (i.podIP) {
    status.podIP = i.podIP;
    status.podIPs = [{ ip: i.podIP }];
  }
  return status;
}

function containerStatus(r: ContainerRecord): ContainerStatus {
  return {
    name: r.name,
    image: r.image,
    imageID: '',
    ...(r.containerID ? { containerID: r.containerID } : {}),
    ready: r.ready,
    started: r.started,
    restartCount: r.restartCount,
    state: r.state,
    lastState: r.lastState ?? {},
  };
}
