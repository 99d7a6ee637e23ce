/** Shared by the api tests: where Istio's own YAML lives, and a one-call "validate this YAML". */
import { loadText } from '../../src/api/load.ts';
import type { ValidationError } from '../../src/api/types.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

export const ISTIO = ISTIO_DATA;

/** Every problem with the resources in `yaml` (per-resource validation, no cross checks). */
export function problems(yaml: string, file = 'test.yaml'): ValidationError[] {
  return loadText(yaml, { file }).flatMap((r) => r.errors);
}

/** Only the errors (warnings dropped). */
export function errorsOf(yaml: string): ValidationError[] {
  return problems(yaml).filter((e) => e.severity !== 'warning');
}

/** A one-resource YAML document with the given spec (as YAML text, indented under spec:). */
export function doc(kind: string, spec: string, opts: { apiVersion?: string; name?: string; namespace?: string } = {}): string {
  const apiVersion = opts.apiVersion ?? (['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication'].includes(kind) ? 'security.istio.io/v1' : kind === 'Telemetry' ? 'telemetry.istio.io/v1' : 'networking.istio.io/v1');
  const indented = spec.trim().split('\n').map((l) => '  ' + l).join('\n');
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${opts.name ?? 'test'}\n  namespace: ${opts.namespace ?? 'default'}\nspec:\n${indented}\n`;
}
