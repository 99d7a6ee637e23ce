/**
 * Validation of one resource: metadata, Istio's published schema (structure, types, enums),
 * then Istio's semantic rules for its kind. Cross-resource checks live in cross.ts.
 */
import { schemaProblems } from '../schema.ts';
import type { Config, Kind, ValidationError } from '../types.ts';
import { isIstioKind } from '../kinds.ts';
import { ERR } from '../errors.ts';
import { Problems, checkLabels, child, type Problem, isDns1035Label, isDns1123Label, isDns1123Subdomain, isObj, type Obj } from './common.ts';
import { validateDestinationRule } from './destinationrule.ts';
import { validateGateway } from './gateway.ts';
import { validateDeployment, validateSecret, validateService } from './kube.ts';
import { validateAuthorizationPolicy, validatePeerAuthentication, validateRequestAuthentication } from './security.ts';
import { validateServiceEntry, validateWorkloadEntry, validateWorkloadGroup } from './serviceentry.ts';
import { validateSidecar } from './sidecar.ts';
import { validateTelemetry } from './telemetry.ts';
import { checkUnknownFields } from './unknown_fields.ts';
import { checkUnsupportedFields } from './unsupported_fields.ts';
import { validateVirtualService } from './virtualservice.ts';
import { checkHealthCheckAnnotation } from './health_check_annotation.ts';

type SemanticRule = (spec: Obj, p: Problems) => void;

const RULES: Partial<Record<Kind, SemanticRule>> = {
  VirtualService: validateVirtualService,
  DestinationRule: validateDestinationRule,
  Gateway: validateGateway,
  ServiceEntry: validateServiceEntry,
  WorkloadEntry: validateWorkloadEntry,
  WorkloadGroup: validateWorkloadGroup,
  Sidecar: validateSidecar,
  PeerAuthentication: validatePeerAuthentication,
  AuthorizationPolicy: validateAuthorizationPolicy,
  RequestAuthentication: validateRequestAuthentication,
  Telemetry: validateTelemetry,
  Service: validateService,
  Deployment: validateDeployment,
  Secret: validateSecret,
};

export interface ValidateOptions {
  /** Maps a field path to a source line (from the YAML loader), so errors can point at it. */
  line?: (path: string) => number | undefined;
}

/** Every problem with one resource; an empty list means it may be served. */
export function validateConfig(config: Config, opts: ValidateOptions = {}): ValidationError[] {
  const p = new Problems();
  validateMetadata(config, p);
  const schema = schemaProblems(config);
  if (!isObj(config.spec)) {
    if (schema.length === 0) p.err('spec', 'spec must be an object');
  } else {
    checkUnknownFields(config.kind, config.spec, p);
    try {
      RULES[config.kind]?.(config.spec, p);
    } catch (e) {
      // A rule tripping over an odd shape must not take the caller down; the schema errors
      // (reported below) usually explain the shape.
      p.err('spec', `internal validation error: ${(e as Error).message}`);
    }
    checkUnsupportedFields(config.kind, config.spec, p);
  }
  // The schema's generic "is required" / "more than one of a oneOf" is redundant where a rule
  // said it precisely.
  const semanticPaths = new Set(p.list.filter((x) => !x.severity).map((x) => x.path));
  const merged: Problem[] = [
    ...schema
      .filter((s) => !((s.message.startsWith('sets more than one') || s.message === 'is required') && semanticPaths.has(s.path)))
      .map((s) => ({ ...s, code: ERR.INVALID_RESOURCE })),
    ...p.list,
  ];
  const seen = new Set<string>();
  const out: ValidationError[] = [];
  for (const m of merged) {
    const key = `${m.path}\0${m.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      file: config.origin?.file,
      kind: config.kind,
      namespace: config.metadata.namespace,
      name: config.metadata.name,
      path: m.path,
      message: m.message,
      ...(opts.line ? { line: opts.line(m.path) } : {}),
      ...(m.severity ? { severity: m.severity, ...(m.code ? { code: m.code } : {}) } : { code: m.code ?? ERR.INVALID_RESOURCE }),
    });
  }
  return out;
}

function validateMetadata(config: Config, p: Problems): void {
  const { name, namespace, labels, annotations } = config.metadata;
  if (config.kind === 'Namespace') {
    if (!isDns1123Label(name)) p.err('metadata.name', `invalid namespace name "${name}": must be a DNS-1123 label (lowercase letters, digits and "-", at most 63)`);
  } else if (config.kind === 'Service') {
    if (!isDns1035Label(name)) p.err('metadata.name', `invalid Service name "${name}": must be a DNS-1035 label (lowercase letters, digits and "-", starting with a letter, at most 63)`);
  } else if (!isDns1123Subdomain(name)) {
    p.err('metadata.name', `invalid name "${name}": must be a DNS-1123 subdomain (lowercase letters, digits, "-" and ".")`);
  }
  if (config.kind !== 'Namespace' && !isDns1123Label(namespace)) p.err('metadata.namespace', `invalid namespace "${namespace}": must be a DNS-1123 label`);
  for (const [field, map] of [['labels', labels], ['annotations', annotations]] as const) {
    if (map === undefined || map === null) continue;
    if (!isObj(map)) {
      p.err(`metadata.${field}`, `must be a map of strings`);
      continue;
    }
    for (const [k, v] of Object.entries(map)) {
      // Istio kinds get this from their schema; Kubernetes kinds only from here.
      if (typeof v !== 'string' && !isIstioKind(config.kind)) p.err(child(`metadata.${field}`, k), `${field} values must be strings, got ${JSON.stringify(v)} (quote it)`);
    }
  }
  checkLabels(p, 'metadata.labels', labels);
  // tsmesh's one annotation with meaning for traffic: active health checks (Istio has no API for them).
  if (config.kind === 'DestinationRule' && isObj(annotations)) checkHealthCheckAnnotation(annotations, (path, m) => p.err(path, m));
}
