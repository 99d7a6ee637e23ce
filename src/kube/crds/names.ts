/**
 * The naming facts of Istio's CRDs for the kinds tsmesh serves: resource names, short names,
 * categories, storage version and printer columns, as Istio's published CRDs declare them
 * (manifests/charts/base/files/crd-all.gen.yaml; checked against that file by
 * test/kube/crds.test.ts). The schemas themselves are not here: see schema.ts.
 */
import type { IstioKind } from '../../api/types.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'date';
  jsonPath: string;
  description?: string;
}

export interface CrdNames {
  plural: string;
  singular: string;
  shortNames?: string[];
  /** Istio serves every version and stores one; v1 for all but Telemetry (v1alpha1). */
  storage: string;
  columns: PrinterColumn[];
  /** Extra label Istio puts on the CRD (istio: security | telemetry). */
  istioLabel?: string;
}

const AGE: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
};
const HOSTS: PrinterColumn = { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The destination hosts to which traffic is being sent' };

export const CRD_NAMES: Record<IstioKind, CrdNames> = {
  VirtualService: {
    plural: 'virtualservices', singular: 'virtualservice', shortNames: ['vs'], storage: 'v1',
    columns: [{ name: 'Gateways', type: 'string', jsonPath: '.spec.gateways', description: 'The names of gateways and sidecars that should apply these routes' }, HOSTS, AGE],
  },
  DestinationRule: {
    plural: 'destinationrules', singular: 'destinationrule', shortNames: ['dr'], storage: 'v1',
    columns: [{ name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'The name of a service from the service registry' }, AGE],
  },
  Gateway: { plural: 'gateways', singular: 'gateway', shortNames: ['gw'], storage: 'v1', columns: [] },
  ServiceEntry: {
    plural: 'serviceentries', singular: 'serviceentry', shortNames: ['se'], storage: 'v1',
    columns: [
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The hosts associated with the ServiceEntry' },
      { name: 'Location', type: 'string', jsonPath: '.spec.location', description: 'Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)' },
      { name: 'Resolution', type: 'string', jsonPath: '.spec.resolution', description: 'Service resolution mode for the hosts (NONE, STATIC, or DNS)' },
      AGE,
    ],
  },
  WorkloadEntry: {
    plural: 'workloadentries', singular: 'workloadentry', shortNames: ['we'], storage: 'v1',
    columns: [AGE, { name: 'Address', type: 'string', jsonPath: '.spec.address', description: 'Address associated with the network endpoint.' }],
  },
  WorkloadGroup: { plural: 'workloadgroups', singular: 'workloadgroup', shortNames: ['wg'], storage: 'v1', columns: [AGE] },
  Sidecar: { plural: 'sidecars', singular: 'sidecar', storage: 'v1', columns: [] },
  PeerAuthentication: {
    plural: 'peerauthentications', singular: 'peerauthentication', shortNames: ['pa'], storage: 'v1', istioLabel: 'security',
    columns: [{ name: 'Mode', type: 'string', jsonPath: '.spec.mtls.mode', description: 'Defines the mTLS mode used for peer authentication.' }, AGE],
  },
  AuthorizationPolicy: {
    plural: 'authorizationpolicies', singular: 'authorizationpolicy', shortNames: ['ap'], storage: 'v1', istioLabel: 'security',
    columns: [{ name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'The operation to take.' }, AGE],
  },
  RequestAuthentication: { plural: 'requestauthentications', singular: 'requestauthentication', shortNames: ['ra'], storage: 'v1', istioLabel: 'security', columns: [] },
  Telemetry: { plural: 'telemetries', singular: 'telemetry', shortNames: ['telemetry'], storage: 'v1alpha1', istioLabel: 'telemetry', columns: [AGE] },
};
