/**
 * The workload agent's command-line flags, shared by `tsmesh proxy` (sidecar mode, where the
 * agent runs beside the proxy as pilot-agent does) and `tsmesh agent` (proxyless gRPC), so both
 * read them the same way. Names follow Istio's settings: CA_ADDR, the mounted root-cert.pem,
 * TRUST_DOMAIN, SECRET_TTL.
 */
import { durationMsOf } from '../api/duration.ts';
import type { WorkloadAgentOptions } from './workload_agent.ts';

/** parseArgs option specs of the agent flags. */
export const AGENT_FLAG_OPTIONS = {
  'ca-address': { type: 'string' },
  'token-file': { type: 'string' },
  'ca-root-cert': { type: 'string' },
  'trust-domain': { type: 'string' },
  'workload-cert-ttl': { type: 'string' },
  'key-algorithm': { type: 'string' },
} as const;

/** The help lines of the agent flags. */
export const AGENT_FLAGS_HELP = `  --ca-address <h:p>            CA address (Istio's CA_ADDR; default the discovery address's
                                host with port 15012); several CA replicas as a gRPC address
                                list, ipv4:10.0.0.1:15012,10.0.0.2:15012 (or ipv6:[..]:p,...):
                                the agent moves to the next when one is unreachable
  --token-file <file>           workload token (read for every certificate request)
  --ca-root-cert <file>         root that signs the CA server's certificate (Istio's
                                ./var/run/secrets/istio/root-cert.pem); required with --token-file
  --trust-domain <domain>       SPIFFE trust domain (default cluster.local)
  --workload-cert-ttl <dur>     requested certificate lifetime, e.g. 24h or 90s (Istio's
                                SECRET_TTL; default: the CA's, the control plane's
                                --workload-cert-ttl, 24h unless set); renewed at half of it
  --key-algorithm ECDSA|RSA     the workload key: ECDSA P-256 (default) or RSA 2048`;

/** "host:port" -> host (IPv6 in brackets kept as such); throws naming `flag`. */
function hostOf(address: string, flag: string): string {
  const m = /^(\[[^\]]+\]|[^:]+):\d+$/.exec(address);
  if (!m) throw new Error(`${flag}: expected host:port, got "${address}"`);
  return m[1]!;
}

/** host:port, or grpc's ipv4:/ipv6: list of host:port (CA replicas); throws naming the flag. */
function checkCaAddress(address: string): void {
  const list = /^ipv[46]:(.+)$/.exec(address);
  if (!list) return void hostOf(address, '--ca-address');
  for (const hp of list[1]!.split(',')) hostOf(hp, '--ca-address');
}

/**
 * Agent options from parsed flag values, or undefined when no --token-file is given (no agent).
 * Throws an Error naming the flag when a value is wrong.
 */
export function agentOptionsFromFlags(
  v: Record<string, string | boolean | undefined>,
  d: { discoveryAddress: string; namespace: string; serviceAccount?: string },
): WorkloadAgentOptions | undefined {
  const tokenFile = v['token-file'];
  if (typeof tokenFile !== 'string') {
    for (const f of ['ca-address', 'ca-root-cert', 'workload-cert-ttl', 'key-algorithm']) if (v[f] !== undefined) throw new Error(`--${f}: only meaningful with --token-file (the agent runs when a token is given)`);
    return undefined;
  }
  const root = v['ca-root-cert'];
  if (typeof root !== 'string') throw new Error('--ca-root-cert <file>: required with --token-file (the root that signs the CA server\'s certificate)');
  let caAddress = typeof v['ca-address'] === 'string' ? v['ca-address'] : undefined;
  if (caAddress) checkCaAddress(caAddress);
  else caAddress = `${hostOf(d.discoveryAddress, '--discovery-address')}:15012`;
  let certTtlSeconds: number | undefined;
  if (v['workload-cert-ttl'] !== undefined) {
    const ms = durationMsOf(String(v['workload-cert-ttl']));
    if (ms === undefined || ms < 1000) throw new Error(`--workload-cert-ttl: expected a duration of at least 1s like 24h or 90s, got ${JSON.stringify(v['workload-cert-ttl'])}`);
    certTtlSeconds = Math.round(ms / 1000);
  }
  const keyAlgorithm = v['key-algorithm'] === undefined ? undefined : String(v['key-algorithm']).toUpperCase();
  if (keyAlgorithm !== undefined && keyAlgorithm !== 'ECDSA' && keyAlgorithm !== 'RSA') throw new Error(`--key-algorithm: expected ECDSA or RSA, got ${JSON.stringify(v['key-algorithm'])}`);
  return {
    caAddress,
    ...(keyAlgorithm ? { keyAlgorithm: keyAlgorithm as 'ECDSA' | 'RSA' } : {}),
    caRootCertFile: root,
    tokenFile,
    namespace: d.namespace,
    // Kubernetes gives every pod the namespace's `default` service account unless told otherwise.
    serviceAccount: d.serviceAccount ?? 'default',
    ...(typeof v['trust-domain'] === 'string' ? { trustDomain: v['trust-domain'] } : {}),
    ...(certTtlSeconds !== undefined ? { certTtlSeconds } : {}),
  };
}
