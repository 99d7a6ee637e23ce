/**
 * The slice of the Kubernetes Pod the node agent reads and writes. client-node's V1Pod types
 * every field optional; these name only what the agent uses, so the pure parts (containers.ts,
 * pod_status.ts) can be tested with plain objects.
 */

export interface KubeContainer {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  readinessProbe?: { httpGet?: { path?: string; port?: number | string }; tcpSocket?: { port?: number | string } };
  /** On an init container, `Always` makes it a native sidecar (KEP-753). */
  restartPolicy?: string;
}

export interface KubePod {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string | Date;
    deletionGracePeriodSeconds?: number;
    resourceVersion?: string;
  };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    restartPolicy?: string;
    terminationGracePeriodSeconds?: number;
    initContainers?: KubeContainer[];
    containers: KubeContainer[];
  };
  status?: { phase?: string };
}

/** What one container is doing, as containerStatuses[].state says it. */
export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; signal?: number; reason: string; message?: string; startedAt?: string; finishedAt: string } };

/** The agent's record of one container, from which pod_status.ts writes its status. */
export interface ContainerRecord {
  name: string;
  image: string;
  /** An init container (native sidecar or not). */
  init: boolean;
  /** An init container with restartPolicy Always. */
  nativeSidecar: boolean;
  state: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  started: boolean;
  restartCount: number;
  /** `tsmesh://<pid>` while a process runs (a runtime-qualified id, as kubectl shows). */
  containerID?: string;
}
