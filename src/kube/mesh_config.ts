/**
 * The mesh config from Istio's `istio` ConfigMap (`istio-<rev>` for a revision), key `mesh`, as
 * Istio's mesh watcher reads it: a valid edit replaces the mesh config; a bad one (YAML syntax, a
 * field that does not validate) changes nothing, so the last good mesh config keeps serving, and
 * every error is reported naming the ConfigMap, the key and the field. A missing ConfigMap or key
 * means Istio's defaults.
 *
 *   const reader = new MeshConfigMapReader('istio-system', meshConfigMapName(revision));
 *   const r = reader.read(configMaps.get(reader.name, reader.namespace));
 *   for (const e of r.errors) log(e);
 *   if (r.mesh) apply(r.mesh);
 */
import { defaultMeshConfig, parseMeshConfig } from '../api/mesh.ts';
import type { MeshConfig } from '../api/types.ts';
import { meshConfigMapName as installedName } from './install/names.ts';
import { defaultValues } from './install/values.ts';

/** The ConfigMap's key holding MeshConfig YAML. */
export const MESH_KEY = 'mesh';

/** "istio", or "istio-canary" for revision canary ("default" is the default revision, as Istio's REVISION env says). */
export function meshConfigMapName(revision?: string): string {
  return installedName({ ...defaultValues(), revision: revision === 'default' ? '' : (revision ?? '') });
}

export interface MeshConfigRead {
  /** The mesh config to serve now; undefined: keep serving the current one. */
  mesh?: MeshConfig;
  /** One line per problem, ready to log. */
  errors: string[];
}

export class MeshConfigMapReader {
  #text: string | undefined;

  constructor(
    readonly namespace: string,
    readonly name: string,
  ) {}

  /** The ConfigMap as the informer has it now (undefined when it does not exist). */
  read(cm: { metadata: object; data?: unknown } | undefined): MeshConfigRead {
    const value = (cm?.data as Record<string, unknown> | undefined)?.[MESH_KEY];
    const text = typeof value === 'string' ? value : '';
    // Labels or other keys changed: the mesh config did not.
    if (text === this.#text) return { errors: [] };
    this.#text = text;
    if (!text) return { mesh: defaultMeshConfig(), errors: [] };
    const where = `ConfigMap ${this.namespace}/${this.name} key ${MESH_KEY}`;
    const r = parseMeshConfig(text);
    const errors = r.errors.filter((e) => e.severity !== 'warning');
    const lines = r.errors.map((e) => `mesh config: ${e.severity === 'warning' ? 'warning: ' : ''}${where}: ${e.path ? `field ${e.path}: ` : ''}${e.message}`);
    if (errors.length === 0) return { mesh: r.mesh, errors: lines };
    lines.push(`mesh config: ${where} rejected (${errors.length} error${errors.length > 1 ? 's' : ''}); the last good mesh config keeps serving; fix it with kubectl edit configmap ${this.name} -n ${this.namespace}`);
    return { errors: lines };
  }
}
