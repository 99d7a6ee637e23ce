/**
 * istioctl kube-inject over a multi-document YAML stream: workloads come back injected, every
 * other document (and any workload that is not to be injected) exactly as it was written,
 * comments included. Output is stable: the same input and settings give the same bytes.
 */
import { parseAllDocuments, stringify } from 'yaml';
import type { InjectionSettings } from './settings.ts';
import { injectWorkload, type KubeObject } from './workloads.ts';

export interface KubeInjectResult {
  /** The output stream; empty when `errors` is not. */
  text: string;
  /** One line per document that could not be injected, naming it. */
  errors: string[];
  /** kind/name of each injected workload, in order. */
  injected: string[];
  /** Settings asked of the injector that it does not act on, per workload (kind/name: ...). */
  warnings: string[];
}

export function kubeInjectText(input: string, settings: InjectionSettings, namespace = 'default'): KubeInjectResult {
  const out: string[] = [];
  const errors: string[] = [];
  const injected: string[] = [];
  const warnings: string[] = [];
  const docs = parseAllDocuments(input);
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length) {
      errors.push(`document ${i + 1}: YAML syntax error: ${doc.errors[0]!.message.split('\n')[0]}`);
      continue;
    }
    const obj = doc.toJS() as KubeObject | null;
    const unchanged = () => out.push(doc.toString({ lineWidth: 0 }).replace(/^---\n/, ''));
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
      if (obj !== null) unchanged();
      continue;
    }
    const r = injectWorkload(obj, settings, namespace);
    const what = `${obj.kind ?? 'object'}/${obj.metadata?.name ?? '?'}`;
    if (!r.ok) {
      errors.push(`${what}: ${r.error}`);
      continue;
    }
    if (!r.injected) {
      unchanged();
      continue;
    }
    injected.push(what);
    for (const w of r.warnings ?? []) warnings.push(`${what}: ${w}`);
    out.push(stringify(r.object, { aliasDuplicateObjects: false, lineWidth: 0 }));
  }
  if (errors.length) return { text: '', errors, injected, warnings };
  return { text: out.map((d) => (d.endsWith('\n') ? d : `${d}\n`)).join('---\n'), errors, injected, warnings };
}
