/**
 * Istio's MeshNetworks (the `meshNetworks` of the istio ConfigMap, `values.global.meshNetworks`
 * of an IstioOperator): which network each endpoint is on and the gateways that reach a
 * network from outside it. Read from the mesh config file beside MeshConfig; pilot's
 * split-horizon EDS (src/pilot/network/) is what honours it.
 */
import { isIP } from 'node:net';
import { isObj } from './validation/common.ts';
import { child } from './paths.ts';

/** One network: how its endpoints are recognised, and its gateways (Istio's Network). */
export interface MeshNetwork {
  /** `fromCidr`: endpoints whose address is in the range are on this network. */
  endpoints?: Array<{ fromCidr?: string; fromRegistry?: string }>;
  /** A gateway by IP (`address`) or by the registry service it runs as (`registryServiceName`). */
  gateways?: Array<{ address?: string; registryServiceName?: string; port: number }>;
}

export interface MeshNetworks {
  networks: Record<string, MeshNetwork>;
}

type Fail = (path: string, message: string) => void;

/**
 * The MeshNetworks a mesh config document carries, at the place each install form keeps it:
 * the ConfigMap's `data.meshNetworks` (a YAML string, `networks:` inside), an IstioOperator's
 * `spec.values.global.meshNetworks` (the networks map itself), or a top-level `meshNetworks:`
 * (with `networks:` inside) next to the mesh config fields in a plain file.
 */
export function meshNetworksOf(doc: unknown, parseYaml: (text: string) => unknown, fail: Fail): MeshNetworks | undefined {
  if (!isObj(doc)) return undefined;
  if (doc.kind === 'ConfigMap') {
    const text = doc.data?.meshNetworks;
    if (text === undefined || text === null) return undefined;
    if (typeof text !== 'string') {
      fail('data.meshNetworks', 'must be a string holding MeshNetworks YAML (networks: ...)');
      return undefined;
    }
    try {
      return validateMeshNetworks(parseYaml(text), 'data.meshNetworks', fail);
    } catch (e) {
      fail('data.meshNetworks', `YAML syntax error: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }
  }
  if (doc.kind === 'IstioOperator') {
    const nets = doc.spec?.values?.global?.meshNetworks;
    if (nets === undefined || nets === null) return undefined;
    return validateMeshNetworks({ networks: nets }, 'spec.values.global.meshNetworks', fail, true);
  }
  const m = doc.meshNetworks;
  if (m === undefined || m === null) return undefined;
  return validateMeshNetworks(m, 'meshNetworks', fail);
}

/** Checks one MeshNetworks value; fields tsmesh cannot honour are errors, never ignored. */
export function validateMeshNetworks(v: unknown, path: string, fail: Fail, bare = false): MeshNetworks | undefined {
  if (!isObj(v)) {
    fail(path, 'must be a mapping with networks');
    return undefined;
  }
  const netsPath = bare ? path : child(path, 'networks');
  const nets = v.networks;
  if (nets === undefined || nets === null) return { networks: {} };
  if (!isObj(nets)) {
    fail(netsPath, 'must be a map of network name to {endpoints, gateways}');
    return undefined;
  }
  const out: MeshNetworks = { networks: {} };
  let ok = true;
  const bad: Fail = (p, m) => {
    ok = false;
    fail(p, m);
  };
  for (const [name, n] of Object.entries(nets)) {
    const np = child(netsPath, name);
    if (name === '') bad(np, 'a network needs a name');
    if (!isObj(n)) {
      bad(np, 'must be a mapping with endpoints and gateways');
      continue;
    }
    for (const k of Object.keys(n)) if (k !== 'endpoints' && k !== 'gateways') bad(child(np, k), 'unknown field; a network has endpoints and gateways');
    const net: MeshNetwork = {};
    if (n.endpoints !== undefined && n.endpoints !== null) {
      if (!Array.isArray(n.endpoints)) bad(child(np, 'endpoints'), 'must be a list');
      else {
        net.endpoints = [];
        n.endpoints.forEach((e: unknown, i: number) => {
          const ep = child(child(np, 'endpoints'), i);
          if (!isObj(e)) return bad(ep, 'must be a mapping with fromCidr');
          if (e.fromRegistry !== undefined) {
            return bad(child(ep, 'fromRegistry'), 'not supported: tsmesh has one registry; put workloads on a network with the topology.istio.io/network label, WorkloadEntry network, the proxy\'s ISTIO_META_NETWORK, or fromCidr');
          }
          if (typeof e.fromCidr !== 'string' || cidrProblem(e.fromCidr)) return bad(child(ep, 'fromCidr'), `must be an address range such as 10.1.0.0/16, got ${JSON.stringify(e.fromCidr)}`);
          net.endpoints!.push({ fromCidr: e.fromCidr });
        });
      }
    }
    if (n.gateways !== undefined && n.gateways !== null) {
      if (!Array.isArray(n.gateways)) bad(child(np, 'gateways'), 'must be a list');
      else {
        net.gateways = [];
        n.gateways.forEach((g: unknown, i: number) => {
          const gp = child(child(np, 'gateways'), i);
          if (!isObj(g)) return bad(gp, 'must be a mapping with address or registryServiceName, and port');
          for (const k of Object.keys(g)) if (!['address', 'registryServiceName', 'port', 'locality'].includes(k)) bad(child(gp, k), 'unknown field; a gateway has address, registryServiceName, port, locality');
          const hasAddr = g.address !== undefined && g.address !== '';
          const hasSvc = g.registryServiceName !== undefined && g.registryServiceName !== '';
          if (hasAddr === hasSvc) return bad(gp, 'exactly one of address and registryServiceName is required');
          if (hasAddr && (typeof g.address !== 'string' || isIP(g.address) === 0)) {
            return bad(child(gp, 'address'), `must be an IP address (tsmesh does not resolve gateway names), got ${JSON.stringify(g.address)}`);
          }
          if (hasSvc && typeof g.registryServiceName !== 'string') return bad(child(gp, 'registryServiceName'), 'must be a service hostname');
          if (!Number.isInteger(g.port) || g.port < 1 || g.port > 65535) return bad(child(gp, 'port'), `must be a port number in [1, 65535], got ${JSON.stringify(g.port)}`);
          // Istio too keeps a gateway endpoint in the locality of the endpoints it stands for.
          if (g.locality !== undefined) return bad(child(gp, 'locality'), 'not supported: a gateway endpoint takes the locality of the endpoints behind it');
          net.gateways!.push({ ...(hasAddr ? { address: g.address as string } : { registryServiceName: g.registryServiceName as string }), port: g.port });
        });
      }
    }
    out.networks[name] = net;
  }
  return ok ? out : undefined;
}

function cidrProblem(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) === 0;
  const ip = s.slice(0, slash);
  const bits = Number(s.slice(slash + 1));
  const fam = isIP(ip);
  return fam === 0 || !/^\d+$/.test(s.slice(slash + 1)) || bits > (fam === 4 ? 32 : 128);
}
