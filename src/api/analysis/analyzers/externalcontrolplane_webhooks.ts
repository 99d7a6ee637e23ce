/**
 * externalcontrolplane.ExternalControlPlaneAnalyzer: with an external control plane, the remote
 * cluster's Istio webhooks (the istio-validator* / istiod-default-validator and
 * istio-sidecar-injector* configurations) reach istiod through a URL, the ingress gateway of the
 * external cluster. A webhook with neither a Service nor a URL (IST0163 "is blank") or with a URL
 * that does not parse (IST0163 "invalid format") breaks injection and validation; an IP address
 * works but is fragile (IST0164). Istio also resolves the hostname by DNS; an analyzer must not
 * depend on the network, so that check is left out.
 */
import { isIP } from 'node:net';
import type { Analyzer, Resource } from '../types.ts';
import { arr, obj } from './wl_util.ts';

function isIstioWebhookConfig(r: Resource): boolean {
  if (r.kind === 'ValidatingWebhookConfiguration') return r.name.startsWith('istio-validator') || r.name === 'istiod-default-validator';
  return r.name.startsWith('istio-sidecar-injector');
}

export const externalControlPlaneAnalyzer: Analyzer = {
  name: 'externalcontrolplane.ExternalControlPlaneAnalyzer',
  description: 'Checks that the remote IstioOperator resources reference an external control plane',
  analyze(ctx) {
    const configs = [...ctx.list('admissionregistration.k8s.io/ValidatingWebhookConfiguration'), ...ctx.list('admissionregistration.k8s.io/MutatingWebhookConfiguration')];
    for (const r of configs) {
      if (!isIstioWebhookConfig(r)) continue;
      for (const wh of arr(r.object.webhooks)) {
        const name = String(obj(wh).name ?? '');
        const cc = obj(obj(wh).clientConfig);
        if (cc.service) continue;
        if (cc.url === undefined || cc.url === null) {
          ctx.report('InvalidExternalControlPlaneConfig', r, ['', name, 'is blank']);
          continue;
        }
        const url = String(cc.url);
        const host = goUrlHostname(url);
        if (host === undefined) ctx.report('InvalidExternalControlPlaneConfig', r, [url, name, 'was provided in an invalid format']);
        else if (isIP(host)) ctx.report('ExternalControlPlaneAddressIsNotAHostname', r, [url, name]);
      }
    }
  },
};

/**
 * The hostname of a URL as Go's net/url reads it (lenient: a bare word is a path with no host),
 * or undefined where Go's parser fails (control characters, a leading ':', bad escapes, an
 * unclosed IPv6 bracket, a non-numeric port).
 */
export function goUrlHostname(url: string): string | undefined {
  if (/[\x00-\x1f\x7f]/.test(url)) return undefined;
  if (/%(?![0-9a-fA-F]{2})/.test(url)) return undefined;
  let rest = url;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  if (scheme) rest = url.slice(scheme[0].length);
  else if (url.startsWith(':')) return undefined; // "missing protocol scheme"
  if (!rest.startsWith('//')) return '';
  let authority = rest.slice(2).split(/[/?#]/, 1)[0];
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  let host = authority;
  let port = '';
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return undefined;
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return undefined;
    port = after.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      port = authority.slice(colon + 1);
    }
  }
  if (!/^\d*$/.test(port)) return undefined;
  return host;
}
