/**
 * Protocol selection, as Istio does it (pkg/config/protocol and kube ConvertProtocol).
 *
 * A Kubernetes port's protocol comes from, in order:
 *   1. `protocol: UDP` on the port → UDP (Kubernetes' own L4 field wins);
 *   2. `appProtocol`, when set, *replaces* the port name as the thing parsed (Istio does not fall
 *      back to the name when appProtocol is unrecognised), with Kubernetes' standard values
 *      `kubernetes.io/h2c` → HTTP2, `kubernetes.io/ws` → HTTP, `kubernetes.io/wss` → HTTPS;
 *   3. the port name: `grpc-web…` first (it contains the separator), then the part before the
 *      first `-` (`http`, `http-web`, `grpc-echo`, `tcp-db`, …), case-insensitive;
 *   4. otherwise UNSUPPORTED — except well-known server-first ports (SMTP 25, DNS 53, MySQL 3306,
 *      MongoDB 27017), which are TCP because sniffing would break them.
 *
 * UNSUPPORTED means "unknown": the data plane treats it as TCP and sniffs the first bytes to
 * decide whether the connection carries HTTP (Istio's protocol sniffing).
 */
import type { Protocol } from './model.ts';

const NAMES: Record<string, Protocol> = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-WEB',
  tcp: 'TCP',
  tls: 'TLS',
  mongo: 'MONGO',
  redis: 'REDIS',
  mysql: 'MYSQL',
  udp: 'UDP',
};

/** Server-first protocols: sniffing would wait forever for the client to speak. */
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

/** Istio's protocol.Parse: an exact protocol name, case-insensitive; anything else UNSUPPORTED. */
export function parseProtocol(name: string | undefined | null): Protocol {
  if (!name) return 'UNSUPPORTED';
  return NAMES[name.toLowerCase()] ?? 'UNSUPPORTED';
}

/** The fields of a Kubernetes Service port that decide its protocol. */
export interface KubePortLike {
  port: number;
  name?: string;
  /** Kubernetes L4 protocol: TCP (default), UDP, SCTP. */
  protocol?: string;
  appProtocol?: string;
}

/** Protocol of a Kubernetes Service port (see the file comment for the order). */
export function kubePortProtocol(p: KubePortLike): Protocol {
  if (p.protocol?.toUpperCase() === 'UDP') return 'UDP';
  let name = p.name ?? '';
  if (p.appProtocol) {
    name = p.appProtocol;
    switch (name) {
      case 'kubernetes.io/h2c':
        return 'HTTP2';
      case 'kubernetes.io/ws':
        return 'HTTP';
      case 'kubernetes.io/wss':
        return 'HTTPS';
    }
  }
  let out: Protocol;
  if (name.toLowerCase().startsWith('grpc-web')) out = 'GRPC-WEB';
  else {
    const dash = name.indexOf('-');
    out = parseProtocol(dash >= 0 ? name.slice(0, dash) : name);
  }
  if (out === 'UNSUPPORTED' && WELL_KNOWN_TCP_PORTS.has(p.port)) return 'TCP';
  return out;
}

/** HTTP-family protocols: served by the HTTP connection manager. */
export function isHTTP(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';
}

/** Protocols proxied as opaque TCP (TLS passes through untouched; mongo/redis/mysql without their filters). */
export function isTCP(p: Protocol): boolean {
  return p === 'TCP' || p === 'HTTPS' || p === 'TLS' || p === 'MONGO' || p === 'REDIS' || p === 'MYSQL';
}

/** Protocols whose bytes are TLS the mesh does not terminate (routed by SNI). */
export function isTLS(p: Protocol): boolean {
  return p === 'HTTPS' || p === 'TLS';
}

/** Unknown protocol: TCP with sniffing. */
export function needsSniffing(p: Protocol): boolean {
  return p === 'UNSUPPORTED';
}
