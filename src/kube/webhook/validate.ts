/**
 * The validating admission webhook's handler (Istio's galley/istiod `/validate`): an Istio object
 * being created or updated is checked by exactly the code `tsmesh validate` runs (src/api's
 * loader and validation), refused with the same lines `tsmesh validate` prints for it (less the
 * file:line prefix, which an API request does not have), and allowed with the same warnings for
 * fields tsmesh accepts but does not enforce yet.
 *
 * failurePolicy: Istio installs its ValidatingWebhookConfiguration with `failurePolicy: Ignore`
 * ("Fail open until the validation webhook is ready. The webhook controller will update this to
 * `Fail` and patch in the `caBundle` when the webhook endpoint is ready": istio-discovery chart,
 * validatingwebhookconfiguration.yaml). tsmesh install writes the same Ignore, and
 * startAdmissionWebhooks (start.ts) switches it to Fail once the API server is seen to reach
 * this handler.
 */
import { loadText } from '../../api/load.ts';
import { formatValidationError, isError, type ValidationError } from '../../api/types.ts';
import type { AdmissionHandler, AdmissionRequest, AdmissionResponse } from './types.ts';

/** The lines `tsmesh validate` prints for these problems, without a file position. */
export function admissionLines(problems: readonly ValidationError[]): string[] {
  return problems.map((p) => formatValidationError({ ...p, file: undefined, line: undefined, column: undefined }));
}

/** Validates the object of one AdmissionRequest as `tsmesh validate` would validate its YAML. */
export const validateHandler: AdmissionHandler = (req: AdmissionRequest): AdmissionResponse => {
  // Deletes and connects carry nothing to validate; Istio allows them too.
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return { uid: req.uid, allowed: true };
  if (req.object === undefined || req.object === null) {
    return { uid: req.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `${req.operation} without an object to validate` } };
  }
  // JSON is YAML: the object goes through the same reader as a file, so unknown top-level
  // fields, kinds and versions get validate's messages too.
  const problems = loadText(JSON.stringify(req.object), { namespace: req.namespace || undefined }).flatMap((r) => r.errors);
  const errors = problems.filter(isError);
  const warnings = admissionLines(problems.filter((p) => !isError(p)));
  if (errors.length > 0) {
    return {
      uid: req.uid,
      allowed: false,
      status: { code: 400, reason: 'Invalid', message: admissionLines(errors).join('\n') },
      ...(warnings.length ? { warnings } : {}),
    };
  }
  return { uid: req.uid, allowed: true, ...(warnings.length ? { warnings } : {}) };
};
