/** Runs one analyzer on Istio testdata files or inline YAML, as `tsmesh analyze` reads them, and names its findings `CODE Kind ns/name`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadInputs, parseResources } from '../../../../src/api/analysis/load.ts';
import { analyze } from '../../../../src/api/analysis/run.ts';
import type { Message } from '../../../../src/api/analysis/types.ts';
import { TESTDATA } from '../conformance.ts';

export { TESTDATA };
export const NO_TESTDATA = !existsSync(TESTDATA) && 'istio-data not present';

export function label(m: Message): string {
  const r = m.resource;
  return r ? `${m.code} ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}` : m.code;
}

/** The analyzer's messages on testdata files; objects without a namespace stay in none, as in Istio's analyzer tests. */
export function onFiles(analyzer: string, files: string[], kubeInputs = true): Message[] {
  const { resources } = loadInputs(files.map((f) => join(TESTDATA, f)), { namespace: '' });
  return analyze(resources, { analyzers: [analyzer], kubeInputs });
}

export function onYaml(analyzer: string, yaml: string): Message[] {
  return analyze(parseResources(yaml, 'inline.yaml').resources, { analyzers: [analyzer] });
}

/** Sorted labels, for comparing sets of findings. */
export function labels(ms: Message[]): string[] {
  return ms.map(label).sort();
}
