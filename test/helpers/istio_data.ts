/**
 * Where Istio's own YAML lives: ../shared/istio-data beside the repository (our compatibility
 * inputs, read in place and never copied in). TSMESH_ISTIO_DATA overrides it.
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const ISTIO_DATA = process.env.TSMESH_ISTIO_DATA ?? resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/istio-data/istio');
