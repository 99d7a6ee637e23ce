/**
 * Turns the xDS Node a client sends into pilot's Proxy model (Istio's model.ParseServiceNodeWithMetadata).
 * Node ids follow Istio: `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>`.
 */
import { stringMapOf } from '../common/string_map.ts';
import type { NodeJson } from '../xds/types.ts';
import type { Proxy } from './types.ts';
import { DOMAIN_SUFFIX } from './host.ts';
import { parseInterception } from './interception.ts';
import { WORKLOAD_CERTIFICATES_META } from '../agent/bootstrap.ts';
import { localityFromLabels } from '../registry/locality.ts';
import { proxyNetworkOf } from './network/network.ts';

/** Thrown for a node id pilot cannot serve; the message says what is wrong and what is expected. */
export class InvalidProxyError extends Error {
  readonly code = 'TSMESH_ERR_INVALID_NODE';
}

const FORMAT = '<sidecar|router>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local';

/** Parses a node id plus its metadata; throws InvalidProxyError for a malformed id. */
export function parseProxy(node: NodeJson): Proxy {
  const id = node?.id;
  if (typeof id !== 'string' || id === '') throw new InvalidProxyError(`node id is empty; expected ${FORMAT}`);
  const parts = id.split('~');
  if (parts.length !== 4) {
    throw new InvalidProxyError(`node id "${id}" has ${parts.length} "~"-separated parts, expected 4: ${FORMAT}`);
  }
  const [type, ip, podId, domain] = parts as [string, string, string, string];
  if (type !== 'sidecar' && type !== 'router') {
    throw new InvalidProxyError(`node id "${id}": unknown proxy type "${type}", expected "sidecar" or "router"`);
  }
  if (ip === '') throw new InvalidProxyError(`node id "${id}": IP address part is empty; expected ${FORMAT}`);
  const md = (node.metadata ?? {}) as Record<string, unknown>;

  const dot = podId.indexOf('.');
  const idNamespace = dot > 0 ? podId.slice(dot + 1) : '';
  const namespace = str(md.NAMESPACE) || idNamespace || domain.split('.')[0] || '';
  if (namespace === '') throw new InvalidProxyError(`node id "${id}": no namespace in "${podId}" and no NAMESPACE metadata`);
  const workloadName = str(md.WORKLOAD_NAME) || (dot > 0 ? podId.slice(0, dot) : podId);

  const instanceIps = str(md.INSTANCE_IPS)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // INTERCEPTION_MODE, HTTP_PROXY_PORT and TSMESH_APP_ADDRESS (see interception.ts).
  const interception = parseInterception(md);
  if (typeof interception === 'string') throw new InvalidProxyError(`node id "${id}": ${interception}`);
  const labels = stringMapOf(md.LABELS);
  // The node's locality, else its labels' as Istio reads a pod's (localityFromLabels).
  const fromLabels = localityFromLabels(labels);
  const nodeLoc = node.locality ?? {};
  const loc = nodeLoc.region || nodeLoc.zone || nodeLoc.sub_zone ? nodeLoc : { region: fromLabels.region, zone: fromLabels.zone, sub_zone: fromLabels.subzone };
  return {
    id,
    type,
    ipAddresses: instanceIps.length > 0 ? instanceIps : [ip],
    workloadName,
    namespace,
    dnsDomain: domain || `${namespace}.svc.${DOMAIN_SUFFIX}`,
    labels,
    serviceAccount: str(md.SERVICE_ACCOUNT) || undefined,
    generator: str(md.GENERATOR) || undefined,
    workloadCertificates: md[WORKLOAD_CERTIFICATES_META] === true || md[WORKLOAD_CERTIFICATES_META] === 'true',
    metadata: md,
    locality: stripEmpty({ region: loc.region, zone: loc.zone, subzone: loc.sub_zone }),
    ...proxyNetworkOf(md, labels),
    ...interception,
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function stripEmpty<T extends Record<string, string | undefined>>(o: T): T {
  for (const k of Object.keys(o)) if (!o[k]) delete o[k];
  return o;
}
