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
