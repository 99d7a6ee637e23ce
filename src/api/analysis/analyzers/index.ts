/** Every analyzer `tsmesh analyze` runs, in Istio's order of registration within each group. */
import type { Analyzer } from '../types.ts';
import { KUBE_ANALYZERS } from './kube.ts';
import { NETWORKING_ANALYZERS } from './networking.ts';
import { WORKLOAD_ANALYZERS } from './workloads.ts';

export const ALL_ANALYZERS: readonly Analyzer[] = [...NETWORKING_ANALYZERS, ...WORKLOAD_ANALYZERS, ...KUBE_ANALYZERS];
