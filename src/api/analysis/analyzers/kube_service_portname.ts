/**
 * service.PortNameAnalyzer: a Service port's protocol must be known to Istio, from its
 * appProtocol or its name's prefix (`http`, `http-web`, `grpc-x` ...), or it is treated as
 * opaque TCP (IST0118 PortNameIsNotUnderNamingConvention). Well-known ports (SMTP, DNS, MySQL,
 * MongoDB) and UDP need no name. An ExternalName Service's port may not be unnamed-ish or `tcp`
 * (IST0150). Istio's own Services (label `istio`, or `release=istio`) and Gateway API managed
 * ones are skipped.
 */
import { child } from '../../paths.ts';
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { kubeList, servicePorts, type ServicePort } from './kube_util.ts';

const PROTOCOLS = new Set(['tcp', 'udp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql']);
const WELL_KNOWN_PORTS = new Set([25, 53, 3306, 27017]);
const APP_PROTOCOLS = new Set(['kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss']);
const MANAGED_LABEL = 'gateway.istio.io/managed';
const MANAGED_VALUES = new Set(['istio.io-gateway-controller', 'istio.io-mesh-controller', 'istio.io-eastwest-controller']);

/** Whether Istio can tell the port's protocol (Istio's ConvertProtocol not giving "unsupported"). */
export function protocolKnown(p: ServicePort): boolean {
  if (p.protocol === 'UDP') return true;
  let name = p.appProtocol ?? p.name;
  if (p.appProtocol !== undefined && APP_PROTOCOLS.has(name)) return true;
  if (name.toLowerCase().startsWith('grpc-web')) return true;
  const dash = name.indexOf('-');
  if (dash >= 0) name = name.slice(0, dash);
  return PROTOCOLS.has(name.toLowerCase()) || WELL_KNOWN_PORTS.has(p.port);
}

function isControlPlane(svc: Resource): boolean {
  return 'istio' in svc.labels || svc.labels.release === 'istio';
}

export const portNameAnalyzer: Analyzer = {
  name: 'service.PortNameAnalyzer',
  description: 'Checks the port names associated with each service',
  analyze(ctx: AnalysisContext) {
    for (const svc of kubeList(ctx, 'Service')) {
      if (isControlPlane(svc) || MANAGED_VALUES.has(svc.labels[MANAGED_LABEL] ?? '')) continue;
      const externalName = svc.spec.type === 'ExternalName';
      servicePorts(svc).forEach((p, i) => {
        if (protocolKnown(p) && !(p.name === 'tcp' && externalName)) return;
        const path = child(child('spec', 'ports'), i);
        if (externalName) ctx.report('ExternalNameServiceTypeInvalidPortName', svc, [], path);
        else ctx.report('PortNameIsNotUnderNamingConvention', svc, [p.name, p.port, p.targetPort || '0'], path);
      });
    }
  },
};
