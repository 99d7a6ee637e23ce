/**
 * `npm run bench -- <name...>`: prints figures and ratios against baselines measured in the same
 * run. No assertions: speed is measured here, never in tests. Runs on the Node BENCH_NODE names
 * (bench/lib/bench_node.ts).
 */
import { onBenchNode } from './lib/bench_node.ts';

const BENCHES: Record<string, () => Promise<void>> = {
  controlplane: async () => (await import('./controlplane.ts')).run(),
  proxy: async () => (await import('./proxy.ts')).run(),
  soak: async () => (await import('./soak.ts')).run(),
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// The soak runs ten minutes by default: only when asked for by name.
const chosen = names.length ? names : Object.keys(BENCHES).filter((n) => n !== 'soak');
for (const n of chosen) {
  if (!BENCHES[n]) {
    console.error(`unknown bench '${n}'; available: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}
await onBenchNode();
for (const n of chosen) {
  console.log(`\n=== bench ${n} ===`);
  await BENCHES[n]();
}
