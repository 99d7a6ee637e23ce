/**
 * istiod's admission webhooks in Kubernetes mode, in one call: the HTTPS server (Istio's 15017,
 * behind the istiod Service's 443) with a certificate from the control plane's CA, /inject with
 * settings from the mesh config and the istio-sidecar-injector ConfigMap's values, /validate
 * with the given handler; then the caBundle of tsmesh install's webhook configurations patched.
 * Once the API server is seen to reach /validate (a dry-run create of an invalid Gateway is
 * refused by it), the validating configuration is switched to failurePolicy: Fail, as Istio's
 * webhook controller does; until then it fails open (Ignore, as installed).
 *
 * Both are kept up, not set once: the two configurations are watched (by name) and re-patched
 * whenever they appear or change, so configurations applied after istiod started, or re-applied
 * by a user, get the caBundle (and, once enforced, failurePolicy Fail) again. The values
 * ConfigMap is watched too: a change applies to the next pod; a bad edit is logged and the last
 * good values keep serving (with none yet, pods are refused with the error, not injected wrongly).
 */
import type { CertificateAuthority } from '../../ca/authority.ts';
import type { MeshConfig } from '../../api/types.ts';
import { KubeApiError, type KubeClient } from '../client/client.ts';
import { Informer } from '../informers/informer.ts';
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
  const valuesName = revised('istio-sidecar-injector', v);
  const valuesInformer = new Informer(o.client, { path: `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/configmaps`, apiVersion: 'v1', kind: 'ConfigMap', fieldSelector: `metadata.name=${valuesName}`, log });
  valuesInformer.start();
  // The first pods should see the values: wait for the first list, but not forever (the API server may be slow).
  await untilSynced(valuesInformer);
  if (valuesInformer.synced && !valuesInformer.get(valuesName, o.namespace)) log(`webhook: no ConfigMap ${o.namespace}/${valuesName}; injecting with the defaults until it exists`);

  // Recomputed when the mesh config object or the values text changes; a bad result keeps the last good one.
  let cached: { mesh: MeshConfig; values: string | undefined; settings: InjectionSettings } | undefined;
  let lastGood: InjectionSettings | undefined;
  let lastError = '';
  const settings = (): InjectionSettings => {
    const mesh = o.mesh();
    const cm = valuesInformer.get(valuesName, o.namespace);
    const values: string | undefined = typeof cm?.data?.values === 'string' ? cm.data.values : undefined;
    if (cached?.mesh === mesh && cached.values === values) return cached.settings;
    const r = resolveInjectionSettings({ mesh, ...(values !== undefined ? { values } : {}), ...(o.revision ? { revision: o.revision } : {}), env: process.env });
    if (!r.ok) {
      const error = `ConfigMap ${o.namespace}/${valuesName} data.values: ${r.error}; fix it with kubectl edit configmap -n ${o.namespace} ${valuesName}`;
      if (error !== lastError) log(`webhook: ${error}${lastGood ? ' (the last good values keep serving)' : ' (pods are refused until it is fixed)'}`);
      lastError = error;
      if (!lastGood) throw new Error(error);
      return lastGood;
    }
    lastError = '';
    for (const w of r.warnings) log(`injection values: ${w}`);
    cached = { mesh, values, settings: r.settings };
    lastGood = r.settings;
    return r.settings;
  };
  const refresh = () => {
    try {
      settings();
    } catch {
      // Logged in settings(); the webhook serves and refuses pods with the error until the values are fixed.
    }
  };
  refresh();
  valuesInformer.on(refresh);

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
  const validating = validatorName(v);
  const state = { stopped: false, enforced: false };
  const configInformers = [
    await watchConfiguration(o, 'mutating', injectorName(v), state, log),
    await watchConfiguration(o, 'validating', validating, state, log),
  ];
  const validationEnforced =
    o.validate && o.enforceValidation !== false
      ? enforceWhenReachable(o.client, o.namespace, validating, o.ca.rootPem(), () => state.stopped, log).then((ok) => {
          state.enforced = ok;
          return ok;
        })
      : Promise.resolve(false);
  return {
    port,
    validationEnforced,
    close: async () => {
      state.stopped = true;
      valuesInformer.stop();
      for (const inf of configInformers) inf.stop();
      await server.close();
    },
  };
}

/** Resolves once the informer listed, or after 10 s (then it goes on trying in the background). */
async function untilSynced(inf: Informer): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([inf.waitForSync(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
  clearTimeout(timer);
}

/**
 * Watches one webhook configuration by name and patches its caBundle (and, once validation is
 * enforced, the validator's failurePolicy) whenever it is created or changed: Istio's webhook
 * controller. Our own patch comes back as an update that finds nothing to change.
 */
async function watchConfiguration(o: AdmissionWebhooksOptions, kind: 'mutating' | 'validating', name: string, state: { stopped: boolean; enforced: boolean }, log: (l: string) => void): Promise<Informer> {
  const plural = kind === 'mutating' ? 'mutatingwebhookconfigurations' : 'validatingwebhookconfigurations';
  const inf = new Informer(o.client, {
    path: `/apis/admissionregistration.k8s.io/v1/${plural}`,
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: kind === 'mutating' ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration',
    fieldSelector: `metadata.name=${name}`,
    log,
  });
  // One patch at a time; a change during one is looked at again after it.
  let busy: Promise<void> | undefined;
  let again = false;
  const reconcile = (): void => {
    if (state.stopped) return;
    if (busy) {
      again = true;
      return;
    }
    const fail = kind === 'validating' && state.enforced;
    busy = patchWebhookCaBundles(o.client, { caPem: o.ca.rootPem(), [kind]: [name], ...(fail ? { validatingFailurePolicy: 'Fail' as const } : {}) })
      .then(
        (changed) => {
          if (changed.length) log(`webhook: caBundle of ${name} set to the mesh root${fail ? ' (failurePolicy Fail)' : ''}`);
        },
        (e: Error) => log(`webhook: ${e.message}`),
      )
      .finally(() => {
        busy = undefined;
        if (again) {
          again = false;
          reconcile();
        }
      });
  };
  inf.on((events) => {
    if (events.some((e) => e.type !== 'delete')) reconcile();
  });
  inf.start();
  await untilSynced(inf);
  // A control plane run without `tsmesh install` has no configurations: it serves, nobody calls.
  if (inf.synced && !inf.get(name)) log(`webhook: no ${inf.kind} ${name} yet; its caBundle is set once it is applied (tsmesh install writes it)`);
  await busy;
  return inf;
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
