/**
 * The in-process half of the control-plane bench, run as its own child with --expose-gc so heap
 * figures are taken after a full collection and are not polluted by the parent's state:
 * `node --expose-gc --import tsx bench/lib/cp_build.ts <configDir> <namespace> [<namespace2>]`.
 * It times (a) loading + validating the file store, (b) the registry snapshot and PushContext,
 * (c) CDS/EDS/LDS/RDS for one sidecar, generated and encoded as the ADS server does (through
 * its ResourceCache), then the same for a second sidecar (warm JIT, new shape: the per-proxy
 * cost every connecting client pays). Prints one line `BUILD_RESULT <json>` at the end.
 */
import { FileConfigStore } from '../../src/api/file-store.ts';
import { defaultMeshConfig } from '../../src/api/mesh.ts';
import { Registry } from '../../src/registry/index.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { ResourceCache } from '../../src/xds/server/index.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';
import type { Proxy, PushContext } from '../../src/pilot/types.ts';
import { PUSH_ORDER, TYPE } from '../../src/xds/types.ts';
import { sidecarNode } from './mesh_config.ts';
import type { NodeJson } from '../../src/xds/types.ts';

export interface Step {
  ms: number;
  /** Heap used after a full GC, minus before the step (MB). */
  heapMB: number;
  rssMB: number;
}
export interface TypeFigures {
  ms: number;
  resources: number;
  bytes: number;
}
export interface BuildResult {
  configs: number;
  rejected: number;
  services: number;
  endpoints: number;
  store: Step;
  registry: Step;
  push: Step;
  /** First sidecar (cold) and second sidecar (warm), per type. */
  proxy1: Record<string, TypeFigures>;
  proxy2: Record<string, TypeFigures>;
  /** Heap and RSS of the whole built state (store + registry + push + one proxy's cache). */
  totalHeapMB: number;
  totalRssMB: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (b: number) => b / 1048576;

function mem(): { heap: number; rss: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

function step<T>(fn: () => T): { value: T; step: Step } {
  const before = mem();
  const t0 = performance.now();
  const value = fn();
  const ms = performance.now() - t0;
  const after = mem();
  return { value, step: { ms, heapMB: mb(after.heap - before.heap), rssMB: mb(after.rss - before.rss) } };
}

function perType(cache: ResourceCache<PushContext, Proxy>, node: NodeJson): Record<string, TypeFigures> {
  const proxy = parseProxy(node);
  const out: Record<string, TypeFigures> = {};
  for (const t of PUSH_ORDER.filter((t) => t !== TYPE.SECRET)) {
    const t0 = performance.now();
    const gen = cache.get(proxy, t);
    const ms = performance.now() - t0;
    if (gen instanceof Error) throw gen;
    let bytes = 0;
    for (const e of gen.values()) bytes += e.any.value.length;
    out[t] = { ms, resources: gen.size, bytes };
  }
  return out;
}

export function buildFigures(dir: string, namespace: string, namespace2: string): BuildResult {
  const base = mem();
  const mesh = defaultMeshConfig();
  let rejectedLines = 0;
  const store = step(() => new FileConfigStore(dir, { rescanMs: 0, logger: () => rejectedLines++ }));
  store.value.close();
  const registry = step(() => {
    const r = new Registry({ store: store.value, mesh, log: () => undefined });
    r.services(); // the snapshot is built in the constructor; this only makes the intent plain
    return r;
  });
  const push = step(() => buildPushContext({ mesh, configs: store.value.all(), registry: registry.value }));
  const cache = new ResourceCache(push.value, generate, proxyShapeKey);
  const proxy1 = perType(cache, sidecarNode(0, namespace) as unknown as NodeJson);
  // Another namespace: a new shape (nothing cached), with a warm JIT.
  const proxy2 = perType(cache, sidecarNode(1, namespace2) as unknown as NodeJson);
  const total = mem();
  let endpoints = 0;
  for (const eps of push.value.endpoints.values()) endpoints += eps.length;
  return {
    configs: store.value.all().length,
    rejected: store.value.errors().filter((e) => e.severity !== 'warning').length,
    services: push.value.services.length,
    endpoints,
    store: store.step,
    registry: registry.step,
    push: push.step,
    proxy1,
    proxy2,
    totalHeapMB: mb(total.heap - base.heap),
    totalRssMB: mb(total.rss - base.rss),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, namespace, namespace2 = namespace] = process.argv.slice(2);
  if (!dir || !namespace) {
    console.error('usage: cp_build.ts <configDir> <namespace> [<namespace2>]');
    process.exit(2);
  }
  if (!gc) console.error('cp_build: run with --expose-gc for heap figures after a full GC');
  console.log(`BUILD_RESULT ${JSON.stringify(buildFigures(dir, namespace, namespace2))}`);
}
