/**
 * Runs analyzers over a snapshot of resources and returns istioctl's messages: texts from the
 * catalog, suppressed as `--suppress` and the `galley.istio.io/analyze-suppress` annotation say,
 * limited to the namespace analyzed, sorted as istioctl sorts them.
 */
import { parse as parseYaml } from 'yaml';
import { ALL_ANALYZERS } from './analyzers/index.ts';
import { goFormat } from './format.ts';
import { MESSAGES_BY_NAME } from './messages.ts';
import type { AnalysisContext, Analyzer, Level, Message, Resource } from './types.ts';

export const SUPPRESS_ANNOTATION = 'galley.istio.io/analyze-suppress';

/** One `--suppress "IST0102=Namespace frod"`: a code and a resource pattern (`*` matches any run of characters). */
export interface Suppression {
  code: string;
  resource: string;
}

export interface AnalyzeOptions {
  /** Namespaces whose messages are kept (messages on cluster-scoped or no resource always are); undefined keeps all. */
  namespaces?: readonly string[];
  suppressions?: readonly Suppression[];
  /** Mesh config to use (from --meshConfigFile); otherwise an `istio` ConfigMap in the input, else defaults. */
  meshConfig?: Record<string, any>;
  /** Analyzers to run by name (`--analyzer`); all when empty. */
  analyzers?: readonly string[];
  domainSuffix?: string;
  /**
   * false: istioctl's `--use-kube=false` mode, which skips the analyzers that need Kubernetes
   * objects (FILE_MODE_SKIPPED) even when the files hold some. tsmesh's default is true: its
   * config files are its cluster.
   */
  kubeInputs?: boolean;
}

/** The analyzers `istioctl analyze --use-kube=false -v` lists as skipped (they read Kubernetes kinds). */
export const FILE_MODE_SKIPPED: ReadonlySet<string> = new Set([
  'annotations.K8sAnalyzer', 'auth.AuthorizationPoliciesAnalyzer', 'conditions.ConditionAnalyzer', 'deployment.MultiServiceAnalyzer',
  'applicationUID.Analyzer', 'destinationrule.SubsetSelectPodAnalyzer', 'gateway.IngressGatewayPortAnalyzer', 'gateway.SecretAnalyzer',
  'gateway.ConflictingGatewayAnalyzer', 'injection.Analyzer', 'injection.ImageAnalyzer', 'injection.ImageAutoAnalyzer',
  'k8sgateway.SelectorAnalyzer', 'meshnetworks.MeshNetworksAnalyzer', 'services.MultiClusterServiceAnalyzer', 'service.PortNameAnalyzer',
  'sidecar.SelectorAnalyzer', 'virtualservice.DestinationHostAnalyzer', 'virtualservice.JWTClaimRouteAnalyzer', 'webhook.Analyzer',
  'telemetry.SelectorAnalyzer',
]);

const LEVEL_ORDER: Record<Level, number> = { Error: 0, Warning: 1, Info: 2 };

/** Parses `IST0102=Namespace frod`; throws with the form expected. */
export function parseSuppression(s: string): Suppression {
  const eq = s.indexOf('=');
  const code = eq < 0 ? '' : s.slice(0, eq).trim();
  const resource = eq < 0 ? '' : s.slice(eq + 1).trim();
  if (!/^IST\d{4}$/.test(code) || !resource) throw new Error(`invalid suppression "${s}": use <code>=<resource>, e.g. "IST0102=Namespace frod" or "IST0101=VirtualService *.default"`);
  return { code, resource };
}

/** How a resource is named in suppressions: `Kind name.namespace` (`Kind name` when cluster-scoped). */
export function suppressionName(r: Resource): string {
  return r.namespace ? `${r.kind} ${r.name}.${r.namespace}` : `${r.kind} ${r.name}`;
}

/** How istioctl prints a resource: `Kind namespace/name` (`Kind name` when it has no namespace). */
export function friendlyName(r: Resource): string {
  return r.namespace ? `${r.kind} ${r.namespace}/${r.name}` : `${r.kind} ${r.name}`;
}

export function analyze(input: readonly Resource[], opts: AnalyzeOptions = {}): Message[] {
  // One object per identity, as in a cluster: of two same-named objects the later wins, as in istioctl.
  const byId = new Map<string, Resource>();
  for (const r of input) byId.set(`${r.group}/${r.kind}/${r.namespace}/${r.name}`, r);
  const kept = new Set(byId.values());
  const resources = input.filter((r) => kept.has(r));
  const meshConfig = opts.meshConfig ?? meshConfigFrom(resources) ?? {};
  const rootNamespace = typeof meshConfig.rootNamespace === 'string' && meshConfig.rootNamespace ? meshConfig.rootNamespace : 'istio-system';
  const messages: Message[] = [];
  const byKind = new Map<string, Resource[]>();
  for (const r of resources) {
    for (const key of [r.kind, `${r.group}/${r.kind}`]) {
      let l = byKind.get(key);
      if (!l) byKind.set(key, (l = []));
      l.push(r);
    }
  }
  const ctx: AnalysisContext = {
    list: (kind) => byKind.get(kind) ?? [],
    find: (kind, namespace, name) => (byKind.get(kind) ?? []).find((r) => r.namespace === namespace && r.name === name),
    meshConfig,
    rootNamespace,
    domainSuffix: opts.domainSuffix ?? 'cluster.local',
    report(name, resource, args, path) {
      const type = MESSAGES_BY_NAME.get(name);
      if (!type) throw new Error(`analyzer reported unknown message ${name}`);
      messages.push({ code: type.code, name, level: type.level, text: goFormat(type.template, args), resource, path });
    },
  };
  const chosen = opts.analyzers && opts.analyzers.length > 0 ? ALL_ANALYZERS.filter((a) => opts.analyzers!.includes(a.name)) : ALL_ANALYZERS;
  const selected = opts.kubeInputs === false ? chosen.filter((a) => !FILE_MODE_SKIPPED.has(a.name)) : chosen;
  for (const a of selected) runOne(a, ctx);
  return sortMessages(dedupe(messages.filter((m) => keep(m, opts))));
}

function runOne(a: Analyzer, ctx: AnalysisContext): void {
  try {
    a.analyze(ctx);
  } catch (e) {
    // One broken analyzer must not hide the others' findings: istioctl reports it as an internal error.
    ctx.report('InternalError', undefined, [`${a.name}: ${(e as Error).message}`]);
  }
}

function keep(m: Message, opts: AnalyzeOptions): boolean {
  const r = m.resource;
  if (r && opts.namespaces && r.namespace !== '' && !opts.namespaces.includes(r.namespace)) return false;
  if (r) {
    const ann = r.annotations[SUPPRESS_ANNOTATION];
    if (ann && ann.split(',').some((c) => c.trim() === '*' || c.trim() === m.code)) return false;
  }
  for (const s of opts.suppressions ?? []) {
    if (s.code !== m.code) continue;
    if (r ? glob(s.resource, suppressionName(r)) : false) return false;
  }
  return true;
}

function glob(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(s);
}

/** The line a message points at: its field's, else the resource's first line. */
export function messageLine(m: Message): number | undefined {
  if (!m.resource) return undefined;
  return (m.path ? m.resource.origin.line(m.path) : undefined) ?? m.resource.origin.line();
}

function dedupe(ms: Message[]): Message[] {
  const seen = new Set<string>();
  return ms.filter((m) => {
    const k = `${m.code}\0${m.resource ? friendlyName(m.resource) : ''}\0${messageLine(m) ?? ''}\0${m.text}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** istioctl's order: level (Error first), code, resource (kind, then name.namespace), text. */
export function sortMessages(ms: Message[]): Message[] {
  const cmp = (r: Resource) => `${r.kind}/${r.name}.${r.namespace}`;
  return ms.sort((a, b) => {
    if (a.level !== b.level) return LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level];
    if (a.code !== b.code) return a.code < b.code ? -1 : 1;
    if (!a.resource !== !b.resource) return a.resource ? 1 : -1;
    if (a.resource && b.resource) {
      const x = cmp(a.resource);
      const y = cmp(b.resource);
      if (x !== y) return x < y ? -1 : 1;
    }
    return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
  });
}

/** The mesh config of an `istio` ConfigMap (its `mesh` key) in the input, as istiod would read it. */
function meshConfigFrom(resources: readonly Resource[]): Record<string, any> | undefined {
  const cm = resources.find((r) => r.kind === 'ConfigMap' && (r.name === 'istio' || r.name.startsWith('istio-')) && typeof r.object.data?.mesh === 'string');
  if (!cm) return undefined;
  try {
    const v = parseYaml(cm.object.data.mesh);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}
