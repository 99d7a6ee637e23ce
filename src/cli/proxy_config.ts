/**
 * `tsmesh proxy-config <type> <pod>[.<namespace>]` (alias `pc`): istioctl's proxy-config. Reads
 * the pod's proxy through its admin API (the admin URL in demo.json), as istioctl reads it from
 * the pod, or a saved config dump (--file); prints istioctl's tables, or Envoy's own JSON.
 */
import { stringify } from 'yaml';
import type { EnvoyJson } from '../xds/types.ts';
import { all as allOf, one, parseFlags, parsePort, type Flags } from './flags.ts';
import { resolvePod, type PodTarget } from './pod_ref.ts';
import { fetchJson, fetchText, proxyConfigDump, readConfigDumpFile, dumpSection, type ConfigDump } from './proxy_config_source.ts';
import { renderTable } from './proxy_config_table.ts';
import {
  clusterMatches,
  clusterTable,
  dumpClusters,
  dumpListeners,
  dumpRoutes,
  endpointMatches,
  endpointTable,
  endpointsFromClusters,
  endpointsFromDump,
  listenerMatches,
  listenerTable,
  routeTable,
  secretTable,
  selectRoutes,
  sortedClusters,
  type EndpointRow,
  type Table,
} from './proxy_config_views.ts';

const TYPES: Record<string, string> = {
  cluster: 'cluster', clusters: 'cluster', c: 'cluster',
  listener: 'listener', listeners: 'listener', l: 'listener',
  route: 'route', routes: 'route', r: 'route',
  endpoint: 'endpoint', endpoints: 'endpoint', ep: 'endpoint', eps: 'endpoint',
  secret: 'secret', secrets: 'secret', s: 'secret',
  bootstrap: 'bootstrap', b: 'bootstrap',
  log: 'log', o: 'log',
  all: 'all', a: 'all',
};

const HELP = `Usage: tsmesh proxy-config <type> <pod>[.<namespace>] [flags]   (alias: pc)

Shows a proxy's configuration as istioctl proxy-config does, read from the pod's proxy admin
API (the running demo's pods; the ingress gateway is istio-ingressgateway-1.istio-system).

Types and their columns:
  cluster    SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE
             filters: --fqdn, --port, --subset, --direction (inbound|outbound)
  listener   ADDRESSES, PORT, MATCH, DESTINATION (-o short: ADDRESSES, PORT, TYPE)
             filters: --address, --port, --type (HTTP|TCP|HTTP+TCP)
  route      NAME, VHOST NAME, DOMAINS, MATCH, VIRTUAL SERVICE (-o short: NAME, VIRTUAL HOSTS)
             filters: --name. The demo's sidecars take outbound HTTP as an HTTP proxy (one
             route http_proxy); --name <port> then shows http_proxy's virtual hosts for that
             port, and says so on stderr
  endpoint   ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER (from the proxy's /clusters)
             filters: --address, --port, --cluster, --status (HEALTHY|UNHEALTHY|...)
  secret     RESOURCE NAME, TYPE, STATUS, VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE
  bootstrap  the bootstrap config dump (JSON or YAML)
  log        the proxy's log levels; --level <level> or --level <logger>:<level>[,...] sets
             them, -r/--reset sets every logger to warning (istioctl's default)
  all        cluster, listener, route, endpoint and secret tables; -o json: the whole dump

Pods: <pod>.<namespace>, <pod> (namespace default, or -n), deploy/<name>.

Flags:
  -o, --output <json|yaml|short>  json/yaml: the resources as Envoy's /config_dump holds them
                           (each with its @type; endpoint: /clusters' cluster_statuses)
  -f, --file <dump.json>   read an Envoy config dump saved earlier instead of asking the proxy
                           (curl <admin>/config_dump?include_eds > dump.json); no pod then
  -n, --namespace <ns>     the pod's namespace (default: default)
  --state-dir <dir>        the demo's state directory (default ./.tsmesh/demo)
  --fqdn, --port, --subset, --direction, --address, --type, --name, --cluster, --status
                           filters (see above)
  --level, -r/--reset      log levels (log only)
  -h, --help

Examples:
  tsmesh proxy-config cluster productpage-v1.default --fqdn reviews
  tsmesh pc route deploy/productpage-v1 --name 9080 -o json
  tsmesh pc log productpage-v1 --level debug`;

/** Which types each filter flag applies to (istioctl's flags are per subcommand). */
const FILTERS: Record<string, string[]> = {
  fqdn: ['cluster'],
  subset: ['cluster'],
  direction: ['cluster'],
  port: ['cluster', 'listener', 'endpoint'],
  address: ['listener', 'endpoint'],
  type: ['listener'],
  name: ['route'],
  cluster: ['endpoint'],
  status: ['endpoint'],
  level: ['log'],
  reset: ['log'],
};

const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'];

export async function proxyConfigCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [
    { name: 'output', alias: 'o' },
    { name: 'file', alias: 'f' },
    { name: 'namespace', alias: 'n' },
    { name: 'state-dir' },
    { name: 'fqdn' },
    { name: 'port' },
    { name: 'subset' },
    { name: 'direction' },
    { name: 'address' },
    { name: 'type' },
    { name: 'name' },
    { name: 'cluster' },
    { name: 'status' },
    { name: 'level', repeat: true },
    { name: 'reset', alias: 'r', boolean: true },
    { name: 'istioNamespace', alias: 'i' },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usage(parsed.error);
  if (parsed.flags.help || parsed.rest.length === 0) {
    console.log(HELP);
    return parsed.flags.help ? 0 : 2;
  }
  const [typeArg, podArg, ...extra] = parsed.rest;
  const type = TYPES[typeArg!.toLowerCase()];
  if (!type) return usage(`unknown type ${typeArg}: one of cluster, listener, route, endpoint, secret, bootstrap, log, all`);
  if (extra.length > 0) return usage(`one pod at most, got ${[podArg, ...extra].join(' ')}`);
  const f = parsed.flags;
  for (const [flag, types] of Object.entries(FILTERS)) {
    if (f[flag] !== undefined && !types.includes(type)) return usage(`--${flag} does not apply to ${type}: it filters ${types.join(', ')}`);
  }
  const output = one(f, 'output') ?? '';
  if (output && !['json', 'yaml', 'short'].includes(output)) return usage(`-o ${output}: one of json, yaml, short`);
  let port: number | undefined;
  if (one(f, 'port') !== undefined) {
    const p = parsePort(one(f, 'port')!, '--port');
    if (typeof p === 'string') return usage(p);
    port = p;
  }
  const file = one(f, 'file');
  if (file && type === 'log') return usage('log levels are read from a running proxy, not a file: drop --file');
  if (!file && podArg === undefined) return usage(`which pod? tsmesh proxy-config ${type} <pod>[.<namespace>] (or --file <dump.json>)`);

  let pod: PodTarget | undefined;
  if (podArg !== undefined && !file) {
    const found = resolvePod(podArg, { namespace: one(f, 'namespace'), stateDir: one(f, 'state-dir') });
    if ('error' in found) return fail(found.error);
    pod = found.pod;
    if (!pod.admin) return fail(`${pod.name}.${pod.namespace} has no sidecar: no proxy config to show`);
  }
  const who = pod ? `${pod.name}.${pod.namespace}` : file!;

  if (type === 'log') return logLevels(pod!, who, f);

  const dumpR = file ? readConfigDumpFile(file) : await proxyConfigDump(pod!.admin, who);
  if ('error' in dumpR) return fail(dumpR.error);
  const dump = dumpR.value;
  const structured = output === 'json' || output === 'yaml';
  const print = (v: unknown) => process.stdout.write(output === 'yaml' ? stringify(v) : JSON.stringify(v, null, 4) + '\n');
  const table = (t: Table) => process.stdout.write(renderTable(t.header, t.rows));

  switch (type) {
    case 'cluster': {
      const filter = { fqdn: one(f, 'fqdn'), port, subset: one(f, 'subset'), direction: one(f, 'direction') };
      if (structured) print(sortedClusters(dumpClusters(dump)).filter((c) => clusterMatches(c, filter)));
      else table(clusterTable(dumpClusters(dump), filter));
      return 0;
    }
    case 'listener': {
      const filter = { address: one(f, 'address'), port, type: one(f, 'type') };
      if (structured) print(dumpListeners(dump).filter((l) => listenerMatches(l, filter)));
      else table(listenerTable(dumpListeners(dump), filter, output !== 'short'));
      return 0;
    }
    case 'route': {
      const sel = selectRoutes(dumpRoutes(dump), one(f, 'name'));
      if (sel.note) console.error(`note: ${sel.note}`);
      if (structured) print(sel.routes);
      else table(routeTable(sel.routes, output !== 'short'));
      return 0;
    }
    case 'endpoint': {
      const filter = { address: one(f, 'address'), port, cluster: one(f, 'cluster'), status: one(f, 'status') };
      if (file) {
        const rows = endpointsFromDump(dump);
        if (structured) print((dumpSection(dump, 'EndpointsConfigDump')?.dynamic_endpoint_configs ?? []).filter((e: EnvoyJson) => rows.some((r) => r.cluster === e.endpoint_config?.cluster_name && endpointMatches(r, filter))));
        else table(endpointTable(rows, filter));
        return 0;
      }
      const clusters = await fetchJson<EnvoyJson>(`${pod!.admin}/clusters?format=json`, `the proxy of ${who}`);
      if ('error' in clusters) return fail(clusters.error);
      const rows: EndpointRow[] = endpointsFromClusters(clusters.value);
      if (structured) {
        const keep = (c: EnvoyJson) => rows.some((r) => r.cluster === c.name && endpointMatches(r, filter));
        print((clusters.value.cluster_statuses ?? []).filter(keep));
      } else table(endpointTable(rows, filter));
      return 0;
    }
    case 'secret': {
      if (structured) print(dumpSection(dump, 'SecretsConfigDump') ?? {});
      else table(secretTable(dump));
      return 0;
    }
    case 'bootstrap': {
      const b = dumpSection(dump, 'BootstrapConfigDump');
      if (!b) return fail(`${who}: the config dump has no bootstrap`);
      if (output === 'yaml') print(b);
      else process.stdout.write(JSON.stringify(b, null, 4) + '\n');
      return 0;
    }
    default: {
      // all
      if (structured) {
        print(dump);
        return 0;
      }
      const endpoints = file ? endpointsFromDump(dump) : await liveEndpoints(pod!.admin, who);
      if (typeof endpoints === 'string') return fail(endpoints);
      const parts = [
        clusterTable(dumpClusters(dump), {}),
        listenerTable(dumpListeners(dump), {}, output !== 'short'),
        routeTable(dumpRoutes(dump), output !== 'short'),
        endpointTable(endpoints, {}),
        secretTable(dump),
      ];
      process.stdout.write(parts.map((t) => renderTable(t.header, t.rows)).join('\n'));
      return 0;
    }
  }
}

async function liveEndpoints(admin: string, who: string): Promise<EndpointRow[] | string> {
  const clusters = await fetchJson<EnvoyJson>(`${admin}/clusters?format=json`, `the proxy of ${who}`);
  return 'error' in clusters ? clusters.error : endpointsFromClusters(clusters.value);
}

/** Envoy's /logging: GET shows the levels; POST ?level=<l> sets all, ?<logger>=<l> one. */
async function logLevels(pod: PodTarget, who: string, f: Flags): Promise<number> {
  const levels = allOf(f, 'level').flatMap((l) => l.split(',')).map((l) => l.trim()).filter(Boolean);
  const queries: string[] = [];
  if (f.reset) queries.push('level=warning');
  for (const l of levels) {
    const colon = l.indexOf(':');
    const [logger, level] = colon >= 0 ? [l.slice(0, colon), l.slice(colon + 1)] : [undefined, l];
    if (!LOG_LEVELS.includes(level.toLowerCase())) return usage(`--level ${l}: unknown level ${level}; one of ${LOG_LEVELS.filter((x) => x !== 'warn').join(', ')}`);
    queries.push(logger ? `${encodeURIComponent(logger)}=${level.toLowerCase()}` : `level=${level.toLowerCase()}`);
  }
  let body = '';
  for (const q of queries) {
    const r = await fetchText(`${pod.admin}/logging?${q}`, `the proxy of ${who}`, { method: 'POST' });
    if (!r.ok) return fail(r.error);
    if (r.status !== 200) return fail(`the proxy of ${who} refused ${q.replace('=', ' ')}: ${r.body.trim()}`);
    body = r.body;
  }
  if (queries.length === 0) {
    const r = await fetchText(`${pod.admin}/logging`, `the proxy of ${who}`, { method: 'POST' });
    if (!r.ok) return fail(r.error);
    body = r.body;
  }
  process.stdout.write(`${who}:\n${body.endsWith('\n') ? body : body + '\n'}`);
  return 0;
}

function usage(why: string): number {
  console.error(`tsmesh proxy-config: ${why}\n\n${HELP}`);
  return 2;
}

function fail(why: string): number {
  console.error(`tsmesh proxy-config: ${why}`);
  return 1;
}
