/**
 * Active health checks from Istio config: the `tsmesh.io/health-check` DestinationRule annotation
 * (src/api/validation/health_check_annotation.ts; Istio itself has no API for them,
 * istio/istio#10537) becomes Envoy's Cluster.health_checks on every cluster of that rule. The first
 * of the merged rules that carries the annotation wins, as for other merged fields.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { ResolvedDestinationRule } from '../destination_rule.ts';
import { HEALTH_CHECK_ANNOTATION, parseHealthCheckAnnotation, type HealthCheckSpec } from '../../api/validation/health_check_annotation.ts';
import { envoyDurationOf } from '../util.ts';

const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

/** Envoy's HealthCheck for a validated annotation. */
export function envoyHealthCheck(spec: HealthCheckSpec): EnvoyJson {
  const hc: EnvoyJson = {
    timeout: envoyDurationOf(spec.timeout),
    interval: envoyDurationOf(spec.interval),
    unhealthy_threshold: spec.unhealthyThreshold,
    healthy_threshold: spec.healthyThreshold,
    // Envoy checks every 60 s until the cluster has traffic; a user who set an interval means it.
    no_traffic_interval: envoyDurationOf(spec.noTrafficInterval ?? spec.interval),
  };
  if (spec.intervalJitter) hc.interval_jitter = envoyDurationOf(spec.intervalJitter);
  if (spec.path !== undefined) {
    const http: EnvoyJson = { path: spec.path };
    if (spec.host) http.host = spec.host;
    if (spec.expectedStatuses) http.expected_statuses = [...new Set(spec.expectedStatuses)].sort((a, b) => a - b).map((c) => ({ start: c, end: c + 1 }));
    hc.http_health_check = http;
  } else {
    const tcp: EnvoyJson = {};
    if (spec.tcp?.send) tcp.send = { text: hex(spec.tcp.send) };
    if (spec.tcp?.receive) tcp.receive = [{ text: hex(spec.tcp.receive) }];
    hc.tcp_health_check = tcp;
  }
  return hc;
}

/** Sets cluster.health_checks from the rule's annotation; clusters without a host set (ORIGINAL_DST) get none. */
export function applyHealthCheck(cluster: EnvoyJson, dr: ResolvedDestinationRule | undefined): void {
  if (!dr || cluster.type === 'ORIGINAL_DST') return;
  for (const c of dr.configs) {
    const v = c.metadata.annotations?.[HEALTH_CHECK_ANNOTATION];
    if (v === undefined) continue;
    const r = parseHealthCheckAnnotation(v);
    // Validation rejected a bad annotation at apply time; one that slipped through is skipped, not guessed at.
    if ('spec' in r) cluster.health_checks = [envoyHealthCheck(r.spec)];
    return;
  }
}
