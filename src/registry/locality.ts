/** Locality strings as Istio writes them: "region/zone/subzone", any suffix optional. */
import type { Locality } from './model.ts';

export function parseLocality(s: string | undefined | null): Locality {
  const out: Locality = {};
  if (!s) return out;
  const [region, zone, subzone] = s.split('/');
  if (region) out.region = region;
  if (zone) out.zone = zone;
  if (subzone) out.subzone = subzone;
  return out;
}

export function formatLocality(l: Locality): string {
  const parts = [l.region ?? '', l.zone ?? '', l.subzone ?? ''];
  while (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts.join('/');
}

/**
 * A workload's locality from its labels, as Istio reads a pod's: `topology.istio.io/locality`
 * (or the older `istio-locality`) as "region.zone.subzone" — Kubernetes label values cannot hold
 * "/" — else the well-known topology.kubernetes.io/region and /zone labels with
 * topology.istio.io/subzone. Empty when none is set.
 */
export function localityFromLabels(labels: Record<string, string> | undefined): Locality {
  if (!labels) return {};
  const whole = labels['topology.istio.io/locality'] ?? labels['istio-locality'];
  if (whole) return parseLocality(whole.replaceAll('.', '/'));
  const out: Locality = {};
  const region = labels['topology.kubernetes.io/region'];
  const zone = labels['topology.kubernetes.io/zone'];
  const subzone = labels['topology.istio.io/subzone'];
  if (region) out.region = region;
  if (zone) out.zone = zone;
  if (subzone) out.subzone = subzone;
  return out;
}
