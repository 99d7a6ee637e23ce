/**
 * Traffic capture (istio-iptables' job), the API `tsmesh init` and `tsmesh sidecar` use:
 *   captureRules(opts)            the rule set, per family (pure)
 *   renderCapture(opts, backend)  what --dry-run prints
 *   applyCapture(opts, backend)   write it into the current network namespace (root)
 *   cleanupCapture(opts, backend) remove it again
 *   captureOptionsFromAnnotations(pod annotations) -> options, as Istio's injector maps them
 */
export { buildCaptureRules as captureRules, iptablesRestoreLines, type CaptureRules, type Rule } from './iptables_rules.ts';
export { nftScript } from './nftables.ts';
export { applyCapture, cleanupCapture, renderCapture, resolvConfServers, CaptureError, type Backend } from './apply.ts';
export { captureOptionsFromAnnotations, sidecarCaptureDefaults, ANNOTATIONS } from './annotations.ts';
export { captureOptions, defaultCaptureOptions, validateCaptureOptions, type CaptureOptions, type InterceptionMode } from './options.ts';
