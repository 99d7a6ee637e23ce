/**
 * `npm run bench -- <name...>`: prints figures and ratios against baselines measured in the same
 * run. No assertions: speed is measured here, never in tests.
 */
const BENCHES: Record<string, () => Promise<void>> = {
  controlplane: async () => (await import('./controlplane.ts')).run(),
  proxy: async () => (await import('./proxy.ts')).run(),
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const chosen = names.length ? names : Object.keys(BENCHES);
for (const n of chosen) {
  if (!BENCHES[n]) {
    console.error(`unknown bench '${n}'; available: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}
for (const n of chosen) {
  console.log(`\n=== bench ${n} ===`);
  await BENCHES[n]();
}
