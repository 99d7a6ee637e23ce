/**
 * Istio's pod annotations for traffic capture, mapped to capture options the way the sidecar
 * injector passes them to istio-init: annotation if present, else the injector's default.
 */
import { captureOptions, splitList, type CaptureOptions, type InterceptionMode } from './options.ts';

export const ANNOTATIONS = {
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  excludeInterfaces: 'traffic.sidecar.istio.io/excludeInterfaces',
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  interceptionMode: 'sidecar.istio.io/interceptionMode',
} as const;

/** Inbound ports an injected sidecar never captures: merged Prometheus (15020), health (15021), Envoy stats (15090). */
export const SIDECAR_INBOUND_EXCLUDES = ['15090', '15021', '15020'];

/** What the injector passes when a pod has no capture annotations: capture everything. */
export function sidecarCaptureDefaults(): CaptureOptions {
  return captureOptions({ outboundIPRangesInclude: '*', inboundPortsInclude: '*', inboundPortsExclude: SIDECAR_INBOUND_EXCLUDES.join(',') });
}

export type AnnotationResult = { ok: true; options: CaptureOptions } | { ok: false; error: string };

/** Capture options for a pod with these annotations (others ignored). */
export function captureOptionsFromAnnotations(annotations: Record<string, string>, base: CaptureOptions = sidecarCaptureDefaults()): AnnotationResult {
  const o = { ...base };
  const a = (k: keyof typeof ANNOTATIONS) => annotations[ANNOTATIONS[k]];
  const set = <K extends keyof CaptureOptions>(k: K, v: CaptureOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('outboundIPRangesInclude', a('includeOutboundIPRanges'));
  set('outboundIPRangesExclude', a('excludeOutboundIPRanges'));
  set('inboundPortsInclude', a('includeInboundPorts'));
  set('outboundPortsInclude', a('includeOutboundPorts'));
  set('outboundPortsExclude', a('excludeOutboundPorts'));
  set('excludeInterfaces', a('excludeInterfaces'));
  set('rerouteVirtualInterfaces', a('kubevirtInterfaces'));
  const excludeInbound = a('excludeInboundPorts');
  if (excludeInbound !== undefined) {
    // The sidecar's own ports stay excluded whatever the annotation says (as the injector does).
    o.inboundPortsExclude = [...new Set([...splitList(excludeInbound), ...SIDECAR_INBOUND_EXCLUDES])].join(',');
  }
  const mode = a('interceptionMode');
  if (mode !== undefined) {
    if (mode === 'NONE') return { ok: false, error: `${ANNOTATIONS.interceptionMode}: NONE means no capture; do not run capture for this workload` };
    if (mode !== 'REDIRECT' && mode !== 'TPROXY') return { ok: false, error: `${ANNOTATIONS.interceptionMode} must be REDIRECT, TPROXY or NONE, got ${JSON.stringify(mode)}` };
    o.inboundInterceptionMode = mode as InterceptionMode;
  }
  return { ok: true, options: o };
}
