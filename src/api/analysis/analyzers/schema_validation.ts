/**
 * schema.ValidationAnalyzer: each Istio object checked on its own by tsmesh's validator (Istio's
 * schema and semantic rules), reported as IST0106 SchemaValidationError at the object's first
 * line. EnvoyFilter always gets istioctl's IST0133 caution.
 */
import { schemaModel } from '../../kinds.ts';
import type { Config } from '../../types.ts';
import { validateConfig } from '../../validation/index.ts';
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { analyzeEnvoyFilterSchema } from './schema_envoyfilter.ts';
import { analyzeUnreachableRules } from './virtualservice_unreachable.ts';

/** tsmesh-only findings istioctl does not make: fields tsmesh does not enforce, naming it is stricter on. */
const NOT_ISTIO = new Set(['TSMESH_ERR_UNSUPPORTED_FIELD']);

function toConfig(r: Resource): Config {
  return {
    apiVersion: r.apiVersion,
    kind: r.kind as Config['kind'],
    metadata: { ...(r.object.metadata ?? {}), name: r.name, namespace: r.namespace },
    spec: r.object.spec ?? {},
    origin: { file: r.origin.file },
  } as Config;
}

export const schemaValidationAnalyzer: Analyzer = {
  name: 'schema.ValidationAnalyzer',
  description: 'Runs schema validation as an analyzer and reports any violations',
  analyze(ctx: AnalysisContext) {
    analyzeEnvoyFilterSchema(ctx);
    analyzeUnreachableRules(ctx);
    for (const kind of ['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'Sidecar', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry']) {
      for (const r of ctx.list(kind)) {
        if (!schemaModel(r.apiVersion, r.kind)) continue;
        let errors;
        try {
          errors = validateConfig(toConfig(r));
        } catch (e) {
          ctx.report('SchemaValidationError', r, [(e as Error).message]);
          continue;
        }
        for (const p of extraProblems(r)) ctx.report(p.warning ? 'SchemaWarning' : 'SchemaValidationError', r, [p.text]);
        for (const e of errors) {
          if (e.severity === 'warning' || (e.code && NOT_ISTIO.has(e.code))) continue;
          // istioctl does not check object names, and reads an empty protocol as unset.
          if (e.path?.startsWith('metadata') || /invalid protocol ""/.test(e.message)) continue;
          ctx.report('SchemaValidationError', r, [text(e.path, e.message)]);
        }
      }
    }
  },
};

/** Istio rules tsmesh's validator does not have (its own gateway merges duplicates instead). */
function extraProblems(r: Resource): { text: string; warning?: boolean }[] {
  const out: { text: string; warning?: boolean }[] = [];
  if (r.kind === 'Gateway' && Array.isArray(r.spec.servers)) {
    const seen = new Set<string>();
    for (const s of r.spec.servers) {
      const name = s?.port?.name;
      if (typeof name !== 'string' || !name) continue;
      if (seen.has(name)) out.push({ text: `port names in servers must be unique: duplicate name ${name}` });
      seen.add(name);
    }
  }
  if (r.kind === 'ServiceEntry') {
    const s = r.spec;
    const noAddresses = !Array.isArray(s.addresses) || s.addresses.length === 0;
    const resolutionNone = !s.resolution || s.resolution === 'NONE';
    const tcpPort = Array.isArray(s.ports) && s.ports.some((p: any) => !p?.protocol || p.protocol === 'TCP');
    if (noAddresses && resolutionNone && tcpPort) out.push({ text: 'addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled', warning: true });
  }
  return out;
}

/** istioctl's texts name no path; a bare "is required" still needs its field's name. */
function text(path: string | undefined, message: string): string {
  if (!path || !/^(is|are|must|should|cannot|has) /.test(message)) return message;
  const last = path.replace(/\[\d+\]$/, '').split('.').pop();
  return `${last} ${message}`;
}
