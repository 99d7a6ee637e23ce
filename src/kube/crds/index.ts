/**
 * apiextensions.k8s.io/v1 CustomResourceDefinitions for every Istio kind tsmesh serves, built
 * at run time from the schemas tsmesh depends on (schema.ts) and Istio's naming facts
 * (names.ts), so `tsmesh install` never ships a copy of Istio's CRD file.
 */
import { ISTIO_KINDS, servedVersions } from '../../api/kinds.ts';
import type { IstioKind } from '../../api/types.ts';
import { CRD_NAMES } from './names.ts';
import { crdSchema, type JSONSchemaProps } from './schema.ts';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: true;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string; description?: string }[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

/** The API group of a kind ("networking.istio.io"), from the versions tsmesh serves. */
export function groupOf(kind: IstioKind): string {
  const av = servedVersions(kind)[0];
  return av.slice(0, av.lastIndexOf('/'));
}

/** The CRD for one Istio kind: every version tsmesh serves, Istio's storage version. */
export function istioCrd(kind: IstioKind): CustomResourceDefinition {
  const n = CRD_NAMES[kind];
  const group = groupOf(kind);
  const versions = servedVersions(kind).map((av) => av.slice(av.lastIndexOf('/') + 1)).sort();
  if (!versions.includes(n.storage)) throw new Error(`${kind}: storage version ${n.storage} is not served`);
  const labels: Record<string, string> = { app: 'istio-pilot', chart: 'istio', heritage: 'Tiller', release: 'istio' };
  if (n.istioLabel) labels.istio = n.istioLabel;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    // Istio marks its CRDs keep so that `helm uninstall` leaves users' config; tsmesh uninstall
    // likewise deletes them only with --purge.
    metadata: { name: `${n.plural}.${group}`, labels, annotations: { 'helm.sh/resource-policy': 'keep' } },
    spec: {
      group,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: n.plural,
        singular: n.singular,
        ...(n.shortNames ? { shortNames: n.shortNames } : {}),
        categories: ['istio-io', `${group.replace(/\./g, '-')}`],
      },
      scope: 'Namespaced',
      versions: versions.map((v) => ({
        name: v,
        served: true,
        storage: v === n.storage,
        subresources: { status: {} },
        ...(n.columns.length ? { additionalPrinterColumns: n.columns.map((c) => ({ ...c })) } : {}),
        schema: { openAPIV3Schema: crdSchema(`${group}/${v}`, kind) },
      })),
    },
  };
}

let cache: CustomResourceDefinition[] | undefined;

/** Every Istio CRD tsmesh serves, in ISTIO_KINDS order (built once, about a second of probing). */
export function istioCrds(): CustomResourceDefinition[] {
  cache ??= ISTIO_KINDS.map(istioCrd);
  return structuredClone(cache);
}
