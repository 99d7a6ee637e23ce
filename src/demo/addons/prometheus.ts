/**
 * `tsmesh demo --addons prometheus`: a real Prometheus (Debian's `prometheus` package) scraping
 * the demo's control plane and every pod's merged metrics (the agent's 15020), with its data in
 * the demo's state directory. Its configuration is `tsmesh prometheus-config`'s with file_sd
 * targets: the demo rewrites the targets file as pods come and go, and Prometheus rereads it.
 */
import { existsSync, mkdirSync, writeFileSync, readFileSync, renameSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fetchConnections, proxyTargets, scrapeConfigYaml } from '../../controlplane/metrics/scrape_config.ts';

/** Where Debian installs it; $TSMESH_PROMETHEUS or PATH are looked at first. */
export const DEBIAN_PROMETHEUS = '/usr/bin/prometheus';
/** Prometheus' own default port, used when free. */
export const PROMETHEUS_PORT = 9090;

/** The prometheus binary to run, or undefined when none is installed. */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TSMESH_PROMETHEUS) return existsSync(env.TSMESH_PROMETHEUS) ? env.TSMESH_PROMETHEUS : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'prometheus'))) return join(dir, 'prometheus');
  }
  return existsSync(DEBIAN_PROMETHEUS) ? DEBIAN_PROMETHEUS : undefined;
}

export const PROMETHEUS_MISSING =
  'Prometheus is not installed: install Debian\'s package with `sudo apt-get install prometheus` (or put a prometheus binary on PATH, or name it in $TSMESH_PROMETHEUS)';

export interface PrometheusRunOptions {
  configFile: string;
  dataDir: string;
  host: string;
  port: number;
}

/** The command line: loopback only, a private TSDB, reloads allowed (POST /-/reload), quiet. */
export function prometheusArgs(o: PrometheusRunOptions): string[] {
  return [
    `--config.file=${o.configFile}`,
    `--storage.tsdb.path=${o.dataDir}`,
    `--web.listen-address=${o.host}:${o.port}`,
    '--web.enable-lifecycle',
    '--storage.tsdb.retention.time=1d',
    '--log.level=warn',
  ];
}

/** The files of the demo's Prometheus under `<stateDir>/prometheus`. */
export function prometheusFiles(stateDir: string): { dir: string; configFile: string; targetsFile: string; dataDir: string } {
  const dir = join(stateDir, 'prometheus');
  return { dir, configFile: join(dir, 'prometheus.yml'), targetsFile: join(dir, 'targets.json'), dataDir: join(dir, 'data') };
}

/**
 * Keeps `<stateDir>/prometheus/targets.json` equal to the control plane's connected proxies:
 * written at once, then every `intervalMs` when it changed (atomically: Prometheus must never
 * read half a file).
 */
export class PrometheusTargets {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = '';
  constructor(
    private readonly controlplane: string,
    private readonly files: ReturnType<typeof prometheusFiles>,
    private readonly scrapeInterval = '5s',
  ) {}

  /** Writes the config and the first targets; throws when the control plane does not answer. */
  async start(intervalMs = 2000): Promise<void> {
    mkdirSync(this.files.dataDir, { recursive: true });
    const rows = await fetchConnections(this.controlplane);
    writeFileSync(this.files.configFile, scrapeConfigYaml(rows, { controlplane: this.controlplane, scrapeInterval: this.scrapeInterval, targetsFile: this.files.targetsFile }));
    this.#write(rows);
    this.#timer = setInterval(() => {
      fetchConnections(this.controlplane).then(
        (r) => this.#write(r),
        () => undefined, // the control plane restarting: keep the last targets
      );
    }, intervalMs);
    this.#timer.unref();
  }

  /** Targets currently written. */
  targets(): number {
    try {
      return (JSON.parse(readFileSync(this.files.targetsFile, 'utf8')) as unknown[]).length;
    } catch {
      return 0;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #write(rows: Parameters<typeof proxyTargets>[0]): void {
    const text = JSON.stringify(proxyTargets(rows), null, 2) + '\n';
    if (text === this.#last) return;
    const tmp = `${this.files.targetsFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.files.targetsFile);
    this.#last = text;
  }
}

/** What the demo needs to run its Prometheus: the command, its URL, and the targets it keeps current. */
export interface PreparedPrometheus {
  command: { command: string; args: string[] };
  url: string;
  targets: PrometheusTargets;
}

/**
 * Writes `<stateDir>/prometheus/` (config, targets, data dir) for the running control plane and
 * picks Prometheus' port (9090 when free). An error names what to install or what went wrong.
 */
export async function preparePrometheus(o: { stateDir: string; controlplane: string; host: string; port?: number }): Promise<PreparedPrometheus | { error: string }> {
  const bin = findPrometheus();
  if (!bin) return { error: PROMETHEUS_MISSING };
  const files = prometheusFiles(o.stateDir);
  const targets = new PrometheusTargets(o.controlplane, files);
  try {
    await targets.start();
  } catch (e) {
    return { error: `cannot list the proxies for Prometheus: ${(e as Error).message}` };
  }
  const { pickPort } = await import('../ports.ts');
  const port = (await pickPort(o.host, o.port ?? PROMETHEUS_PORT)).port;
  return { command: { command: bin, args: prometheusArgs({ configFile: files.configFile, dataDir: files.dataDir, host: o.host, port }) }, url: `http://${o.host}:${port}`, targets };
}
