/**
 * The API resources istiod watches, by kind: collection path and apiVersion. Istio kinds are
 * watched at their storage version (v1 for networking and security, v1 for telemetry): the API
 * server converts whatever version a user applied.
 */
import type { IstioKind } from '../../api/types.ts';
import { ISTIO_KINDS } from '../../api/kinds.ts';
import type { KubeClient } from '../client/client.ts';
import { CRD_NAMES } from '../crds/names.ts';
import { Informer, type InformerOptions, type KubeObject } from './informer.ts';

export interface ResourceType {
  kind: string;
  apiVersion: string;
  /** Collection path across namespaces. */
  path: string;
  /** Objects of this kind nothing reads, left out server-side. */
  fieldSelector?: string;
}

function core(kind: string, plural: string): ResourceType {
  return { kind, apiVersion: 'v1', path: `/api/v1/${plural}` };
}

/** Kubernetes kinds the control plane reads. */
export const KUBE_RESOURCES = {
  Service: core('Service', 'services'),
  Pod: core('Pod', 'pods'),
  Namespace: core('Namespace', 'namespaces'),
  Node: core('Node', 'nodes'),
  ServiceAccount: core('ServiceAccount', 'serviceaccounts'),
  // As Istio's secret controller: service-account token and Helm release Secrets are not credentials.
  Secret: { ...core('Secret', 'secrets'), fieldSelector: 'type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1' },
  ConfigMap: core('ConfigMap', 'configmaps'),
  EndpointSlice: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices' },
} as const satisfies Record<string, ResourceType>;

const ISTIO_GROUP: Record<IstioKind, string> = {
  VirtualService: 'networking.istio.io',
  DestinationRule: 'networking.istio.io',
  Gateway: 'networking.istio.io',
  ServiceEntry: 'networking.istio.io',
  WorkloadEntry: 'networking.istio.io',
  WorkloadGroup: 'networking.istio.io',
  Sidecar: 'networking.istio.io',
  PeerAuthentication: 'security.istio.io',
  AuthorizationPolicy: 'security.istio.io',
  RequestAuthentication: 'security.istio.io',
  Telemetry: 'telemetry.istio.io',
};

/** The CRD plural of an Istio kind (serviceentries, authorizationpolicies, telemetries ...). */
export function istioPlural(kind: IstioKind): string {
  return CRD_NAMES[kind].plural;
}

/** Every Istio kind tsmesh supports, as a watched resource. */
export const ISTIO_RESOURCES: readonly ResourceType[] = ISTIO_KINDS.map((kind) => {
  const group = ISTIO_GROUP[kind];
  return { kind, apiVersion: `${group}/v1`, path: `/apis/${group}/v1/${istioPlural(kind)}` };
});

/** The path of one namespaced object of `type` (for status writes). */
export function objectPath(type: ResourceType, namespace: string, name: string): string {
  const [prefix, plural] = splitPath(type.path);
  return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`;
}

function splitPath(path: string): [string, string] {
  const i = path.lastIndexOf('/');
  return [path.slice(0, i), path.slice(i + 1)];
}

export function informerFor<T extends KubeObject = KubeObject>(client: KubeClient, type: ResourceType, opts: Partial<InformerOptions> = {}): Informer<T> {
  return new Informer<T>(client, { ...(type.fieldSelector ? { fieldSelector: type.fieldSelector } : {}), ...opts, path: type.path, apiVersion: type.apiVersion, kind: type.kind });
}
