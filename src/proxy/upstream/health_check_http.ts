/**
 * One HTTP/1.1 health check (Envoy's HttpHealthChecker): GET `path` with Host = `host` (default:
 * the cluster name) and user-agent Envoy/HC on its own connection; a status in expected_statuses
 * (default 200) passes, `x-envoy-degraded` marks the host degraded, a status in retriable_statuses
 * fails under unhealthy_threshold like a network error, any other status fails at once.
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { CheckOutcome } from './health_check_tcp.ts';

/** Response heads larger than this fail the check (Envoy reads a bounded buffer too). */
const MAX_HEAD = 64 * 1024;

type Range = { start: number; end: number };

function ranges(list: EnvoyJson[] | undefined, dflt: Range[]): Range[] {
  if (!list?.length) return dflt;
  return list.map((r) => ({ start: Number(r.start ?? 0), end: Number(r.end ?? 0) }));
}

const inRanges = (code: number, rs: Range[]): boolean => rs.some((r) => code >= r.start && code < r.end);

export interface HttpCheckConfig {
  request: string;
  expected: Range[];
  retriable: Range[];
}

/** The request bytes and status ranges, computed once per health checker. */
export function httpCheckConfig(http: EnvoyJson, clusterName: string): HttpCheckConfig {
  const remove = new Set<string>((http.request_headers_to_remove ?? []).map((h: string) => h.toLowerCase()));
  const headers: [string, string][] = [];
  headers.push(['host', http.host || clusterName]);
  if (!remove.has('user-agent')) headers.push(['user-agent', 'Envoy/HC']);
  for (const o of http.request_headers_to_add ?? []) {
    const k = String(o.header?.key ?? '');
    if (k) headers.push([k, String(o.header?.value ?? o.header?.raw_value ?? '')]);
  }
  headers.push(['connection', 'close']);
  const method = http.method && http.method !== 'METHOD_UNSPECIFIED' ? String(http.method) : 'GET';
  // Config text never splits the request (a CR or LF would start a header of its own).
  const clean = (v: string): string => v.replace(/[\r\n]/g, '');
  const request = `${method} ${clean(String(http.path))} HTTP/1.1\r\n${headers.map(([k, v]) => `${clean(k)}: ${clean(v)}\r\n`).join('')}\r\n`;
  return { request, expected: ranges(http.expected_statuses, [{ start: 200, end: 201 }]), retriable: ranges(http.retriable_statuses, []) };
}

/** Sends the check on `socket` and settles with its outcome; never rejects. */
export function runHttpCheck(socket: Socket, cfg: HttpCheckConfig): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const finish = (o: CheckOutcome): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(o);
    };
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD) finish({ healthy: false, failure: 'ACTIVE', retriable: false, reason: 'response head too large' });
        return;
      }
      const lines = buf.slice(0, end).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!m) return finish({ healthy: false, failure: 'ACTIVE', retriable: false, reason: `malformed status line ${JSON.stringify(lines[0])}` });
      const code = Number(m[1]);
      if (inRanges(code, cfg.expected)) {
        const degraded = lines.some((l) => l.toLowerCase().startsWith('x-envoy-degraded:'));
        return finish({ healthy: true, degraded });
      }
      finish({ healthy: false, failure: 'ACTIVE', retriable: inRanges(code, cfg.retriable), reason: `status ${code}` });
    });
    socket.on('error', (e) => finish({ healthy: false, failure: 'NETWORK', retriable: true, reason: e.message }));
    socket.on('close', () => finish({ healthy: false, failure: 'NETWORK', retriable: true, reason: 'connection closed before a response' }));
    socket.write(cfg.request);
  });
}
