/**
 * The demo's meshConfig: the user's `--mesh` file (if any) with tracing turned on as Istio's demo
 * profile does (enableTracing, defaultConfig.tracing.sampling 100, a zipkin address), the address
 * being the control plane's embedded collector. What the user's file says about tracing wins.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

/** Writes the merged mesh config to `out` (JSON, which the YAML reader takes) and returns its path. */
export function writeDemoMesh(out: string, userMeshFile: string | undefined, collector: { host: string; port: number }): string {
  let mesh: Record<string, any> = {};
  if (userMeshFile) {
    const doc = parse(readFileSync(userMeshFile, 'utf8'));
    // A malformed file is the control plane's to report: hand it over unchanged.
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return userMeshFile;
    mesh = doc as Record<string, any>;
  }
  mesh.enableTracing ??= true;
  const dc = (mesh.defaultConfig ??= {});
  const tracing = (dc.tracing ??= {});
  tracing.sampling ??= 100;
  if (!tracing.zipkin?.address) tracing.zipkin = { ...tracing.zipkin, address: `${collector.host}:${collector.port}` };
  writeFileSync(out, JSON.stringify(mesh, null, 2) + '\n');
  return out;
}
