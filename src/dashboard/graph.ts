/**
 * The mesh graph as Kiali draws it (a "workload" graph with service nodes injected): a node per
 * workload and per service, an edge from a calling workload to the service it called and from the
 * service to each workload that served it, each edge with its request rate, error percentage, p95
 * latency and share of mutual TLS. Built from rates of Istio's standard metrics, whoever computed
 * them (two scrapes of the proxies, or Prometheus' rate()), and shaped as Kiali's graph JSON
 * (Cytoscape's `elements.nodes[].data` / `elements.edges[].data`) so the UI and tests read one thing.
 */
import type { Labels } from './prom_text.ts';

/** One series' rate per second over the graph's window. */
export interface RateSample {
  labels: Labels;
  rate: number;
}

export interface TrafficInput {
  /** istio_requests_total. */
  requests: readonly RateSample[];
  /** istio_request_duration_milliseconds_bucket (with `le`). */
  durationBuckets: readonly RateSample[];
  /** istio_tcp_sent_bytes_total + istio_tcp_received_bytes_total (bytes per second). */
  tcpBytes?: readonly RateSample[];
}

export interface GraphOptions {
  /** Only nodes in these namespaces and their neighbours (all when empty). */
  namespaces?: readonly string[];
  /** The window the rates were taken over, in seconds (Kiali's `duration`). */
  duration: number;
  /** Unix seconds. */
  timestamp: number;
}

export type Health = 'Healthy' | 'Degraded' | 'Failure' | 'NA';

export interface NodeData {
  id: string;
  nodeType: 'workload' | 'service' | 'unknown';
  cluster: string;
  namespace: string;
  workload?: string;
  app?: string;
  version?: string;
  service?: string;
  destServices?: Array<{ namespace: string; name: string }>;
  traffic: Array<{ protocol: string; rates: Record<string, string> }>;
  /** From its inbound error percentage, with Kiali's default thresholds. */
  health: Health;
  isRoot?: boolean;
}

export interface EdgeData {
  id: string;
  source: string;
  target: string;
  traffic: { protocol: string; rates: Record<string, string>; responses: Record<string, string> };
  /** p95 latency in ms, when the proxies reported durations (Kiali's default responseTime). */
  responseTime?: string;
  /** Percentage of the requests that went over mutual TLS; a lock is drawn when > 0. */
  isMTLS?: string;
  health: Health;
}

export interface Graph {
  timestamp: number;
  duration: number;
  graphType: 'workload';
  elements: { nodes: Array<{ data: NodeData }>; edges: Array<{ data: EdgeData }> };
}

const UNKNOWN = 'unknown';
const CLUSTER = 'Kubernetes';

/** Kiali's default request health: 5xx (and requests with no response) > 0% degraded, >= 10% failure. */
export function healthOf(errorPercent: number, total: number): Health {
  if (total <= 0) return 'NA';
  if (errorPercent >= 10) return 'Failure';
  if (errorPercent > 0) return 'Degraded';
  return 'Healthy';
}

/** A rate as Kiali writes it (a string), with enough digits that a small non-zero rate is not "0.00". */
export function formatRate(r: number): string {
  if (!Number.isFinite(r) || r <= 0) return '0';
  return String(Number(r.toPrecision(3)));
}

export function workloadNodeId(namespace: string, workload: string): string {
  return `wl:${namespace}:${workload}`;
}

export function serviceNodeId(namespace: string, service: string): string {
  return `svc:${namespace}:${service}`;
}

interface EdgeAcc {
  source: string;
  target: string;
  protocol: string;
  total: number;
  errors: number;
  byClass: Record<string, number>;
  byCode: Map<string, number>;
  mtls: number;
  /** le -> rate */
  buckets: Map<number, number>;
  tcp: number;
}

/** What a 5xx, a 0 (no response) or a non-OK gRPC status counts as: an error (Kiali counts 4xx too, as degraded). */
function isError(l: Labels): boolean {
  const code = l.response_code ?? '';
  if (l.request_protocol === 'grpc' && l.grpc_response_status && l.grpc_response_status !== '0') return true;
  return code === '0' || code === '' || code.startsWith('5');
}

function codeClass(code: string): string {
  if (code === '0' || code === '') return 'httpNoResponse';
  return `http${code[0]}xx`;
}

export function buildGraph(input: TrafficInput, o: GraphOptions): Graph {
  const nodes = new Map<string, NodeData>();
  const edges = new Map<string, EdgeAcc>();
  const namespaces = new Set(o.namespaces ?? []);

  const workloadNode = (l: Labels, side: 'source' | 'destination'): string => {
    const workload = l[`${side}_workload`] ?? UNKNOWN;
    const namespace = l[`${side}_workload_namespace`] ?? UNKNOWN;
    if (workload === UNKNOWN || workload === '') {
      if (!nodes.has(UNKNOWN)) nodes.set(UNKNOWN, { id: UNKNOWN, nodeType: 'unknown', cluster: UNKNOWN, namespace: UNKNOWN, traffic: [], health: 'NA' });
      return UNKNOWN;
    }
    const id = workloadNodeId(namespace, workload);
    if (!nodes.has(id)) {
      const app = l[`${side}_app`] ?? l[`${side}_canonical_service`];
      const version = l[`${side}_version`] ?? l[`${side}_canonical_revision`];
      nodes.set(id, {
        id,
        nodeType: 'workload',
        cluster: l[`${side}_cluster`] ?? CLUSTER,
        namespace,
        workload,
        ...(app && app !== UNKNOWN ? { app } : {}),
        ...(version && version !== UNKNOWN ? { version } : {}),
        traffic: [],
        health: 'NA',
      });
    }
    return id;
  };
  const serviceNode = (l: Labels): string | undefined => {
    const name = l.destination_service_name;
    const namespace = l.destination_service_namespace;
    if (!name || name === UNKNOWN || !namespace || namespace === UNKNOWN) return undefined;
    const id = serviceNodeId(namespace, name);
    if (!nodes.has(id)) {
      nodes.set(id, { id, nodeType: 'service', cluster: l.destination_cluster ?? CLUSTER, namespace, service: name, destServices: [{ namespace, name }], traffic: [], health: 'NA' });
    }
    return id;
  };
  const edge = (source: string, target: string, protocol: string): EdgeAcc => {
    const id = `${source}->${target}`;
    let e = edges.get(id);
    if (!e) {
      e = { source, target, protocol, total: 0, errors: 0, byClass: {}, byCode: new Map(), mtls: 0, buckets: new Map(), tcp: 0 };
      edges.set(id, e);
    }
    return e;
  };
  /** The edges one series contributes to: caller -> service, and service -> the workload that served it. */
  const edgesOf = (l: Labels, protocol: string): EdgeAcc[] => {
    const src = workloadNode(l, 'source');
    const svc = serviceNode(l);
    const dstKnown = (l.destination_workload ?? UNKNOWN) !== UNKNOWN;
    if (!svc) return dstKnown ? [edge(src, workloadNode(l, 'destination'), protocol)] : [];
    const out = [edge(src, svc, protocol)];
    if (dstKnown) out.push(edge(svc, workloadNode(l, 'destination'), protocol));
    return out;
  };

  // Each request is reported twice (by the client's proxy and the server's); Kiali reads the
  // server's report, and the client's only where no server reported (a call that never arrived).
  const pair = (l: Labels) => `${l.source_workload_namespace}/${l.source_workload}>${l.destination_service_namespace}/${l.destination_service_name}`;
  const byDestination = new Set(input.requests.filter((s) => s.labels.reporter === 'destination' && s.rate > 0).map((s) => pair(s.labels)));
  const chosen = (s: RateSample) => s.labels.reporter === 'destination' || (s.labels.reporter === 'source' && !byDestination.has(pair(s.labels)));

  for (const s of input.requests) {
    if (!(s.rate > 0) || !chosen(s)) continue;
    const l = s.labels;
    const protocol = l.request_protocol === 'grpc' ? 'grpc' : 'http';
    for (const e of edgesOf(l, protocol)) {
      e.total += s.rate;
      if (isError(l)) e.errors += s.rate;
      const cls = codeClass(l.response_code ?? '');
      e.byClass[cls] = (e.byClass[cls] ?? 0) + s.rate;
      const code = l.response_code ?? '0';
      e.byCode.set(code, (e.byCode.get(code) ?? 0) + s.rate);
      if (l.connection_security_policy === 'mutual_tls') e.mtls += s.rate;
    }
  }
  for (const s of input.durationBuckets) {
    if (!(s.rate > 0) || !chosen(s)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    if (Number.isNaN(le)) continue;
    for (const e of edgesOf(s.labels, s.labels.request_protocol === 'grpc' ? 'grpc' : 'http')) e.buckets.set(le, (e.buckets.get(le) ?? 0) + s.rate);
  }
  for (const s of input.tcpBytes ?? []) {
    if (!(s.rate > 0) || s.labels.reporter !== 'destination') continue;
    for (const e of edgesOf(s.labels, 'tcp')) {
      e.tcp += s.rate;
      if (e.protocol !== 'tcp' && e.total === 0) e.protocol = 'tcp';
      if (s.labels.connection_security_policy === 'mutual_tls') e.mtls += e.total === 0 ? s.rate : 0;
    }
  }

  // Node traffic and health from their edges.
  const inbound = new Map<string, { total: number; errors: number; byClass: Record<string, number> }>();
  const outbound = new Map<string, number>();
  for (const e of edges.values()) {
    const i = inbound.get(e.target) ?? { total: 0, errors: 0, byClass: {} };
    i.total += e.total;
    i.errors += e.errors;
    for (const [k, v] of Object.entries(e.byClass)) i.byClass[k] = (i.byClass[k] ?? 0) + v;
    inbound.set(e.target, i);
    outbound.set(e.source, (outbound.get(e.source) ?? 0) + e.total);
  }
  for (const n of nodes.values()) {
    const i = inbound.get(n.id);
    const out = outbound.get(n.id) ?? 0;
    const rates: Record<string, string> = {};
    if (i && i.total > 0) {
      rates.httpIn = formatRate(i.total);
      for (const [k, v] of Object.entries(i.byClass)) if (k !== 'http2xx') rates[k.replace('http', 'httpIn')] = formatRate(v);
    }
    if (out > 0) rates.httpOut = formatRate(out);
    if (Object.keys(rates).length > 0) n.traffic = [{ protocol: 'http', rates }];
    n.health = i ? healthOf(i.total > 0 ? (100 * i.errors) / i.total : 0, i.total) : 'NA';
    if (!i && out > 0) n.isRoot = true;
  }

  const keepNode = (id: string) => namespaces.size === 0 || namespaces.has(nodes.get(id)?.namespace ?? '');
  const edgeList: Array<{ data: EdgeData }> = [];
  const used = new Set<string>();
  for (const [id, e] of [...edges.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!keepNode(e.source) && !keepNode(e.target)) continue;
    used.add(e.source).add(e.target);
    const errPct = e.total > 0 ? (100 * e.errors) / e.total : 0;
    const rates: Record<string, string> = {};
    if (e.protocol === 'tcp') rates.tcp = formatRate(e.tcp);
    else {
      rates[e.protocol] = formatRate(e.total);
      rates[`${e.protocol}PercentErr`] = String(Number(errPct.toFixed(1)));
      if (e.protocol === 'http') for (const [k, v] of Object.entries(e.byClass)) if (k !== 'http2xx') rates[k] = formatRate(v);
    }
    const responses: Record<string, string> = {};
    for (const [code, v] of [...e.byCode.entries()].sort()) responses[code] = e.total > 0 ? String(Number(((100 * v) / e.total).toFixed(1))) : '0';
    const p95 = quantile(0.95, e.buckets);
    const mtlsBase = e.protocol === 'tcp' ? e.tcp : e.total;
    edgeList.push({
      data: {
        id,
        source: e.source,
        target: e.target,
        traffic: { protocol: e.protocol, rates, responses },
        ...(p95 !== undefined ? { responseTime: String(Number(p95.toFixed(2))) } : {}),
        ...(mtlsBase > 0 && e.mtls > 0 ? { isMTLS: String(Number(Math.min(100, (100 * e.mtls) / mtlsBase).toFixed(1))) } : {}),
        health: e.protocol === 'tcp' ? 'Healthy' : healthOf(errPct, e.total),
      },
    });
  }
  const nodeList = [...nodes.values()].filter((n) => used.has(n.id)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((data) => ({ data }));
  return { timestamp: o.timestamp, duration: o.duration, graphType: 'workload', elements: { nodes: nodeList, edges: edgeList } };
}

/**
 * Prometheus' histogram_quantile over cumulative bucket rates (le -> rate): linear inside the
 * bucket the rank falls in; the highest finite bound when it falls in +Inf.
 */
export function quantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  if (sorted.length === 0) return undefined;
  const total = sorted[sorted.length - 1]![1];
  if (!(total > 0) || sorted[sorted.length - 1]![0] !== Infinity) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return undefined;
}
