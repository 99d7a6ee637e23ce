/**
 * tsmesh install's webhook configurations pointed at a webhook server on this host by URL: the
 * tests' API server has no kube-proxy to carry it to the istiod Service.
 */
import { webhookConfigurations } from '../../src/kube/install/webhooks.ts';
import type { InstallValues } from '../../src/kube/install/values.ts';

export function localWebhookConfigurations(values: InstallValues, port: number): any[] {
  const configs = webhookConfigurations(values) as any[];
  for (const c of configs) for (const w of c.webhooks) w.clientConfig = { url: `https://127.0.0.1:${port}${w.clientConfig.service.path}` };
  return configs;
}
