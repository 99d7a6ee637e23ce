/**
 * Istio's Bookinfo on the Kubernetes-mode mesh (test/helpers/kube_mesh.ts), for Istio's traffic
 * tasks: the namespace labelled `istio-injection=enabled`, then Istio's bookinfo.yaml,
 * bookinfo-gateway.yaml and destination-rule-all.yaml applied with `kubectl apply -f`, unmodified,
 * from ../shared/istio-data (never copied into the repository), as the tasks' "before you begin"
 * does. Every page load goes through the ingress gateway, from inside the mesh's namespace.
 *
 * After a `kubectl apply` the tests wait (bounded) for the change to show in what a user sees —
 * the API server, the control plane's informers and the push to the sidecars are all in between —
 * and then count.
 *
 *   const b = await startBookinfo();
 *   await b.apply(`${BOOKINFO_NETWORKING}/virtual-service-all-v1.yaml`);
 *   await b.until('all-v1', async () => (await b.pages(10)).get('no-stars') === 10);
 */
import { existsSync } from 'node:fs';
import { reviewsView, type ReviewsView } from './demo.ts';
import { ISTIO_DATA } from './istio_data.ts';
import { startKubeMesh, type KubeMesh } from './kube_mesh.ts';

export type { ReviewsView };
export const BOOKINFO = `${ISTIO_DATA}/samples/bookinfo/platform/kube/bookinfo.yaml`;
export const BOOKINFO_NETWORKING = `${ISTIO_DATA}/samples/bookinfo/networking`;
/** A reason to skip when Istio's files are not on this machine, else false. */
export const NO_BOOKINFO = existsSync(BOOKINFO) ? false : `Istio's samples are not in ${ISTIO_DATA}/samples`;

/** Bookinfo's workloads in bookinfo.yaml: details, ratings, reviews v1-v3, productpage. */
const BOOKINFO_PODS = 6;
/** Pods start as processes on a 2-core machine shared with another test file. */
const PODS_READY_MS = 120_000;
/** Bounded wait for a config change to reach what a user sees. */
export const CONVERGE_MS = 60_000;

export interface Page {
  status: number;
  body: string;
  headers: Record<string, string>;
  view: ReviewsView;
}

export interface Bookinfo {
  mesh: KubeMesh;
  /** http://<ingress gateway pod IP>:8080 */
  gateway: string;
  /** `kubectl apply -f <file>`; throws with kubectl's stderr when it is refused. */
  apply(file: string): Promise<string>;
  /** `kubectl apply -f -` with this YAML (the tasks whose YAML is inline in Istio's docs). */
  applyYaml(yaml: string): Promise<string>;
  /** `n` sequential GET /productpage through the gateway (signed in when `cookie` is given). */
  load(n: number, o?: { cookie?: string; timeoutMs?: number }): Promise<Page[]>;
  /** How many of `n` page loads showed each reviews view. */
  pages(n: number, o?: { cookie?: string; timeoutMs?: number }): Promise<Map<ReviewsView, number>>;
  /** Signs in as `user` (POST /login through the gateway, as Istio's task does) → the session cookie. */
  login(user: string): Promise<string>;
  /** Polls `check` until it is true (bounded); the error names `what`, the last thing seen and the mesh's output. */
  until(what: string, check: () => Promise<boolean | string>, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function viewCounts(pages: Page[]): Map<ReviewsView, number> {
  const counts = new Map<ReviewsView, number>();
  for (const p of pages) counts.set(p.view, (counts.get(p.view) ?? 0) + 1);
  return counts;
}

function tail(text: string, lines = 60): string {
  return text.split('\n').slice(-lines).join('\n');
}

export async function startBookinfo(): Promise<Bookinfo> {
  const mesh = await startKubeMesh();
  try {
    return await deployBookinfo(mesh);
  } catch (err) {
    await mesh.close().catch(() => undefined);
    throw err;
  }
}

async function deployBookinfo(mesh: KubeMesh): Promise<Bookinfo> {
  const kubectl = (args: string[], input?: string): Promise<string> => mesh.kubectlOk(args, input);
  const apply = (file: string) => kubectl(['apply', '-f', file]);

  // Istio's "Before you begin": injection on, Bookinfo, its gateway, its subsets.
  await kubectl(['label', 'namespace', 'default', 'istio-injection=enabled', '--overwrite']);
  await apply(BOOKINFO);
  await apply(`${BOOKINFO_NETWORKING}/bookinfo-gateway.yaml`);
  await apply(`${BOOKINFO_NETWORKING}/destination-rule-all.yaml`);
  await mesh.waitForPods('default', 'app in (productpage,details,reviews,ratings)', { count: BOOKINFO_PODS, timeoutMs: PODS_READY_MS });
  const gateway = await mesh.gatewayUrl();

  const load = async (n: number, o: { cookie?: string; timeoutMs?: number } = {}): Promise<Page[]> => {
    const rs = await mesh.http(`${gateway}/productpage`, { count: n, timeoutMs: o.timeoutMs ?? 15_000, ...(o.cookie ? { headers: { cookie: o.cookie } } : {}) });
    return rs.map((r) => ({ ...r, view: reviewsView({ status: r.status, body: r.body, headers: r.headers, ms: 0 }) }));
  };

  const until = async (what: string, check: () => Promise<boolean | string>, timeoutMs = CONVERGE_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last: boolean | string = false;
    for (;;) {
      last = await check().catch((err: Error) => `error: ${err.message}`);
      if (last === true) return;
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs / 1000} s (last: ${String(last)})\n--- mesh output (tail) ---\n${tail(mesh.output())}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  const b: Bookinfo = {
    mesh,
    gateway,
    apply,
    applyYaml: (yaml) => kubectl(['apply', '-f', '-'], yaml),
    load,
    pages: async (n, o) => viewCounts(await load(n, o)),
    async login(user) {
      const [r] = await mesh.http(`${gateway}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `username=${encodeURIComponent(user)}&passwd=password`,
      });
      if (!r || (r.status !== 302 && r.status !== 200)) throw new Error(`POST /login answered ${r?.status}: ${r?.body.slice(0, 300)}`);
      // One Set-Cookie here; however the harness joins repeated headers, the session is one token.
      const m = /(?:^|[\s,;])(session=[^;,\s]+)/.exec(` ${r.headers['set-cookie'] ?? ''}`);
      if (!m) throw new Error(`POST /login set no session cookie: ${JSON.stringify(r.headers)}`);
      return m[1]!;
    },
    until,
    close: () => mesh.close(),
  };

  // The product page through the gateway, with reviews: Bookinfo is up (bounded; the gateway's
  // routes and the sidecars' endpoints arrive after the pods are Ready).
  await until('GET /productpage through the gateway with reviews', async () => {
    const [p] = await load(1);
    return p!.view === 'no-stars' || p!.view === 'black' || p!.view === 'red' || `${p!.status} ${p!.view} ${p!.body.slice(0, 200)}`;
  });
  return b;
}
