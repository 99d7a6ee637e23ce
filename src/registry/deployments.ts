/**
 * Deployments are not endpoints: their pods become endpoints only when they run (a proxy that
 * registers, or a pod seen by a live Kubernetes source). What a Deployment does tell us is what its
 * pods will look like — the demo launches one workload per Deployment with these labels, service
 * account and named ports, and registers it.
 */
import type { Config } from '../api/types.ts';
import { cleanLabels, type Labels } from './labels.ts';

export interface DeploymentInfo {
  name: string;
  namespace: string;
  replicas: number;
  /** spec.template.metadata.labels: the labels every pod of this Deployment carries. */
  labels: Labels;
  serviceAccount?: string;
  /** Named container ports (name → containerPort), for resolving named targetPorts. */
  ports: Record<string, number>;
  /** Every containerPort, named or not, sorted. */
  containerPorts: number[];
  /** spec.template.metadata.annotations (prometheus.io/* for metrics merging, sidecar.istio.io/*). */
  annotations?: Record<string, string>;
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, unknown> };
  spec?: {
    serviceAccountName?: string;
    containers?: Array<{ name?: string; ports?: Array<{ name?: string; containerPort?: number }> }>;
  };
}

/** The pod template labels of one Deployment config. */
export function deploymentTemplateLabels(cfg: Config): Labels {
  const tpl: PodTemplate = cfg.spec?.template ?? {};
  return cleanLabels(tpl.metadata?.labels) ?? {};
}

export function deploymentInfo(cfg: Config): DeploymentInfo {
  const tpl: PodTemplate = cfg.spec?.template ?? {};
  const ports: Record<string, number> = {};
  const all = new Set<number>();
  for (const c of tpl.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const n = Number(p.containerPort);
      if (!Number.isInteger(n) || n <= 0) continue;
      all.add(n);
      if (p.name) ports[p.name] = n;
    }
  }
  const replicas = cfg.spec?.replicas;
  const info: DeploymentInfo = {
    name: cfg.metadata.name,
    namespace: cfg.metadata.namespace,
    // Kubernetes' default when replicas is omitted.
    replicas: typeof replicas === 'number' && replicas >= 0 ? replicas : 1,
    labels: deploymentTemplateLabels(cfg),
    ports,
    containerPorts: [...all].sort((a, b) => a - b),
  };
  const sa = tpl.spec?.serviceAccountName;
  if (sa) info.serviceAccount = sa;
  const ann = tpl.metadata?.annotations;
  if (ann && typeof ann === 'object' && Object.keys(ann).length > 0) info.annotations = Object.fromEntries(Object.entries(ann).map(([k, v]) => [k, String(v)]));
  return info;
}

/** Every Deployment among `configs`, sorted by namespace then name. */
export function listDeployments(configs: Iterable<Config>): DeploymentInfo[] {
  const out: DeploymentInfo[] = [];
  for (const c of configs) if (c.kind === 'Deployment') out.push(deploymentInfo(c));
  return out.sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
