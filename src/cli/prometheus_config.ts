/**
 * `tsmesh prometheus-config`: asks the running control plane which proxies are connected and
 * prints a Prometheus configuration scraping them (every pod's 15020 /stats/prometheus, labelled
 * namespace, pod, app, version...) and the control plane's own /metrics.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { controlPlaneGet, controlPlaneRef } from './controlplane_client.ts';
import { proxyTargets, scrapeConfigYaml, type ConnectionRow } from '../controlplane/metrics/scrape_config.ts';

const HELP = `Usage: tsmesh prometheus-config [--controlplane <url>] [-o <file>] [options]

Print a Prometheus scrape configuration for the running mesh: a job "istiod" for the control
plane's /metrics, and a job "kubernetes-pods" with every connected proxy's merged metrics
(the agent's :15020/stats/prometheus: the proxy's istio_* and envoy_* series, the agent's, and
the app's when its pod is annotated prometheus.io/scrape), labelled namespace, pod and the pod's
labels (app, version, ...) as Istio's sample configuration relabels Kubernetes pods.

  prometheus --config.file <(tsmesh prometheus-config)

Options:
  --controlplane <url>          control plane HTTP address (default: $TSMESH_CONTROLPLANE, the
                                running demo's, else http://127.0.0.1:15014)
  -o, --output <file>           write the configuration to <file> instead of stdout
  --targets-file <file>         write the proxy targets to <file> (Prometheus file_sd JSON) and
                                refer to it, so rewriting that file alone follows pods coming and going
  --scrape-interval <duration>  Prometheus scrape_interval (default 15s)
  -h, --help                    show this help
`;

/** Prometheus' duration syntax (15s, 1m, 500ms). */
const DURATION = /^(\d+(ms|s|m|h))+$/;

export async function prometheusConfigCommand(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        controlplane: { type: 'string' },
        output: { type: 'string', short: 'o' },
        'targets-file': { type: 'string' },
        'scrape-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`tsmesh prometheus-config: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const interval = v['scrape-interval'] === undefined ? undefined : String(v['scrape-interval']);
  if (interval !== undefined && !DURATION.test(interval)) {
    console.error(`tsmesh prometheus-config: --scrape-interval: expected a Prometheus duration such as 15s or 1m, got ${JSON.stringify(interval)}`);
    return 2;
  }
  const cp = controlPlaneRef(typeof v.controlplane === 'string' ? v.controlplane : undefined);
  const got = await controlPlaneGet<ConnectionRow[]>(cp, '/debug/connections', { timeoutMs: 5000 });
  if ('error' in got || !Array.isArray(got.value)) {
    console.error(`tsmesh prometheus-config: ${'error' in got ? got.error : `${cp.url}/debug/connections did not answer a list of connections`}`);
    return 1;
  }
  const rows = got.value;
  const targetsFile = typeof v['targets-file'] === 'string' ? v['targets-file'] : undefined;
  const yaml = scrapeConfigYaml(rows, { controlplane: cp.url, ...(interval ? { scrapeInterval: interval } : {}), ...(targetsFile ? { targetsFile } : {}) });
  try {
    if (targetsFile) writeFileSync(targetsFile, JSON.stringify(proxyTargets(rows), null, 2) + '\n');
    if (typeof v.output === 'string') writeFileSync(v.output, yaml);
    else process.stdout.write(yaml);
  } catch (e) {
    console.error(`tsmesh prometheus-config: ${(e as Error).message}`);
    return 1;
  }
  if (typeof v.output === 'string') console.error(`wrote ${v.output}: ${proxyTargets(rows).length} proxy target(s) and the control plane at ${cp.url}`);
  return 0;
}
