/**
 * The mutating webhook's handler (Istio's injector `/inject`): a Pod being created comes back
 * with an RFC 6902 patch to the injected pod, the same transform `tsmesh kube-inject` runs.
 * A pod that is not to be injected is allowed unchanged; one whose annotations cannot be honoured
 * is refused with the reason (Istio refuses it too), never created without its sidecar silently.
 */
import { injectPod } from '../inject/inject.ts';
import { createPatch } from '../inject/json_patch.ts';
import type { Pod } from '../inject/objects.ts';
import type { InjectionSettings } from '../inject/settings.ts';
import type { AdmissionHandler, AdmissionRequest, AdmissionResponse } from './types.ts';

export interface InjectHandlerOptions {
  /** Read per request, so a changed mesh config applies to the next pod. */
  settings: () => InjectionSettings;
  /** Logs one line per decision (pod, injected or why not). */
  log?: (line: string) => void;
}

export function injectHandler(o: InjectHandlerOptions): AdmissionHandler {
  return (req: AdmissionRequest): AdmissionResponse => {
    const pod = req.object as Pod | undefined;
    if (req.kind?.kind !== 'Pod' || req.operation !== 'CREATE') return { uid: req.uid, allowed: true };
    if (!pod || typeof pod !== 'object' || !pod.spec || !Array.isArray(pod.spec.containers)) {
      return { uid: req.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: 'the request has no Pod object with spec.containers' } };
    }
    const namespace = req.namespace || pod.metadata?.namespace || 'default';
    const name = pod.metadata?.name || `${pod.metadata?.generateName ?? ''}*`;
    const r = injectPod({ pod, namespace, settings: o.settings() });
    if (!r.ok) {
      o.log?.(`inject ${namespace}/${name}: refused: ${r.error}`);
      return { uid: req.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `sidecar injection: ${r.error}` } };
    }
    if (!r.injected) {
      o.log?.(`inject ${namespace}/${name}: skipped (${r.reason})`);
      return { uid: req.uid, allowed: true };
    }
    o.log?.(`inject ${namespace}/${name}: injected${r.warnings.length ? ` (${r.warnings.join('; ')})` : ''}`);
    const patch = Buffer.from(JSON.stringify(createPatch(pod, r.pod))).toString('base64');
    // Admission warnings: kubectl prints them to whoever created the pod.
    return { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch, ...(r.warnings.length ? { warnings: r.warnings } : {}) };
  };
}
