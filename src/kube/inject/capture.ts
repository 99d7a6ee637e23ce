/**
 * The istio-init container: `tsmesh init` with istio-iptables' flags, computed from the pod's
 * traffic.sidecar.istio.io/* annotations over the injection values, in the order Istio's
 * injection template writes them. Bad annotation values refuse the injection (Istio's injector
 * validates them too) rather than leave a pod whose capture fails at start.
 */
import { captureOptions, splitList, validateCaptureOptions } from '../../agent/capture/options.ts';
import { ANNOTATIONS } from '../../agent/capture/annotations.ts';
import type { Container } from './objects.ts';
import type { PodProxyConfig } from './proxy_config.ts';
import type { InjectionSettings } from './settings.ts';
import { proxyResources } from './resources.ts';

export const INIT_CONTAINER_NAME = 'istio-init';
/** Ports the sidecar serves that capture must never take: Envoy stats, health, agent status. */
const SIDECAR_PORTS = ['15090', '15021', '15020'];

export type InitResult = { ok: true; container: Container } | { ok: false; error: string };

export function initContainer(annotations: Record<string, string>, pc: PodProxyConfig, settings: InjectionSettings, image: string): InitResult {
  const a = (k: keyof typeof ANNOTATIONS, def: string) => annotations[ANNOTATIONS[k]] ?? def;
  // Annotation over ProxyConfig, resolved in podProxyConfig; NONE never gets here (no istio-init).
  const mode = pc.interceptionMode;
  if (mode === 'NONE') return { ok: false, error: `${ANNOTATIONS.interceptionMode} NONE: no istio-init container (this is a bug in the caller)` };
  const excludeInbound = [...SIDECAR_PORTS, ...splitList(a('excludeInboundPorts', settings.excludeInboundPorts)).filter((p) => !SIDECAR_PORTS.includes(p))].join(',');
  const flags: Array<[string, string]> = [
    ['-p', '15001'],
    ['-z', '15006'],
    ['-u', '1337'],
    ['-m', mode],
    ['-i', a('includeOutboundIPRanges', settings.includeIPRanges)],
    ['-x', a('excludeOutboundIPRanges', settings.excludeIPRanges)],
    ['-b', a('includeInboundPorts', settings.includeInboundPorts)],
    ['-d', excludeInbound],
  ];
  // Optional flags only when the pod asks (as Istio's template does).
  const optional: Array<[keyof typeof ANNOTATIONS, string]> = [
    ['includeOutboundPorts', '-q'],
    ['excludeOutboundPorts', '-o'],
    ['kubevirtInterfaces', '-k'],
    ['excludeInterfaces', '-c'],
  ];
  for (const [k, flag] of optional) if (annotations[ANNOTATIONS[k]] !== undefined) flags.push([flag, annotations[ANNOTATIONS[k]]!]);
  const args = ['init', ...flags.flat()];
  if (pc.proxyMetadata.ISTIO_META_DNS_CAPTURE === 'true') args.push('--redirect-dns');

  const problems = validateCaptureOptions(
    captureOptions({
      inboundInterceptionMode: mode,
      outboundIPRangesInclude: flags.find((f) => f[0] === '-i')![1],
      outboundIPRangesExclude: flags.find((f) => f[0] === '-x')![1],
      inboundPortsInclude: flags.find((f) => f[0] === '-b')![1],
      inboundPortsExclude: excludeInbound,
      outboundPortsInclude: annotations[ANNOTATIONS.includeOutboundPorts],
      outboundPortsExclude: annotations[ANNOTATIONS.excludeOutboundPorts],
      rerouteVirtualInterfaces: annotations[ANNOTATIONS.kubevirtInterfaces],
      excludeInterfaces: annotations[ANNOTATIONS.excludeInterfaces],
    }),
  );
  // validateCaptureOptions names tsmesh init's flags; a pod author knows the annotations.
  if (problems.length) return { ok: false, error: `traffic.sidecar.istio.io annotations: ${problems.map(toAnnotationNames).join('; ')}` };

  return {
    ok: true,
    container: {
      name: INIT_CONTAINER_NAME,
      image,
      ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
      args,
      resources: proxyResources(annotations, settings),
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: false,
        runAsGroup: 0,
        runAsNonRoot: false,
        runAsUser: 0,
      },
    },
  };
}

const FLAG_ANNOTATION: Record<string, string> = {
  '--istio-service-cidr': ANNOTATIONS.includeOutboundIPRanges,
  '--istio-service-exclude-cidr': ANNOTATIONS.excludeOutboundIPRanges,
  '--istio-inbound-ports': ANNOTATIONS.includeInboundPorts,
  '--istio-local-exclude-ports': ANNOTATIONS.excludeInboundPorts,
  '--istio-local-outbound-ports': ANNOTATIONS.includeOutboundPorts,
  '--istio-local-outbound-ports-exclude': ANNOTATIONS.excludeOutboundPorts,
  '--kube-virt-interfaces': ANNOTATIONS.kubevirtInterfaces,
  '--istio-exclude-interfaces': ANNOTATIONS.excludeInterfaces,
};

function toAnnotationNames(problem: string): string {
  return problem.replace(/--[a-z-]+/g, (f) => FLAG_ANNOTATION[f] ?? f);
}
