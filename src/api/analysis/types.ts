/**
 * The contract between `tsmesh analyze` and its analyzers (Istio's `istioctl analyze`): a
 * snapshot of every object in the input, of any kind (Pods, ConfigMaps and webhooks too, which
 * the rest of tsmesh never reads), and a report function taking Istio's message codes. Each
 * analyzer is one file under `analyzers/` and sees only this interface.
 */

/** One object as read, of any apiVersion/kind; `spec` is the object minus its metadata. */
export interface Resource {
  apiVersion: string;
  /** Group of apiVersion ("" for the core group), e.g. "networking.istio.io". */
  group: string;
  kind: string;
  /** Namespace as istioctl resolves it ("" for cluster-scoped kinds). */
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The whole object as parsed (apiVersion, kind, metadata, spec, status, data ...). */
  object: Record<string, any>;
  /** The `spec` field, or {} when it has none. */
  spec: Record<string, any>;
  /** Where it came from; `line(path)` is the 1-based line of a field path like `spec.hosts[0]`. */
  origin: { file?: string; line(path?: string): number | undefined };
}

export type Level = 'Error' | 'Warning' | 'Info';

/** One finding, as istioctl prints it. */
export interface Message {
  code: string;
  name: string;
  level: Level;
  /** The message text with its arguments filled in. */
  text: string;
  resource?: Resource;
  /** The field path the message is about, for the line number (e.g. `spec.http[0].route[0]`). */
  path?: string;
}

export interface AnalysisContext {
  /** Every object of one kind (`kind` alone matches any group; `group/kind` narrows). */
  list(kind: string): readonly Resource[];
  /** One object by kind, namespace and name. */
  find(kind: string, namespace: string, name: string): Resource | undefined;
  /** The mesh config in effect (from --meshConfigFile, an istio ConfigMap in the input, or defaults). */
  meshConfig: Record<string, any>;
  /** Istio's root namespace (meshConfig.rootNamespace, default istio-system). */
  rootNamespace: string;
  /** The domain suffix (cluster.local). */
  domainSuffix: string;
  /**
   * Reports a message by Istio name (e.g. `ReferencedResourceNotFound`) with the template's
   * arguments in order; the runner fills code, level and text from the catalog, and applies
   * suppression.
   */
  report(name: string, resource: Resource | undefined, args: readonly unknown[], path?: string): void;
}

export interface Analyzer {
  /** Istio's analyzer name, e.g. `virtualservice.DestinationHostAnalyzer`. */
  name: string;
  /** One line for `tsmesh analyze -L` (istioctl's description of the analyzer). */
  description?: string;
  analyze(ctx: AnalysisContext): void;
}
