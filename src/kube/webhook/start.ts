/**
 * istiod's admission webhooks in Kubernetes mode, in one call: the HTTPS server (Istio's 15017,
 * behind the istiod Service's 443) with a certificate from the control plane's CA, /inject with
 * settings from the mesh config and the istio-sidecar-injector ConfigMap's values, /validate
 * with the given handler; then the caBundle of tsmesh install's webhook configurations patched.
 * Once the API server is seen to reach /validate (a dry-run create of an invalid Gateway is
 * refused by it), the validating configuration is switched to failurePolicy: Fail, as Istio's
 * webhook controller does; until then it fails open (Ignore, as installed).
 */
import type { CertificateAuthority } from '../../ca/authority.ts';
import type { MeshConfig } from '../../api/types.ts';
import { KubeApiError, type KubeClient } from '../client/client.ts';
import { defaultValues } from '../install/values.ts';
import { injectorName, istiodName, revised, validatorName } from '../install/names.ts';
import { resolveInjectionSettings } from '../inject/values.ts';
import type { InjectionSettings } from '../inject/settings.ts';
import { patchWebhookCaBundles } from './ca_bundle.ts';
import { injectHandler } from './inject_handler.ts';
import { WebhookServer } from './server.ts';
import type { AdmissionHandler } from './types.ts';

export interface AdmissionWebhooksOptions {
  client: KubeClient;
  ca: CertificateAuthority;
  /** The control plane's namespace (istio-system). */
  namespace: string;
  revision?: string;
  /** Where to listen (Istio: 0.0.0.0:15017). */
  host?: string;
  port?: number;
  /** The current mesh config; read for every injected pod. */
  mesh: () => MeshConfig;
  validate?: AdmissionHandler;
  /** Check the validation path and switch to Fail (default true). */
  enforceValidation?: boolean;
  log?: (line: string) => void;
}

export interface AdmissionWebhooks {
  port: number;
  /** Resolves once the validating configuration has been switched to Fail (or checking gave up). */
  validationEnforced: Promise<boolean>;
  close(): Promise<void>;
}

/** Istio's webhook port behind the istiod Service's 443. */
export const WEBHOOK_PORT = 15017;

export async function startAdmissionWebhooks(o: AdmissionWebhooksOptions): Promise<AdmissionWebhooks> {
  const log = o.log ?? (() => {});
  const v = { ...defaultValues(), namespace: o.namespace, revision: o.revision ?? '' };
  const values = await readInjectorValues(o.client, o.namespace, revised('istio-sidecar-injector', v), log);
  // Recomputed only when the mesh config object changes (the config store swaps it on update).
  let cached: { mesh: MeshConfig; settings: InjectionSettings } | undefined;
  const settings = (): InjectionSettings => {
    const mesh = o.mesh();
    if (cached?.mesh === mesh) return cached.settings;
    const r = resolveInjectionSettings({ mesh, ...(values !== undefined ? { values } : {}), ...(o.revision ? { revision: o.revision } : {}), env: process.env });
    if (!r.ok) throw new Error(`istio-sidecar-injector values: ${r.error}`);
    for (const w of r.warnings) log(`injection values: ${w}`);
    cached = { mesh, settings: r.settings };
    return r.settings;
  };
  settings();
  const svc = istiodName(v);
  const server = new WebhookServer({
    ca: o.ca,
    host: o.host ?? '0.0.0.0',
    port: o.port ?? WEBHOOK_PORT,
    dnsNames: [`${svc}.${o.namespace}.svc`, `${svc}.${o.namespace}.svc.cluster.local`, `${svc}.${o.namespace}`, svc],
    inject: injectHandler({ settings, log }),
    ...(o.validate ? { validate: o.validate } : {}),
    log,
  });
  const port = await server.listen();
  const mutating = injectorName(v);
  const validating = validatorName(v);
  for (const [name, kind] of [[mutating, 'mutating'], [validating, 'validating']] as const) {
    try {
      const changed = await patchWebhookCaBundles(o.client, { caPem: o.ca.rootPem(), [kind]: [name] });
      log(changed.length ? `webhook: caBundle of ${name} set to the mesh root` : `webhook: caBundle of ${name} already current`);
    } catch (e) {
      // A control plane run without `tsmesh install` has no configurations: it serves, nobody calls.
      log(`webhook: ${(e as Error).message}`);
    }
  }
  let stopped = false;
  const validationEnforced = o.validate && o.enforceValidation !== false ? enforceWhenReachable(o.client, o.namespace, validating, o.ca.rootPem(), () => stopped, log) : Promise.resolve(false);
  return {
    port,
    validationEnforced,
    close: async () => {
      stopped = true;
      await server.close();
    },
  };
}

async function readInjectorValues(client: KubeClient, namespace: string, name: string, log: (l: string) => void): Promise<string | undefined> {
  try {
    const cm = await client.get(`/api/v1/namespaces/${namespace}/configmaps/${name}`);
    return typeof cm?.data?.values === 'string' ? cm.data.values : undefined;
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 404) {
      log(`webhook: no ConfigMap ${namespace}/${name}; injecting with the defaults`);
      return undefined;
    }
    throw e;
  }
}

/**
 * Dry-run creates an invalid Gateway until the API server answers with /validate's refusal (its
 * message), then sets failurePolicy: Fail. Gives up quietly when the Gateway CRD is missing or
 * the configuration does not exist; retries with backoff (up to 30 s apart) otherwise.
 */
async function enforceWhenReachable(client: KubeClient, namespace: string, name: string, caPem: string, stopped: () => boolean, log: (l: string) => void): Promise<boolean> {
  const probe = { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'tsmesh-webhook-check', namespace }, spec: { servers: [] } };
  for (let delay = 500; !stopped(); delay = Math.min(delay * 2, 30_000)) {
    try {
      await client.request('POST', `/apis/networking.istio.io/v1/namespaces/${namespace}/gateways?dryRun=All`, probe);
      // Accepted: the API server did not reach the webhook (failing open) yet.
    } catch (e) {
      if (e instanceof KubeApiError && e.statusCode === 404) {
        log('webhook: no Gateway CRD to check the validating webhook with; its failurePolicy stays as installed');
        return false;
      }
      if (e instanceof KubeApiError && /at least one server/.test(e.message)) {
        try {
          await patchWebhookCaBundles(client, { caPem, validating: [name], validatingFailurePolicy: 'Fail' });
          log(`webhook: the API server reaches /validate; ${name} now has failurePolicy Fail`);
          return true;
        } catch (err) {
          log(`webhook: ${(err as Error).message}`);
          return false;
        }
      }
      log(`webhook: checking the validating webhook: ${(e as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, delay).unref());
  }
  return false;
}
