/**
 * `tsmesh.io/health-check`: active health checking asked for from Istio config. Istio has no API
 * for it (istio/istio#10537); tsmesh reads this DestinationRule annotation, a JSON object, and the
 * pilot turns it into Envoy's Cluster.health_checks on every cluster of that rule (default and
 * subsets, every port). One reader serves validation (apply time) and translation, so what is
 * accepted is exactly what reaches the proxy.
 *
 *   metadata:
 *     annotations:
 *       tsmesh.io/health-check: '{"path": "/health", "interval": "5s", "timeout": "1s", "unhealthyThreshold": 2, "healthyThreshold": 1}'
 *
 * Fields: `path` (HTTP check: GET path) or `tcp` ({} connect-only, or {"send": "...", "receive":
 * "..."} as text); `host` (HTTP Host, default the cluster name), `expectedStatuses` (list of codes,
 * default [200]), `interval` (default 10s), `timeout` (1s), `unhealthyThreshold` (2),
 * `healthyThreshold` (1), `noTrafficInterval` (default: `interval`), `intervalJitter` (none).
 */
import { durationMsOf } from '../duration.ts';

export const HEALTH_CHECK_ANNOTATION = 'tsmesh.io/health-check';

export interface HealthCheckSpec {
  path?: string;
  host?: string;
  expectedStatuses?: number[];
  tcp?: { send?: string; receive?: string };
  interval: string;
  timeout: string;
  unhealthyThreshold: number;
  healthyThreshold: number;
  noTrafficInterval?: string;
  intervalJitter?: string;
}

const FIELDS = new Set(['path', 'host', 'expectedStatuses', 'tcp', 'interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold', 'noTrafficInterval', 'intervalJitter']);
const DURATIONS = ['interval', 'timeout', 'noTrafficInterval', 'intervalJitter'] as const;

/** The annotation's value read, or every problem with it (each naming the field). */
export function parseHealthCheckAnnotation(value: unknown): { spec: HealthCheckSpec } | { errors: string[] } {
  if (typeof value !== 'string') return { errors: ['must be a JSON object in a string'] };
  let o: any;
  try {
    o = JSON.parse(value);
  } catch (e) {
    return { errors: [`is not valid JSON (${(e as Error).message}); write e.g. '{"path": "/health", "interval": "5s"}'`] };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { errors: ['must be a JSON object, e.g. {"path": "/health"}'] };
  const errors: string[] = [];
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) errors.push(`unknown field "${k}" (known: ${[...FIELDS].join(', ')})`);
  const hasPath = o.path !== undefined;
  const hasTcp = o.tcp !== undefined;
  if (hasPath === hasTcp) errors.push('set exactly one of "path" (HTTP check) or "tcp" (TCP check)');
  if (hasPath && (typeof o.path !== 'string' || !o.path.startsWith('/') || /[\s\r\n]/.test(o.path))) errors.push(`"path" must be an absolute request path without spaces, e.g. "/health", got ${JSON.stringify(o.path)}`);
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '' || /[\s\r\n]/.test(o.host))) errors.push(`"host" must be a non-empty host name, got ${JSON.stringify(o.host)}`);
  if (o.host !== undefined && hasTcp) errors.push('"host" applies to HTTP checks only');
  if (o.expectedStatuses !== undefined) {
    if (hasTcp) errors.push('"expectedStatuses" applies to HTTP checks only');
    if (!Array.isArray(o.expectedStatuses) || o.expectedStatuses.length === 0 || !o.expectedStatuses.every((c: unknown) => Number.isInteger(c) && (c as number) >= 100 && (c as number) <= 599)) {
      errors.push(`"expectedStatuses" must be a non-empty list of HTTP status codes (100-599), got ${JSON.stringify(o.expectedStatuses)}`);
    }
  }
  if (hasTcp) {
    const t = o.tcp;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) errors.push('"tcp" must be an object: {} to only connect, or {"send": "...", "receive": "..."}');
    else {
      for (const k of Object.keys(t)) if (k !== 'send' && k !== 'receive') errors.push(`unknown field "tcp.${k}" (known: send, receive)`);
      for (const k of ['send', 'receive']) if (t[k] !== undefined && (typeof t[k] !== 'string' || t[k] === '')) errors.push(`"tcp.${k}" must be a non-empty string`);
    }
  }
  for (const k of DURATIONS) {
    if (o[k] === undefined) continue;
    const ms = typeof o[k] === 'string' ? durationMsOf(o[k]) : undefined;
    if (ms === undefined || ms < 1) errors.push(`"${k}" must be a duration of at least 1ms such as "5s" or "500ms", got ${JSON.stringify(o[k])}`);
  }
  for (const k of ['unhealthyThreshold', 'healthyThreshold']) {
    if (o[k] !== undefined && !(Number.isInteger(o[k]) && o[k] >= 1)) errors.push(`"${k}" must be a whole number of at least 1, got ${JSON.stringify(o[k])}`);
  }
  if (errors.length) return { errors };
  return {
    spec: {
      ...(hasPath ? { path: o.path } : { tcp: o.tcp }),
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.expectedStatuses !== undefined ? { expectedStatuses: o.expectedStatuses } : {}),
      interval: o.interval ?? '10s',
      timeout: o.timeout ?? '1s',
      unhealthyThreshold: o.unhealthyThreshold ?? 2,
      healthyThreshold: o.healthyThreshold ?? 1,
      ...(o.noTrafficInterval !== undefined ? { noTrafficInterval: o.noTrafficInterval } : {}),
      ...(o.intervalJitter !== undefined ? { intervalJitter: o.intervalJitter } : {}),
    },
  };
}

/** Apply-time check of a DestinationRule's annotations (errors at metadata.annotations["tsmesh.io/health-check"]). */
export function checkHealthCheckAnnotation(annotations: Record<string, unknown> | undefined, err: (path: string, message: string) => void): void {
  const v = annotations?.[HEALTH_CHECK_ANNOTATION];
  if (v === undefined) return;
  const r = parseHealthCheckAnnotation(v);
  if ('errors' in r) for (const e of r.errors) err(`metadata.annotations["${HEALTH_CHECK_ANNOTATION}"]`, `${HEALTH_CHECK_ANNOTATION} ${e}`);
}
