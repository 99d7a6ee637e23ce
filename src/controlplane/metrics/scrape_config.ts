/**
 * A Prometheus scrape configuration for a running mesh, from what the control plane knows of each
 * connected proxy (its node metadata: NAME, NAMESPACE, LABELS, INSTANCE_IPS and the pod's
 * ANNOTATIONS, which carry prometheus.io/port and /path as Istio's injector rewrites them to the
 * agent's 15020 /stats/prometheus). The result is what Istio's sample Prometheus config gets from
 * Kubernetes service discovery and its relabelling (labels namespace, pod and every pod label),
 * with static targets instead.
 */
import { stringMapOf } from '../../common/string_map.ts';
import { stringify } from 'yaml';

/** One /debug/connections row, as far as it is read here. */
export interface ConnectionRow {
  proxyId: string;
  node?: { id?: string; metadata?: Record<string, unknown> };
}

/** A Prometheus static_config / file_sd target group. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export interface ScrapeConfigOptions {
  /** The control plane's HTTP base URL (its /metrics job). */
  controlplane: string;
  scrapeInterval?: string;
  /** Read proxy targets from this file_sd file instead of listing them (the demo rewrites it). */
  targetsFile?: string;
}

/** The connected proxies, from the control plane's /debug/connections. */
export async function fetchConnections(baseUrl: string, timeoutMs = 5000): Promise<ConnectionRow[]> {
  const res = await fetch(`${baseUrl}/debug/connections`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`${baseUrl}/debug/connections answered HTTP ${res.status}`);
  const rows = (await res.json()) as unknown;
  if (!Array.isArray(rows)) throw new Error(`${baseUrl}/debug/connections did not answer a list of connections`);
  return rows as ConnectionRow[];
}

/** Istio's annotation names. */
const SCRAPE = 'prometheus.io/scrape';
const PORT = 'prometheus.io/port';
const PATH = 'prometheus.io/path';
/** The agent's merged metrics path (Istio's 15020 /stats/prometheus). */
const MERGED_PATH = '/stats/prometheus';

/**
 * One target group per scrapeable pod, sorted by namespace and pod. Proxies whose annotations do
 * not ask for a scrape (no status server) are left out, as Kubernetes SD + Istio's relabelling would.
 */
export function proxyTargets(rows: readonly ConnectionRow[]): TargetGroup[] {
  const seen = new Map<string, TargetGroup>();
  for (const r of rows) {
    const md = r.node?.metadata ?? {};
    const ann = stringMapOf(md.ANNOTATIONS);
    if (ann[SCRAPE] !== 'true') continue;
    const ip = String(md.INSTANCE_IPS ?? '').split(',')[0]?.trim();
    const port = Number(ann[PORT] ?? 15020);
    if (!ip || !Number.isInteger(port) || port <= 0) continue;
    const namespace = String(md.NAMESPACE ?? 'default');
    const pod = String(md.NAME ?? r.proxyId);
    const labels: Record<string, string> = {};
    // labelmap __meta_kubernetes_pod_label_(.+): Kubernetes SD spells label names as Prometheus allows.
    for (const [k, v] of Object.entries(stringMapOf(md.LABELS))) labels[promLabelName(k)] = v;
    labels.namespace = namespace;
    labels.pod = pod;
    // The job's metrics_path is the agent's; a pod annotated otherwise keeps its own.
    if (ann[PATH] && ann[PATH] !== MERGED_PATH) labels.__metrics_path__ = ann[PATH];
    seen.set(`${namespace}/${pod}`, { targets: [hostPort(ip, port)], labels });
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

/** The whole prometheus.yml: a job for the control plane's /metrics and one for every proxy's merged metrics. */
export function scrapeConfig(rows: readonly ConnectionRow[], o: ScrapeConfigOptions): Record<string, unknown> {
  const cp = new URL(o.controlplane);
  const pods = o.targetsFile ? { file_sd_configs: [{ files: [o.targetsFile] }] } : { static_configs: proxyTargets(rows) };
  return {
    global: { scrape_interval: o.scrapeInterval ?? '15s', evaluation_interval: o.scrapeInterval ?? '15s' },
    scrape_configs: [
      {
        // Istio's sample job for istiod's :15014.
        job_name: 'istiod',
        metrics_path: '/metrics',
        static_configs: [{ targets: [cp.host], labels: { app: 'istiod', namespace: 'istio-system' } }],
      },
      {
        // Istio's sample job for pods annotated prometheus.io/scrape (the agent's merged metrics).
        job_name: 'kubernetes-pods',
        metrics_path: MERGED_PATH,
        ...pods,
      },
    ],
  };
}

export function scrapeConfigYaml(rows: readonly ConnectionRow[], o: ScrapeConfigOptions): string {
  const n = proxyTargets(rows).length;
  const header = `# Prometheus scrape configuration for the tsmesh control plane at ${o.controlplane}\n# (tsmesh prometheus-config): ${n} proxy target${n === 1 ? '' : 's'}${o.targetsFile ? ` in ${o.targetsFile}` : ''}.\n`;
  return header + stringify(scrapeConfig(rows, o), { lineWidth: 0 });
}

/** Kubernetes SD's label-name sanitising: anything outside [a-zA-Z0-9_] becomes "_". */
export function promLabelName(k: string): string {
  const s = k.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
