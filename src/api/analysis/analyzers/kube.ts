/**
 * The analyzers that read Kubernetes objects (Pods, Services, Namespaces, Deployments,
 * ConfigMaps), in Istio's order. istioctl runs them against a live cluster only; tsmesh runs
 * them on the Kubernetes objects in its inputs, and skips them under `--use-kube=false`
 * (run.ts FILE_MODE_SKIPPED lists each of them).
 */
import type { Analyzer } from '../types.ts';
import { k8sAnnotationsAnalyzer } from './kube_annotations.ts';
import { multiServiceAnalyzer } from './kube_deployment_services.ts';
import { subsetSelectPodAnalyzer } from './kube_destinationrule_subset.ts';
import { ingressGatewayPortAnalyzer } from './kube_gateway_port.ts';
import { injectionAnalyzer } from './kube_injection.ts';
import { portNameAnalyzer } from './kube_service_portname.ts';
import { sidecarSelectorAnalyzer } from './kube_sidecar_selector.ts';

export const KUBE_ANALYZERS: readonly Analyzer[] = [
  k8sAnnotationsAnalyzer,
  multiServiceAnalyzer,
  subsetSelectPodAnalyzer,
  ingressGatewayPortAnalyzer,
  injectionAnalyzer,
  portNameAnalyzer,
  sidecarSelectorAnalyzer,
];
