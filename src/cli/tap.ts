/**
 * `tsmesh tap deploy/<name>`: Linkerd's tap for tsmesh. Streams the requests passing through one
 * workload's proxy, as they finish, from the control plane's /debug/tap (src/controlplane/tap.ts,
 * which the dashboard uses too). Ctrl-C ends the stream; the proxy drops the tap at once.
 */
import { controlPlaneRef } from './controlplane_client.ts';
import { DEFAULT_MAX_RPS, MAX_MAX_RPS } from '../proxy/tap/tap_session.ts';
import { one, parseFlags } from './flags.ts';
import { resolve } from 'node:path';
import { parsePodArg, resolvePod } from './pod_ref.ts';
import { DEFAULT_STATE_DIR, STATE_FILE, readState } from '../demo/state.ts';

const HELP = `Usage: tsmesh tap (deploy/<name> | <pod>[.<namespace>]) [-n <namespace>] [--path <prefix>]
                  [--method <M>] [--max-rps <n>] [--show-query] [-o wide|json] [--controlplane <url>]

Live stream of the requests passing through one workload's proxy (Linkerd's tap): one line per
finished request, inbound (proxy=in: src is the caller) and outbound (proxy=out: dst is the
upstream host picked), with time, method, authority, path, status, latency and Envoy's response
flags. Stops with Ctrl-C, then prints how many requests were shown and dropped.

Flags:
  -n, --namespace <ns>   the workload's namespace (default: default)
  --path <prefix>        only requests whose path (without its query string) starts with <prefix>
  --show-query           show each path's query string too (off by default: signed URLs and
                         ?access_token= values stay in the proxy)
  --method <M>           only requests with this HTTP method (GET, POST, ...)
  --max-rps <n>          events per second the proxy sends at most (default ${DEFAULT_MAX_RPS}, at most ${MAX_MAX_RPS});
                         more are dropped in the proxy and counted
  -o, --output <fmt>     wide: add the caller's SPIFFE identity, the upstream cluster and the
                         request id; json: one JSON object per line (the /debug/tap stream)
  --controlplane <url>   the control plane's debug address (default: the running demo's, then
                         $TSMESH_CONTROLPLANE, then http://127.0.0.1:15014)
  --state-dir <dir>      the demo's state directory (to resolve deploy/<name> to a pod)
  --help

Cost and bounds: a proxy nobody taps does no tap work (one flag read per request). A tap holds at
most 1,000 events in the proxy while the reader is slow and sends at most --max-rps per second;
the rest is dropped and counted, so tapping a busy proxy cannot grow its memory. A proxy runs at
most 8 taps at once (the 9th gets HTTP 429).

Trust: only the control plane can start a tap. It accepts tap requests from this machine only
(loopback, with an IP or localhost Host and no foreign Origin, so web pages cannot), signs a
30-second, single-use token for that one proxy, its admin address and that one filter with a
certificate its CA issued to itself (DNS name istiod.istio-system.svc), and relays the proxy's
stream. The proxy checks the token against its mesh trust root (the ROOTCA it got over SDS) and
that it arrived on the admin address it names, and refuses any other POST /tap on its admin port
(401 without a token, 403 with a bad one). Two connections claiming one pod are refused (409).

Examples:
  npx tsmesh tap deploy/reviews-v2
  npx tsmesh tap deploy/productpage-v1 --path /api --method GET --max-rps 10 -o wide`;

export async function tapCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [
    { name: 'namespace', alias: 'n' },
    { name: 'path' },
    { name: 'method' },
    { name: 'max-rps' },
    { name: 'show-query', boolean: true },
    { name: 'output', alias: 'o' },
    { name: 'controlplane' },
    { name: 'state-dir' },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usageError(parsed.error);
  if (parsed.flags.help) {
    console.log(HELP);
    return 0;
  }
  if (parsed.rest.length !== 1) return usageError(parsed.rest.length === 0 ? 'which workload? give deploy/<name> or a pod name' : `one workload at a time (got ${parsed.rest.join(' ')})`);
  const output = one(parsed.flags, 'output') ?? '';
  if (!['', 'wide', 'json'].includes(output)) return usageError(`-o ${output}: use wide or json`);
  const maxRps = one(parsed.flags, 'max-rps');
  if (maxRps !== undefined && !(Number(maxRps) > 0 && Number(maxRps) <= MAX_MAX_RPS)) return usageError(`--max-rps ${maxRps}: give a number above 0 and at most ${MAX_MAX_RPS}`);
  const path = one(parsed.flags, 'path');
  if (path !== undefined && !path.startsWith('/')) return usageError(`--path ${path}: give a path prefix starting with /`);
  const method = one(parsed.flags, 'method');
  if (method !== undefined && !/^[A-Za-z]+$/.test(method)) return usageError(`--method ${method}: give an HTTP method such as GET`);

  const target = parsed.rest[0]!;
  const ref = parsePodArg(target, one(parsed.flags, 'namespace'));
  if ('error' in ref) return usageError(ref.error);
  const namespace = ref.namespace;
  // With a demo here, the pod is checked (and its state explained) before asking the control plane.
  let pod = ref.kind === 'deployment' ? `deploy/${ref.name}` : ref.name;
  const stateDir = one(parsed.flags, 'state-dir');
  if (stateDir !== undefined || readState(resolve(DEFAULT_STATE_DIR, STATE_FILE))) {
    // resolvePod knows the ingress gateway too (istio-ingressgateway-1.istio-system).
    const found = resolvePod(target, { namespace: one(parsed.flags, 'namespace'), stateDir });
    if ('error' in found) return fail(found.error);
    if (found.pod.sidecar === false) return fail(`${found.pod.name} in namespace ${namespace} runs without a sidecar: there is no proxy to tap`);
    pod = found.pod.name;
  }
  const cp = controlPlaneRef(one(parsed.flags, 'controlplane'), stateDir);
  if (cp.stale) return fail(`the demo in ${cp.from} is no longer running: start it with \`npx tsmesh demo\``);
  const q = new URLSearchParams({ pod, namespace });
  if (path) q.set('path', path);
  if (method) q.set('method', method.toUpperCase());
  if (maxRps) q.set('max_rps', maxRps);
  if (parsed.flags['show-query']) q.set('show_query', 'true');
  return stream(`${cp.url}/debug/tap?${q}`, cp.url, output);
}

interface Totals {
  shown: number;
  sent: number;
  droppedRate: number;
  droppedQueue: number;
  maxRps?: number;
}

async function stream(url: string, base: string, output: string): Promise<number> {
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const totals: Totals = { shown: 0, sent: 0, droppedRate: 0, droppedQueue: 0 };
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: abort.signal });
    } catch (e) {
      if (interrupted) return 0;
      return fail(`cannot reach the control plane at ${base} (${(e as Error).message}): is the demo running? (or give --controlplane <url>)`);
    }
    if (res.status !== 200) return fail(`${(await res.text()).trim()} (HTTP ${res.status} from ${base})`);
    let buf = '';
    let endReason: string | undefined;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) endReason = handleLine(line, output, totals) ?? endReason;
        }
      }
    } catch (e) {
      if (!interrupted) return fail(`the tap stream broke: ${(e as Error).message}`);
    }
    summary(totals);
    if (interrupted) return 0;
    return fail(endReason ?? 'the control plane closed the tap stream');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Prints one stream line; returns the end reason for an end line. */
function handleLine(line: string, output: string, t: Totals): string | undefined {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (m.type === 'event') {
    t.shown++;
    console.log(output === 'json' ? line : formatEvent(m, output === 'wide'));
  } else if (m.type === 'stats') {
    t.sent = Number(m.sent) || 0;
    t.droppedRate = Number(m.droppedRate) || 0;
    t.droppedQueue = Number(m.droppedQueue) || 0;
  } else if (m.type === 'start') {
    t.maxRps = Number(m.maxRps) || undefined;
  } else if (m.type === 'end') {
    return String(m.reason ?? 'the tap ended');
  }
  return undefined;
}

/** Linkerd's tap line, one per finished request. */
export function formatEvent(e: Record<string, unknown>, wide: boolean): string {
  const flags = Array.isArray(e.responseFlags) && e.responseFlags.length > 0 ? e.responseFlags.join(',') : '-';
  const parts = [
    String(e.time),
    `proxy=${e.direction === 'outbound' ? 'out' : 'in '}`,
    `src=${e.source}`,
    `dst=${e.destination}`,
    `tls=${e.tls === true}`,
    `:method=${e.method}`,
    `:authority=${e.authority}`,
    `:path=${e.path}`,
    `:status=${e.status}`,
    `latency=${e.latencyMs}ms`,
    `flags=${flags}`,
  ];
  if (wide) parts.push(`src_id=${e.sourceIdentity ?? '-'}`, `cluster=${e.upstreamCluster ?? '-'}`, `request_id=${e.requestId ?? '-'}`);
  return parts.join(' ');
}

function summary(t: Totals): void {
  const dropped = t.droppedRate + t.droppedQueue;
  const why = dropped > 0 ? ` (${t.droppedRate} over --max-rps${t.maxRps ? ` ${t.maxRps}` : ''}, ${t.droppedQueue} while the reader was slow)` : '';
  console.error(`tap: ${t.shown} requests shown, ${dropped} dropped by the proxy${why}`);
}

function usageError(why: string): number {
  console.error(`tsmesh tap: ${why}\n\n${HELP}`);
  return 2;
}

function fail(why: string): number {
  console.error(`tsmesh tap: ${why}`);
  return 1;
}
