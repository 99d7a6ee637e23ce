/**
 * externalcontrolplane.ExternalControlPlaneAnalyzer: with an external control plane, the remote
 * cluster's revision webhooks reach istiod through a URL (the ingress gateway of the external
 * cluster). A blank or malformed URL breaks injection and validation (IST0163); an IP address
 * works but is fragile (IST0164). Webhooks that call a Service are in-cluster and not checked.
 * Istio also resolves the hostname by DNS; an analyzer here must not depend on the network, so
 * that check is left out.
 */
import { isIP } from 'node:net';
import type { Analyzer } from '../types.ts';
import { arr, obj, str } from './wl_util.ts';

const WEBHOOKS: Record<string, string> = {
  ValidatingWebhookConfiguration: 'rev.validation.istio.io',
  MutatingWebhookConfiguration: 'rev.namespace.sidecar-injector.istio.io',
};

export const externalControlPlaneAnalyzer: Analyzer = {
  name: 'externalcontrolplane.ExternalControlPlaneAnalyzer',
  analyze(ctx) {
    for (const [kind, webhookName] of Object.entries(WEBHOOKS)) {
      for (const r of ctx.list(`admissionregistration.k8s.io/${kind}`)) {
        for (const wh of arr(r.object.webhooks)) {
          if (str(obj(wh).name) !== webhookName) continue;
          const cc = obj(obj(wh).clientConfig);
          if (cc.service) continue;
          const url = str(cc.url).trim();
          if (url === '') {
            ctx.report('InvalidExternalControlPlaneConfig', r, ['', webhookName, 'is blank']);
            continue;
          }
          let host: string;
          try {
            host = new URL(url).hostname.replace(/^\[|\]$/g, '');
          } catch {
            ctx.report('InvalidExternalControlPlaneConfig', r, [url, webhookName, 'is malformed']);
            continue;
          }
          if (isIP(host)) ctx.report('ExternalControlPlaneAddressIsNotAHostname', r, [url, webhookName]);
        }
      }
    }
  },
};
