/**
 * Which apiVersion/kind pairs tsmesh reads, and the published Istio schema (from
 * @kubernetes-models/istio, generated from Istio's CRDs) that checks each Istio one.
 */
import { nearest } from './nearest.ts';
import type { IstioKind, Kind, KubeKind } from './types.ts';

import { DestinationRule as DrV1 } from '@kubernetes-models/istio/networking.istio.io/v1/DestinationRule';
import { Gateway as GwV1 } from '@kubernetes-models/istio/networking.istio.io/v1/Gateway';
import { ServiceEntry as SeV1 } from '@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry';
import { Sidecar as ScV1 } from '@kubernetes-models/istio/networking.istio.io/v1/Sidecar';
import { VirtualService as VsV1 } from '@kubernetes-models/istio/networking.istio.io/v1/VirtualService';
import { WorkloadEntry as WeV1 } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadEntry';
import { WorkloadGroup as WgV1 } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadGroup';
import { DestinationRule as DrV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { Gateway as GwV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/Gateway';
import { ServiceEntry as SeV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/ServiceEntry';
import { Sidecar as ScV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/Sidecar';
import { VirtualService as VsV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';
import { WorkloadEntry as WeV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadEntry';
import { WorkloadGroup as WgV1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadGroup';
import { DestinationRule as DrV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/DestinationRule';
import { Gateway as GwV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/Gateway';
import { ServiceEntry as SeV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/ServiceEntry';
import { Sidecar as ScV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/Sidecar';
import { VirtualService as VsV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/VirtualService';
import { WorkloadEntry as WeV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadEntry';
import { WorkloadGroup as WgV1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadGroup';
import { AuthorizationPolicy as ApV1 } from '@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy';
import { PeerAuthentication as PaV1 } from '@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication';
import { RequestAuthentication as RaV1 } from '@kubernetes-models/istio/security.istio.io/v1/RequestAuthentication';
import { AuthorizationPolicy as ApV1b1 } from '@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy';
import { PeerAuthentication as PaV1b1 } from '@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication';
import { RequestAuthentication as RaV1b1 } from '@kubernetes-models/istio/security.istio.io/v1beta1/RequestAuthentication';
import { Telemetry as TmV1 } from '@kubernetes-models/istio/telemetry.istio.io/v1/Telemetry';
import { Telemetry as TmV1a1 } from '@kubernetes-models/istio/telemetry.istio.io/v1alpha1/Telemetry';

/** A generated model class: construct from plain data, then validate() throws on schema errors. */
export type SchemaModel = new (data: any) => { validate(): void };

const ISTIO: Record<string, Partial<Record<IstioKind, SchemaModel>>> = {
  'networking.istio.io/v1': {
    VirtualService: VsV1, DestinationRule: DrV1, Gateway: GwV1, ServiceEntry: SeV1,
    WorkloadEntry: WeV1, WorkloadGroup: WgV1, Sidecar: ScV1,
  },
  'networking.istio.io/v1beta1': {
    VirtualService: VsV1b1, DestinationRule: DrV1b1, Gateway: GwV1b1, ServiceEntry: SeV1b1,
    WorkloadEntry: WeV1b1, WorkloadGroup: WgV1b1, Sidecar: ScV1b1,
  },
  'networking.istio.io/v1alpha3': {
    VirtualService: VsV1a3, DestinationRule: DrV1a3, Gateway: GwV1a3, ServiceEntry: SeV1a3,
    WorkloadEntry: WeV1a3, WorkloadGroup: WgV1a3, Sidecar: ScV1a3,
  },
  'security.istio.io/v1': { AuthorizationPolicy: ApV1, PeerAuthentication: PaV1, RequestAuthentication: RaV1 },
  'security.istio.io/v1beta1': { AuthorizationPolicy: ApV1b1, PeerAuthentication: PaV1b1, RequestAuthentication: RaV1b1 },
  'telemetry.istio.io/v1': { Telemetry: TmV1 },
  'telemetry.istio.io/v1alpha1': { Telemetry: TmV1a1 },
};

const KUBE: Record<string, KubeKind[]> = {
  v1: ['Service', 'ServiceAccount', 'Namespace', 'Secret'],
  'apps/v1': ['Deployment'],
};

export const ISTIO_KINDS: readonly IstioKind[] = [
  'VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'WorkloadEntry', 'WorkloadGroup',
  'Sidecar', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry',
];
export const KUBE_KINDS: readonly KubeKind[] = ['Service', 'Deployment', 'ServiceAccount', 'Namespace', 'Secret'];
export const ALL_KINDS: readonly Kind[] = [...ISTIO_KINDS, ...KUBE_KINDS];

/** Kinds without a namespace (Kubernetes cluster-scoped). */
export function isClusterScoped(kind: Kind): boolean {
  return kind === 'Namespace';
}

export function isIstioKind(kind: string): kind is IstioKind {
  return (ISTIO_KINDS as readonly string[]).includes(kind);
}

/** The schema model for an Istio apiVersion/kind, if tsmesh serves that pair. */
export function schemaModel(apiVersion: string, kind: string): SchemaModel | undefined {
  return (ISTIO[apiVersion] as Record<string, SchemaModel> | undefined)?.[kind];
}

/** Every apiVersion tsmesh accepts for a kind, e.g. VirtualService → networking.istio.io/v1, .../v1beta1, ... */
export function servedVersions(kind: string): string[] {
  const out: string[] = [];
  for (const [av, kinds] of Object.entries(ISTIO)) if (kind in kinds) out.push(av);
  for (const [av, kinds] of Object.entries(KUBE)) if ((kinds as string[]).includes(kind)) out.push(av);
  return out;
}

export type KindResolution =
  | { ok: true; kind: Kind }
  /** `ignore`: a Kubernetes kind tsmesh has no use for (ConfigMap, ...): a warning, not an error. */
  | { ok: false; ignore: boolean; message: string; field: 'apiVersion' | 'kind' };

/** Groups whose kinds change routing or security: dropping one silently would change behaviour. */
const MESH_GROUPS = ['networking.istio.io', 'security.istio.io', 'telemetry.istio.io', 'extensions.istio.io', 'gateway.networking.k8s.io', 'gateway.networking.x-k8s.io'];

/** Decides whether tsmesh reads apiVersion/kind, with a message that says why not. */
export function resolveKind(apiVersion: unknown, kind: unknown): KindResolution {
  if (typeof apiVersion !== 'string' || apiVersion === '') return { ok: false, ignore: false, field: 'apiVersion', message: 'apiVersion is required' };
  if (typeof kind !== 'string' || kind === '') return { ok: false, ignore: false, field: 'kind', message: 'kind is required' };
  if (schemaModel(apiVersion, kind) || KUBE[apiVersion]?.includes(kind as KubeKind)) return { ok: true, kind: kind as Kind };
  const group = groupOf(apiVersion);
  const versions = servedVersions(kind).filter((v) => groupOf(v) === group);
  if (versions.length > 0) {
    return { ok: false, ignore: false, field: 'apiVersion', message: `apiVersion ${apiVersion} is not served for ${kind}; use one of ${versions.join(', ')}` };
  }
  if (group.startsWith('gateway.networking.')) {
    return { ok: false, ignore: false, field: 'kind', message: `unsupported kind ${kind} (${apiVersion}): tsmesh does not implement the Kubernetes Gateway API; use networking.istio.io Gateway and VirtualService` };
  }
  if (MESH_GROUPS.includes(group)) {
    const near = nearestKind(kind);
    return { ok: false, ignore: false, field: 'kind', message: `unsupported kind ${kind} (${apiVersion})${near ? `; did you mean ${near}?` : ''}` };
  }
  // Some other Kubernetes object (ConfigMap, Secret, CRDs, ...): nothing in tsmesh reads it.
  const near = group === '' || group === 'apps' ? nearestKind(kind) : undefined;
  if (near && near !== kind) return { ok: false, ignore: false, field: 'kind', message: `unknown kind ${kind} (${apiVersion}); did you mean ${near}?` };
  return { ok: false, ignore: true, field: 'kind', message: `ignored ${kind} (${apiVersion}): tsmesh does not read this kind` };
}

/** "networking.istio.io/v1" → "networking.istio.io"; core "v1" → "". */
function groupOf(apiVersion: string): string {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** A supported kind within edit distance 2 (typo help), case-insensitively. */
function nearestKind(kind: string): Kind | undefined {
  return nearest(kind, ALL_KINDS, 2);
}
