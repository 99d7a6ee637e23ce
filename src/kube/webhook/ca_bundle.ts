/**
 * Puts the control plane's CA root into the caBundle of its webhook configurations at start
 * (Istio's webhook controller), so the API server trusts the webhook server's certificate. A
 * validating configuration can be switched to failurePolicy: Fail at the same time, once the
 * caller has seen its endpoint answer (Istio installs it with Ignore to fail open until then).
 * Read-modify-write with the object's resourceVersion; a conflict (someone else wrote it in
 * between) is retried.
 */
import { KubeApiError, type KubeClient } from '../client/client.ts';

export interface CaBundlePatch {
  caPem: string;
  mutating?: string[];
  validating?: string[];
  /** Set the validating webhooks' failurePolicy too (Istio: Fail once the webhook serves). */
  validatingFailurePolicy?: 'Fail' | 'Ignore';
}

const PATHS = {
  mutating: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/',
  validating: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/',
};

/** Returns the names it changed (those already right are left alone). Throws naming a missing configuration. */
export async function patchWebhookCaBundles(client: KubeClient, p: CaBundlePatch): Promise<string[]> {
  const bundle = Buffer.from(p.caPem).toString('base64');
  const changed: string[] = [];
  const jobs: Array<[keyof typeof PATHS, string]> = [...(p.mutating ?? []).map((n) => ['mutating', n] as [keyof typeof PATHS, string]), ...(p.validating ?? []).map((n) => ['validating', n] as [keyof typeof PATHS, string])];
  for (const [kind, name] of jobs) {
    const path = PATHS[kind] + encodeURIComponent(name);
    for (let attempt = 0; ; attempt++) {
      let obj: any;
      try {
        obj = await client.get(path);
      } catch (e) {
        if (e instanceof KubeApiError && e.statusCode === 404) throw new Error(`${kind === 'mutating' ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration'} ${name} does not exist: run 'tsmesh install' (or apply its webhook configurations) first`);
        throw e;
      }
      let dirty = false;
      for (const w of obj.webhooks ?? []) {
        w.clientConfig ??= {};
        if (w.clientConfig.caBundle !== bundle) {
          w.clientConfig.caBundle = bundle;
          dirty = true;
        }
        if (kind === 'validating' && p.validatingFailurePolicy && w.failurePolicy !== p.validatingFailurePolicy) {
          w.failurePolicy = p.validatingFailurePolicy;
          dirty = true;
        }
      }
      if (!dirty) break;
      try {
        await client.request('PUT', path, obj);
        changed.push(name);
        break;
      } catch (e) {
        if (e instanceof KubeApiError && e.statusCode === 409 && attempt < 5) continue;
        throw e;
      }
    }
  }
  return changed;
}
