/**
 * Envoy v3 Bootstrap from YAML or JSON: checked against envoy.config.bootstrap.v3.Bootstrap
 * through the codec (unknown fields and bad values fail with their path), then for what this
 * proxy needs: node, admin address, static resources, and an ADS config whose gRPC service
 * names a static cluster (the control plane's address).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { normalize } from '../xds/codec.ts';
import { ERR, TsmeshError } from '../api/errors.ts';
import type { EnvoyJson, NodeJson } from '../xds/types.ts';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

export class BootstrapError extends TsmeshError {
  constructor(message: string) {
    super(ERR.INVALID_BOOTSTRAP, `invalid bootstrap: ${message}`);
    this.name = 'BootstrapError';
  }
}

/** What the server needs out of a bootstrap, already resolved. */
export interface ParsedBootstrap {
  /** The normalized Bootstrap (config_dump's BootstrapConfigDump). */
  bootstrap: EnvoyJson;
  node: NodeJson;
  admin?: { ip: string; port: number };
  listeners: EnvoyJson[];
  clusters: EnvoyJson[];
  secrets: EnvoyJson[];
  ads?: { mode: 'sotw' | 'delta'; cluster: string; address: string };
  /** lds_config / cds_config point at ADS. */
  ldsAds: boolean;
  cdsAds: boolean;
}

/** Parses text (YAML is a superset of JSON) and validates it. */
export function parseBootstrap(text: string, source = 'bootstrap'): ParsedBootstrap {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new BootstrapError(`${source}: not valid YAML/JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new BootstrapError(`${source}: expected a Bootstrap object`);
  return validateBootstrap(raw as EnvoyJson);
}

export function loadBootstrapFile(path: string): ParsedBootstrap {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BootstrapError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseBootstrap(text, path);
}

function address(a: EnvoyJson | undefined, path: string): { ip: string; port: number } {
  const sa = a?.socket_address;
  if (!sa?.address) throw new BootstrapError(`${path}.socket_address.address: required`);
  return { ip: sa.address, port: Number(sa.port_value ?? 0) };
}

export function validateBootstrap(raw: EnvoyJson): ParsedBootstrap {
  let b: EnvoyJson;
  try {
    b = normalize(BOOTSTRAP_TYPE, raw);
  } catch (e) {
    throw new BootstrapError((e as Error).message);
  }
  // Envoy starts a purely static bootstrap without a node; only a control plane needs its id.
  const node = { id: '', ...(b.node ?? {}) } as NodeJson;
  const dynamic = b.dynamic_resources ?? {};
  if (!node.id && (dynamic.ads_config || dynamic.lds_config || dynamic.cds_config)) {
    throw new BootstrapError('node.id: required when dynamic_resources name a control plane (it identifies the proxy)');
  }
  const sr = b.static_resources ?? {};
  const clusters: EnvoyJson[] = sr.clusters ?? [];
  const names = new Set<string>();
  clusters.forEach((c, i) => {
    if (!c.name) throw new BootstrapError(`static_resources.clusters[${i}].name: required`);
    if (names.has(c.name)) throw new BootstrapError(`static_resources.clusters[${i}].name: duplicate cluster ${c.name}`);
    names.add(c.name);
  });
  (sr.listeners ?? []).forEach((l: EnvoyJson, i: number) => {
    if (!l.name) throw new BootstrapError(`static_resources.listeners[${i}].name: required`);
    address(l.address, `static_resources.listeners[${i}].address`);
  });
  const out: ParsedBootstrap = {
    bootstrap: b,
    node,
    listeners: sr.listeners ?? [],
    clusters,
    secrets: sr.secrets ?? [],
    ldsAds: !!b.dynamic_resources?.lds_config?.ads,
    cdsAds: !!b.dynamic_resources?.cds_config?.ads,
  };
  if (b.admin?.address) out.admin = address(b.admin.address, 'admin.address');
  const dr = b.dynamic_resources ?? {};
  for (const k of ['lds_config', 'cds_config']) {
    if (dr[k] && !dr[k].ads) throw new BootstrapError(`dynamic_resources.${k}: only {ads: {}} config sources are supported`);
  }
  if (dr.ads_config) {
    const ac = dr.ads_config;
    const p = 'dynamic_resources.ads_config';
    const mode = ac.api_type === 'DELTA_GRPC' ? 'delta' : ac.api_type === 'GRPC' ? 'sotw' : undefined;
    if (!mode) throw new BootstrapError(`${p}.api_type: want GRPC or DELTA_GRPC, got ${ac.api_type ?? '(unset)'}`);
    const cluster = ac.grpc_services?.[0]?.envoy_grpc?.cluster_name;
    if (!cluster) throw new BootstrapError(`${p}.grpc_services[0].envoy_grpc.cluster_name: required`);
    const c = clusters.find((x) => x.name === cluster);
    if (!c) throw new BootstrapError(`${p}.grpc_services[0].envoy_grpc.cluster_name: no static cluster named ${cluster}`);
    const at = `static_resources.clusters[${clusters.indexOf(c)}].load_assignment`;
    const eps: EnvoyJson[] = (c.load_assignment?.endpoints ?? []).flatMap((l: EnvoyJson) => l.lb_endpoints ?? []);
    if (!eps.length) throw new BootstrapError(`${at}: the xDS cluster ${cluster} needs an endpoint`);
    const hostPorts = eps.map((e, i) => {
      const a = address(e.endpoint?.address, `${at}.lb_endpoints[${i}].endpoint.address`);
      return `${a.ip.includes(':') ? `[${a.ip}]` : a.ip}:${a.port}`;
    });
    // Several endpoints (control-plane replicas): Envoy fails over between them, so the gRPC
    // target lists them all (grpc's ipv4:/ipv6: address list; a name is resolved by DNS as one).
    const families = new Set(eps.map((e) => isIP(e.endpoint.address.socket_address.address)));
    const family = hostPorts.length > 1 && families.size === 1 ? [...families][0] : 0;
    out.ads = { mode, cluster, address: family ? `ipv${family}:${hostPorts.join(',')}` : hostPorts[0]! };
  } else if (out.ldsAds || out.cdsAds) {
    throw new BootstrapError('dynamic_resources.ads_config: required when lds_config or cds_config use ads');
  }
  return out;
}
