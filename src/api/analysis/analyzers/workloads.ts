/** Analyzers of workloads and policy: DestinationRule, ServiceEntry, Service, Deployment, Pod, injection, Sidecar, Telemetry, EnvoyFilter, security. */
import type { Analyzer } from '../types.ts';

export const WORKLOAD_ANALYZERS: readonly Analyzer[] = [];
