/**
 * What the analyzers that need Kubernetes objects share: the Pods, Services, Namespaces and
 * Deployments of the input as a cluster would hold them (objects in Kubernetes' own namespaces
 * left out, as istioctl's kube source leaves them out), label selectors, and the default
 * ingress gateway istioctl assumes when analyzing files (a Pod and Service
 * `istio-ingressgateway` in Istio's namespace, unless meshConfig turns ingress off). Files hold
 * Deployments rather than the Pods a cluster makes of them, so `workloadPods` counts each
 * workload's pod template as one Pod for the analyzers that ask "does anything run here?".
 */
import { toResource } from '../load.ts';
import type { AnalysisContext, Resource } from '../types.ts';
import { arr, obj } from './wl_util.ts';

/** Namespaces istioctl never reads objects from (Kubernetes' own). */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

const GROUPS: Record<string, string> = { Pod: '', Service: '', Namespace: '', ConfigMap: '', Node: '', Deployment: 'apps' };

function kept(r: Resource): boolean {
  return !IGNORED_NAMESPACES.has(r.namespace) && !(r.kind === 'Namespace' && IGNORED_NAMESPACES.has(r.name));
}

/** The Kubernetes objects of one kind (Pod, Service, Namespace, ConfigMap, Node, Deployment), defaults included. */
export function kubeList(ctx: AnalysisContext, kind: keyof typeof GROUPS & string): Resource[] {
  const own = ctx.list(`${GROUPS[kind]}/${kind}`).filter(kept);
  if (kind !== 'Pod' && kind !== 'Service') return [...own];
  const defaults = defaultIngress(ctx).filter((d) => d.kind === kind && !own.some((r) => r.namespace === d.namespace && r.name === d.name));
  return [...defaults, ...own];
}

/** Kinds whose `spec.template` is a Pod a cluster would run. */
const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];

const TEMPLATE_PODS = new WeakMap<AnalysisContext, Resource[]>();

/**
 * The Pods, plus one Pod (named as its workload) per workload with a pod template and replicas
 * not 0 whose Pods the input does not already hold: what selectors would pick in a cluster.
 */
export function workloadPods(ctx: AnalysisContext): Resource[] {
  const pods = kubeList(ctx, 'Pod');
  let made = TEMPLATE_PODS.get(ctx);
  if (!made) {
    made = [];
    for (const kind of WORKLOAD_KINDS) {
      for (const w of ctx.list(kind).filter((r) => (r.group === 'apps' || r.group === 'batch') && kept(r))) {
        if (w.spec.replicas === 0) continue;
        const t = podTemplate(w);
        if (pods.some((p) => p.namespace === w.namespace && Object.keys(t.labels).length > 0 && selects(t.labels, p.labels))) continue;
        const o = { apiVersion: 'v1', kind: 'Pod', metadata: { name: w.name, namespace: w.namespace, labels: t.labels, annotations: t.annotations }, spec: t.spec };
        made.push(toResource(o, w.origin.file, { namespace: w.namespace }, (path) => w.origin.line(path ? `spec.template.${path}` : 'spec.template')));
      }
    }
    TEMPLATE_PODS.set(ctx, made);
  }
  return [...pods, ...made];
}

export function findNamespace(ctx: AnalysisContext, name: string): Resource | undefined {
  return kubeList(ctx, 'Namespace').find((n) => n.name === name);
}

/** Whether a Kubernetes equality selector (a label map) selects these labels; an empty one selects all. */
export function selects(selector: Record<string, unknown>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === String(v));
}

/** A label map as a Kubernetes selector prints (`a=b,c=d`, keys sorted). */
export function selectorString(selector: Record<string, unknown>): string {
  return Object.keys(selector).sort().map((k) => `${k}=${String(selector[k])}`).join(',');
}

/** The labels of a selector field that is a plain map (`spec.selector`, `workloadSelector.labels`). */
export function labelMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) out[k] = x === null || x === undefined ? '' : String(x);
  return out;
}

/** A Service's ports as Kubernetes defaults them (protocol TCP when unset). */
export interface ServicePort {
  name: string;
  port: number;
  /** The targetPort as written ('' when unset): a number or a named container port. */
  targetPort: string;
  protocol: string;
  appProtocol?: string;
}

export function servicePorts(svc: Resource): ServicePort[] {
  return arr(svc.spec.ports).map((p) => {
    const o = obj(p);
    return {
      name: typeof o.name === 'string' ? o.name : '',
      port: Number(o.port),
      targetPort: o.targetPort === undefined || o.targetPort === null ? '' : String(o.targetPort),
      protocol: typeof o.protocol === 'string' && o.protocol ? o.protocol : 'TCP',
      appProtocol: typeof o.appProtocol === 'string' ? o.appProtocol : undefined,
    };
  });
}

/** `spec.template` of a Deployment: its Pods' labels, annotations and containers. */
export function podTemplate(d: Resource): { labels: Record<string, string>; annotations: Record<string, string>; spec: Record<string, any> } {
  const t = obj(d.spec.template);
  const meta = obj(t.metadata);
  return { labels: labelMap(meta.labels), annotations: labelMap(meta.annotations), spec: obj(t.spec) };
}

const DEFAULTS = new WeakMap<AnalysisContext, Resource[]>();

/**
 * The default ingress gateway Pod and Service istioctl adds when it reads files instead of a
 * cluster (made once per run), with the ports of Istio's gateway chart (80→8080, 443→8443, so
 * Bookinfo's Gateway on 8080 is exposed) and istioctl's default tcp/tls ones.
 */
function defaultIngress(ctx: AnalysisContext): Resource[] {
  let d = DEFAULTS.get(ctx);
  if (!d) DEFAULTS.set(ctx, (d = makeDefaultIngress(ctx)));
  return d;
}

function makeDefaultIngress(ctx: AnalysisContext): Resource[] {
  if (String(ctx.meshConfig.ingressControllerMode ?? '').toUpperCase() === 'OFF') return [];
  const name = typeof ctx.meshConfig.ingressService === 'string' && ctx.meshConfig.ingressService ? ctx.meshConfig.ingressService : 'istio-ingressgateway';
  const namespace = ctx.rootNamespace;
  const labels = { istio: 'ingressgateway' };
  const port = (n: string, p: number, target: number) => ({ name: n, port: p, protocol: 'TCP', targetPort: target });
  const objects = [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-dummypod`, namespace, labels }, spec: { containers: [{ name: 'istio-proxy' }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels: { ...labels, app: name } }, spec: { selector: labels, ports: [port('status-port', 15021, 15021), port('http2', 80, 8080), port('https', 443, 8443), port('tcp', 31400, 31400), port('tls', 15443, 15443)] } },
  ];
  return objects.map((o) => toResource(o, undefined, { namespace }, () => undefined));
}
