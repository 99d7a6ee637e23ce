/**
 * /clusters in Envoy's two formats: text lines `cluster::host:port::stat::value` (what
 * `istioctl proxy-config endpoint` parses) and ?format=json (envoy.admin.v3.Clusters).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { ClusterImpl } from '../upstream/cluster.ts';
import type { ClusterManagerImpl } from '../upstream/cluster_manager.ts';
import type { UpstreamHost } from '../interfaces.ts';
import { HealthFlag, hasHealthFlag, healthFlagsText as healthFlags } from '../upstream/host_health.ts';
import { hostSuccessRates } from '../upstream/outlier_detection.ts';
import { HostStats } from '../upstream/host_stats.ts';

/** Envoy's HostHealthStatus: each source's verdict apart, EDS's as its own enum. */
function healthStatus(h: UpstreamHost): EnvoyJson {
  if (h.healthFlags === undefined) return { eds_health_status: h.healthy ? 'HEALTHY' : 'UNHEALTHY' };
  const out: EnvoyJson = {};
  if (hasHealthFlag(h, HealthFlag.FAILED_ACTIVE_HC)) out.failed_active_health_check = true;
  if (hasHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK)) out.failed_outlier_check = true;
  if (hasHealthFlag(h, HealthFlag.DEGRADED_ACTIVE_HC)) out.failed_active_degraded_check = true;
  if (hasHealthFlag(h, HealthFlag.PENDING_ACTIVE_HC)) out.pending_active_hc = true;
  out.eds_health_status = hasHealthFlag(h, HealthFlag.FAILED_EDS_HEALTH) ? 'UNHEALTHY' : hasHealthFlag(h, HealthFlag.DEGRADED_EDS_HEALTH) ? 'DEGRADED' : 'HEALTHY';
  return out;
}


function hostStats(c: ClusterImpl, h: UpstreamHost): [string, number][] {
  const s = h.stats ?? NONE;
  return [
    ['cx_active', s.cxActive],
    ['cx_connect_fail', s.cxConnectFail],
    ['cx_total', s.cxTotal],
    ['rq_active', c.pools.activeRequests(h)],
    ['rq_error', s.rqError],
    ['rq_success', s.rqSuccess],
    ['rq_timeout', s.rqTimeout],
    ['rq_total', s.rqTotal],
  ];
}

/** A host no connection or request has reached yet. */
const NONE = new HostStats();

function thresholds(c: ClusterImpl): EnvoyJson {
  const t = c.config.circuit_breakers?.thresholds?.[0] ?? {};
  return { max_connections: t.max_connections ?? 1024, max_pending_requests: t.max_pending_requests ?? 1024, max_requests: t.max_requests ?? 1024, max_retries: t.max_retries ?? 3 };
}

export function clustersText(cm: ClusterManagerImpl): string {
  const lines: string[] = [];
  for (const [name, c] of [...cm.active].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const t = thresholds(c);
    lines.push(`${name}::observability_name::${name}`);
    const od = c.health.outlier;
    if (od) {
      lines.push(`${name}::outlier::success_rate_average::${od.srNumbers.external.average}`, `${name}::outlier::success_rate_ejection_threshold::${od.srNumbers.external.threshold}`);
      lines.push(`${name}::outlier::local_origin_success_rate_average::${od.srNumbers.local.average}`, `${name}::outlier::local_origin_success_rate_ejection_threshold::${od.srNumbers.local.threshold}`);
    }
    for (const prio of ['default_priority', 'high_priority']) for (const [k, v] of Object.entries(t)) lines.push(`${name}::${prio}::${k}::${v}`);
    lines.push(`${name}::added_via_api::${!cm.entries.get(name)?.isStatic}`);
    c.priorities.forEach((hosts, prio) => {
      for (const h of hosts) {
        const p = `${name}::${h.address}`;
        for (const [k, v] of hostStats(c, h)) lines.push(`${p}::${k}::${v}`);
        lines.push(`${p}::hostname::`, `${p}::health_flags::${healthFlags(h)}`, `${p}::weight::${h.weight}`);
        lines.push(`${p}::region::${h.locality?.region ?? ''}`, `${p}::zone::${h.locality?.zone ?? ''}`, `${p}::sub_zone::${h.locality?.sub_zone ?? ''}`);
        const sr = hostSuccessRates(h);
        lines.push(`${p}::canary::false`, `${p}::priority::${prio}`, `${p}::success_rate::${sr.external}`, `${p}::local_origin_success_rate::${sr.local}`);
      }
    });
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

export function clustersJson(cm: ClusterManagerImpl): EnvoyJson {
  const cluster_statuses: EnvoyJson[] = [];
  for (const [name, c] of [...cm.active].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const t = thresholds(c);
    cluster_statuses.push({
      name,
      observability_name: name,
      added_via_api: !cm.entries.get(name)?.isStatic,
      circuit_breakers: { thresholds: [t, { priority: 'HIGH', ...t }] },
      ...outlierJson(c),
      host_statuses: c.priorities.flatMap((hosts, prio) =>
        hosts.map((h) => ({
          address: { socket_address: { address: h.ip, port_value: h.port } },
          stats: hostStats(c, h).map(([n, v]) => (n.endsWith('active') ? { name: n, type: 'GAUGE', value: String(v) } : { name: n, value: String(v) })),
          health_status: healthStatus(h),
          ...successRateJson(h),
          weight: h.weight,
          locality: h.locality ?? {},
          priority: prio,
        })),
      ),
    });
  }
  return { cluster_statuses };
}

/** Envoy sets these only when computed (success_rate -1 means not). */
function successRateJson(h: UpstreamHost): EnvoyJson {
  const sr = hostSuccessRates(h);
  const out: EnvoyJson = {};
  if (sr.external >= 0) out.success_rate = { value: sr.external };
  if (sr.local >= 0) out.local_origin_success_rate = { value: sr.local };
  return out;
}

function outlierJson(c: ClusterImpl): EnvoyJson {
  const n = c.health.outlier?.srNumbers;
  const out: EnvoyJson = {};
  if (n && n.external.threshold >= 0) out.success_rate_ejection_threshold = { value: n.external.threshold };
  if (n && n.local.threshold >= 0) out.local_origin_success_rate_ejection_threshold = { value: n.local.threshold };
  return out;
}
