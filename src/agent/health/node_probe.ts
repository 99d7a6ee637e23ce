/**
 * The readiness probe a proxy's node carries (ProxyConfig.readinessProbe in its PROXY_CONFIG
 * metadata, where `tsmesh vm bootstrap` puts the WorkloadGroup's probe, as istioctl writes it into
 * the VM's mesh config), started beside the proxy with health reported on its xDS stream.
 */
import { probeProblem, type ReadinessProbe } from './probe.ts';
import { startWorkloadHealth, type WorkloadHealth } from './workload_health.ts';

/** The node's probe, undefined when there is none; throws naming the field when it is malformed. */
export function nodeReadinessProbe(metadata: Record<string, unknown> | undefined): ReadinessProbe | undefined {
  const pc = metadata?.PROXY_CONFIG;
  if (typeof pc !== 'object' || pc === null) return undefined;
  const probe = (pc as Record<string, unknown>).readinessProbe;
  if (probe === undefined) return undefined;
  const problem = probeProblem(probe);
  if (problem) throw new Error(`node metadata PROXY_CONFIG.readinessProbe: ${problem}`);
  return probe as ReadinessProbe;
}

/** Starts the node's probe if it has one; probes without a host go to the node's first INSTANCE_IPS. */
export function startNodeHealth(metadata: Record<string, unknown> | undefined, report: (healthy: boolean, message: string) => void): WorkloadHealth | undefined {
  const probe = nodeReadinessProbe(metadata);
  if (!probe) return undefined;
  const ip = String(metadata?.INSTANCE_IPS ?? '127.0.0.1').split(',')[0]!.trim() || '127.0.0.1';
  return startWorkloadHealth({ probe, defaultHost: ip, report });
}
