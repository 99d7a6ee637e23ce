/**
 * WorkloadEntry and WorkloadGroup → model Workloads. The same WorkloadEntry shape is used inline
 * in ServiceEntry.spec.endpoints and as WorkloadGroup.spec.template, so its parsing lives here once.
 */
import type { Config } from '../api/types.ts';
import type { Locality, Workload } from './model.ts';
import { cleanLabels, mergeLabels, type Labels } from './labels.ts';
import { parseLocality } from './locality.ts';

/** Istio's WorkloadEntry spec (also ServiceEntry.endpoints[] and WorkloadGroup.template). */
export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

/** The fields of a WorkloadEntry spec every consumer needs, validated and defaulted. */
export interface ParsedEntry {
  address?: string;
  ports?: Record<string, number>;
  labels: Labels;
  network?: string;
  locality: Locality;
  /** Istio: 0 or absent means the default weight 1. */
  weight: number;
  serviceAccount?: string;
}

export function parsePorts(m: unknown): Record<string, number> | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    const n = Number(v);
    if (Number.isInteger(n) && n > 0 && n <= 65535) out[k] = n;
  }
  return Object.keys(out).length ? out : undefined;
}

export function parseEntry(spec: WorkloadEntrySpec | undefined): ParsedEntry {
  const s = spec ?? {};
  const weight = Number(s.weight);
  const out: ParsedEntry = {
    labels: cleanLabels(s.labels) ?? {},
    locality: parseLocality(s.locality),
    weight: Number.isInteger(weight) && weight > 0 ? weight : 1,
  };
  if (typeof s.address === 'string' && s.address) out.address = s.address;
  const ports = parsePorts(s.ports);
  if (ports) out.ports = ports;
  if (typeof s.network === 'string' && s.network) out.network = s.network;
  if (typeof s.serviceAccount === 'string' && s.serviceAccount) out.serviceAccount = s.serviceAccount;
  return out;
}

/**
 * A WorkloadEntry config → a Workload, or undefined when it has no address (Istio allows that for
 * workloads reached through a network gateway, which tsmesh does not model yet).
 */
export function convertWorkloadEntry(cfg: Config): Workload | undefined {
  const e = parseEntry(cfg.spec);
  if (!e.address) return undefined;
  const w: Workload = {
    name: cfg.metadata.name,
    namespace: cfg.metadata.namespace,
    address: e.address,
    labels: e.labels,
    locality: e.locality,
    weight: e.weight,
    healthy: true,
    source: `WorkloadEntry/${cfg.metadata.namespace}/${cfg.metadata.name}`,
  };
  if (e.serviceAccount) w.serviceAccount = e.serviceAccount;
  if (e.network) w.network = e.network;
  if (e.ports) w.ports = e.ports;
  return w;
}

/** What a WorkloadGroup contributes to a workload that auto-registers into it. */
export interface GroupTemplate {
  /** template.labels overlaid with metadata.labels (Istio: metadata > template). */
  labels: Labels;
  serviceAccount?: string;
  ports?: Record<string, number>;
  network?: string;
  locality: Locality;
  weight: number;
}

export function workloadGroupTemplate(cfg: Config): GroupTemplate {
  const tpl = parseEntry(cfg.spec?.template);
  const out: GroupTemplate = {
    labels: mergeLabels(tpl.labels, cleanLabels(cfg.spec?.metadata?.labels)),
    locality: tpl.locality,
    weight: tpl.weight,
  };
  if (tpl.serviceAccount) out.serviceAccount = tpl.serviceAccount;
  if (tpl.ports) out.ports = tpl.ports;
  if (tpl.network) out.network = tpl.network;
  return out;
}
