/**
 * The whole mesh on Kubernetes, for the acceptance tests of issue 15: `tsmesh demo --kube` (a
 * real etcd, kube-apiserver and kube-controller-manager, the control plane in Kubernetes mode
 * serving the admission webhooks, the node agent, the istio-ingressgateway) inside a network
 * namespace the test makes (test/helpers/netns.ts), so the node's pod route (198.18.0.0/24,
 * local on lo) never touches the machine's own network.
 *
 * Why a driver script (kube_mesh_driver.ts) rather than the `tsmesh demo --kube` command: it runs
 * the demo's own startKubeDemo (the same code the command runs, nothing composed differently),
 * and adds a stdin channel for what tests do that users do with kill or a restart — kill and
 * start a control-plane replica, restart the API server — without giving the user command a
 * control socket it does not need.
 *
 *   before(async () => { mesh = await startKubeMesh({ replicas: 2 }); });
 *   after(() => mesh?.close());
 *   await mesh.kubectl(['apply', '-f', file]);            // runs inside the namespace
 *   const pods = await mesh.waitForPods('default', 'app=productpage');
 *   const [r] = await mesh.http(`${await mesh.gatewayUrl()}/productpage`);
 *   await mesh.controlPlane(1).kill(); await mesh.controlPlane(1).start();
 *
 * Processes in the namespace cannot be reached from the test process by TCP: HTTP calls run
 * inside it (http()); kubectl too. Files (the kubeconfig, logs) are shared.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findKubeBinaries } from '../../src/kube/local/bin_dir.ts';
import { netLab, type Host } from './netns.ts';
import { started, type Started } from './host_mesh.ts';
import { REPO } from './processes.ts';

export interface KubeMesh {
  /** The network namespace everything runs in. */
  host: Host;
  /** Admin kubeconfig path (its server address is valid inside `host`). */
  kubeconfig: string;
  /** The demo's state dir: logs/ (control plane, node containers), kube/ (cluster). */
  stateDir: string;
  /** kubectl inside `host` (60 s default ceiling); never throws on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** kubectl's stdout; throws with its stderr (or stdout) when it exits non-zero. */
  kubectlOk(args: string[], input?: string): Promise<string>;
  /** HTTP from inside the namespace; `count` sequential requests, one connection each. status 0: no response (body says why). */
  http(url: string, opts?: { method?: string; headers?: Record<string, string>; body?: string; count?: number; timeoutMs?: number }): Promise<{ status: number; body: string; headers: Record<string, string> }[]>;
  /** http://<ingress gateway pod IP>:8080 once the gateway pod is Ready. */
  gatewayUrl(): Promise<string>;
  /** Waits (bounded, 90 s default) until `count` (default: at least 1) pods matching the selector in ns are Running and Ready; returns them. */
  waitForPods(ns: string, selector: string, opts?: { count?: number; timeoutMs?: number }): Promise<any[]>;
  /** Control-plane replica i (default 0): kill with a signal (default SIGKILL), start again on its ports, its log. */
  controlPlane(i?: number): { kill(signal?: NodeJS.Signals): Promise<void>; start(): Promise<void>; output(): string };
  restartApiServer(): Promise<void>;
  /** Everything the demo printed, for failure messages. */
  output(): string;
  close(): Promise<void>;
}

export interface KubeMeshOptions {
  /** Control-plane replicas (default 1). */
  replicas?: number;
  /** `kubectl label namespace default istio-injection=enabled` (default true). */
  injection?: boolean;
}

const DRIVER = join(REPO, 'test/helpers/kube_mesh_driver.ts');
const MARK = '@@kube-mesh ';
const START_MS = 240_000;
const COMMAND_MS = 120_000;

export async function startKubeMesh(opts: KubeMeshOptions = {}): Promise<KubeMesh> {
  const kubectlBin = findKubeBinaries().kubectl;
  const closers: Array<() => unknown> = [];
  const lab = await netLab({ after: (fn) => closers.push(fn) });
  const stateDir = mkdtempSync(join(tmpdir(), 'tsmesh-kube-mesh-'));
  closers.push(() => rmSync(stateDir, { recursive: true, force: true }));
  let driver: Started | undefined;
  const close = async () => {
    if (driver && driver.child.exitCode === null) {
      driver.child.stdin?.end();
      await Promise.race([new Promise((r) => driver!.child.once('exit', r)), new Promise((r) => setTimeout(r, 20_000))]);
    }
    await driver?.stop();
    // Lab first (namespaces, processes), then the state dir.
    for (const c of closers.reverse()) await c();
  };
  try {
    const host = await lab.host('kube', []);
    const child = host.spawn(process.execPath, ['--import', 'tsx', DRIVER, stateDir, JSON.stringify({ replicas: opts.replicas ?? 1 })], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    driver = started(child);
    const d = driver;
    const replies = new Map<number, (r: { ok: boolean; error?: string }) => void>();
    let ready: ((r: { kubeconfig: string }) => void) | undefined;
    let buf = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith(MARK)) continue;
        const msg = JSON.parse(line.slice(MARK.length));
        if (msg.ready) ready?.(msg);
        else replies.get(msg.id)?.(msg);
      }
    });
    const startedMsg = await new Promise<{ kubeconfig: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tsmesh demo --kube not ready in ${START_MS} ms:\n${d.output().slice(-6000)}`)), START_MS);
      ready = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tsmesh demo --kube exited with ${code} before it was ready:\n${d.output().slice(-6000)}`));
      });
    });
    let nextId = 1;
    const command = (op: string, extra: object = {}) =>
      new Promise<void>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`${op} took more than ${COMMAND_MS} ms:\n${d.output().slice(-4000)}`)), COMMAND_MS);
        replies.set(id, (r) => {
          clearTimeout(timer);
          replies.delete(id);
          if (r.ok) resolve();
          else reject(new Error(`${op}: ${r.error}`));
        });
        child.stdin!.write(`${JSON.stringify({ id, op, ...extra })}\n`);
      });

    const kubeconfig = startedMsg.kubeconfig;
    const kubectl: KubeMesh['kubectl'] = (args, o = {}) =>
      host.run(kubectlBin, [`--kubeconfig=${kubeconfig}`, ...args], { allowFail: true, timeoutMs: o.timeoutMs ?? 60_000, ...(o.input !== undefined ? { input: o.input } : {}) });
    const kubectlOk: KubeMesh['kubectlOk'] = async (args, input) => {
      const r = await kubectl(args, input !== undefined ? { input } : {});
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
      return r.stdout;
    };

    const waitForPods: KubeMesh['waitForPods'] = async (ns, selector, o = {}) => {
      const deadline = Date.now() + (o.timeoutMs ?? 90_000);
      let last = '';
      for (;;) {
        const r = await kubectl(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json']);
        if (r.code === 0) {
          const items: any[] = JSON.parse(r.stdout).items ?? [];
          const ok = items.filter((p) => p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'));
          if (o.count === undefined ? ok.length > 0 && ok.length === items.length : ok.length >= o.count) return ok;
          last = items.map((p) => `${p.metadata.name}: ${p.status?.phase} ${JSON.stringify(p.status?.containerStatuses?.map((c: any) => [c.name, c.ready, c.state]) ?? [])}`).join('\n');
        } else last = r.stderr;
        if (Date.now() > deadline) throw new Error(`pods ${ns}/${selector} not Running and Ready in time:\n${last}\n--- demo output:\n${d.output().slice(-4000)}`);
        await new Promise((res) => setTimeout(res, 1000));
      }
    };

    const http: KubeMesh['http'] = async (url, o = {}) => {
      const r = await host.run(process.execPath, ['--input-type=module', '-e', HTTP_JS, JSON.stringify({ url, method: o.method ?? 'GET', headers: o.headers ?? {}, body: o.body, count: o.count ?? 1, timeoutMs: o.timeoutMs ?? 10_000 })], {
        timeoutMs: 30_000 + (o.count ?? 1) * (o.timeoutMs ?? 10_000),
      });
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]');
    };

    const cpLogs = (i: number) => {
      const prefix = i === 0 ? 'controlplane.' : `controlplane-${i}.`;
      const dir = join(stateDir, 'logs');
      return readdirSync(dir)
        .filter((f) => f.startsWith(prefix) && f.endsWith('.log'))
        .sort()
        .map((f) => readFileSync(join(dir, f), 'utf8'))
        .join('\n');
    };

    if (opts.injection ?? true) {
      await kubectlOk(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
    }

    return {
      host,
      kubeconfig,
      stateDir,
      kubectl,
      kubectlOk,
      http,
      gatewayUrl: async () => {
        const [p] = await waitForPods('istio-system', 'istio=ingressgateway', { count: 1 });
        return `http://${p.status.podIP}:8080`;
      },
      waitForPods,
      controlPlane: (i = 0) => ({
        kill: (signal: NodeJS.Signals = 'SIGKILL') => command('kill', { i, signal }),
        start: () => command('start', { i }),
        output: () => cpLogs(i),
      }),
      restartApiServer: () => command('restartApiServer'),
      output: () => d.output(),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** fetch from inside the namespace: one request per iteration, no connection reuse. */
const HTTP_JS = `
import http from 'node:http';
const { url, method, headers, body, count, timeoutMs } = JSON.parse(process.argv[1]);
const agent = new http.Agent({ keepAlive: false });
const out = [];
for (let i = 0; i < count; i++) {
  out.push(await new Promise((resolve) => {
    const req = http.request(url, { method, agent, headers, timeout: timeoutMs }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode, body: b, headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])) }));
      res.on('error', (e) => resolve({ status: 0, body: String(e.code ?? e.message), headers: {} }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: String(e.code ?? e.message), headers: {} }));
    req.end(body);
  }));
}
console.log(JSON.stringify(out));
`;
