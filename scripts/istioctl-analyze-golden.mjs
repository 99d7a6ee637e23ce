#!/usr/bin/env node
/**
 * Records istioctl's own answers for `tsmesh analyze`'s conformance test: runs
 * `istioctl analyze --use-kube=false` on every file of Istio's analyzer testdata, once per
 * namespace the file mentions (istioctl shows only the messages of the namespace it analyzes),
 * and on every YAML file of Istio's samples/ (each alone, and bookinfo's networking/ as one
 * input: real configs, to catch false positives), and writes
 * test/api/analysis/fixtures/istioctl-analyze.json. Keys starting "samples/" are relative to
 * Istio's source root, the others to the testdata dir.
 *
 * Usage: node scripts/istioctl-analyze-golden.mjs [istioctl] [testdata dir]
 * (istioctl defaults to $TSMESH_ISTIOCTL or /tmp/istioctl-build/istioctl).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const istioctl = process.argv[2] ?? process.env.TSMESH_ISTIOCTL ?? '/tmp/istioctl-build/istioctl';
const istioRoot = join(root, '../shared/istio-data/istio');
const testdata = process.argv[3] ?? join(istioRoot, 'pkg/config/analysis/analyzers/testdata');

/** The inputs: every YAML file; the multicluster dir is one input (its files describe one mesh). */
export function inputs(dir) {
  const out = [];
  for (const ent of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      if (ent.name === 'multicluster') out.push(p + '/');
      else out.push(...inputs(p));
    } else if (/\.ya?ml$/.test(ent.name)) out.push(p);
  }
  return out;
}

/** "default" plus every namespace the input names. */
export function namespacesOf(path) {
  const files = path.endsWith('/') ? readdirSync(path).map((f) => join(path, f)) : [path];
  const ns = new Set(['default']);
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/^\s*namespace:\s*["']?([a-z0-9-]+)["']?\s*$/gm)) ns.add(m[1]);
  return [...ns].sort();
}

function run(args, cwd) {
  const r = spawnSync(istioctl, ['analyze', '--use-kube=false', ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return r;
}

const version = execFileSync(istioctl, ['version', '--remote=false', '-o', 'json'], { encoding: 'utf8' }).trim();
const out = { istioctl: JSON.parse(version).clientVersion ?? version, command: 'istioctl analyze --use-kube=false [-n <ns>] [-o json] <file>', files: {} };
/** Every YAML file under Istio's samples/, and bookinfo's networking dir as one input. */
function sampleInputs() {
  const out = [];
  const walk = (dir) => {
    for (const ent of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(ent.name)) out.push(p);
    }
  };
  walk(join(istioRoot, 'samples'));
  out.push(join(istioRoot, 'samples/bookinfo/networking') + '/');
  return out;
}

const all = [...inputs(testdata).map((p) => ({ p, base: testdata })), ...sampleInputs().map((p) => ({ p, base: istioRoot }))];
for (const { p: input, base } of all) {
  const rel = relative(base, input) + (input.endsWith('/') ? '/' : '');
  const perNs = {};
  for (const ns of namespacesOf(input)) {
    const nsArgs = ns === 'default' ? [] : ['-n', ns];
    const log = run([...nsArgs, rel], base);
    const json = run([...nsArgs, '-o', 'json', rel], base);
    const start = json.stdout.search(/^\[/m); // warnings precede the JSON
    const msgs = start < 0 ? [] : JSON.parse(json.stdout.slice(start));
    perNs[ns] = {
      exitCode: log.status,
      messages: msgs.map((m) => ({ code: m.code, level: m.level, origin: m.origin ?? '', reference: m.reference ?? '', message: m.message })),
    };
  }
  out.files[rel] = perNs;
  process.stderr.write(`${rel}: ${Object.entries(perNs).map(([ns, r]) => `${ns}=${r.exitCode}/${r.messages.length}`).join(' ')}\n`);
}
const dest = join(root, 'test/api/analysis/fixtures/istioctl-analyze.json');
writeFileSync(dest, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${dest}: ${Object.keys(out.files).length} inputs`);
