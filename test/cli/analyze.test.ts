/** `tsmesh analyze` as a user runs it: output lines, formats, suppression and istioctl's exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeCommand } from '../../src/cli/analyze.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-analyze-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function run(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await analyzeCommand(argv, { log: (l) => stdout.push(l), error: (l) => stderr.push(l) }, false);
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

const CLEAN = file('clean.yaml', `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`);

// A subset no DestinationRule defines (Error IST0101) at line 9.
const MISSING_SUBSET = file('missing-subset.yaml', `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - route:
    - destination:
        host: ratings
        subset: v2
`);

// A deprecated field: a Warning (IST0002) only.
const WARNING = file('warning.yaml', `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: productpage
spec:
  hosts: [productpage]
  http:
  - fault:
      delay: {percent: 50, fixedDelay: 1s}
    route:
    - destination: {host: productpage}
`);

test('a clean file exits 0 and says so', async () => {
  const r = await run('--use-kube=false', CLEAN);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `✔ No validation issues found when analyzing ${CLEAN}.`);
});

test('an error prints istioctl\'s line and exits 79', async () => {
  const r = await run('--use-kube=false', MISSING_SUBSET);
  assert.equal(r.code, 79);
  assert.equal(r.stdout, `Error [IST0101] (VirtualService default/ratings ${MISSING_SUBSET}:10) Referenced host+subset in destinationrule not found: "ratings+v2"`);
  assert.match(r.stderr, /^Error: Analyzers found issues when analyzing namespace: default\.\nSee https:\/\/istio\.io\/.*\/docs\/reference\/config\/analysis for more information/);
});

test('--failure-threshold: a warning fails under Warning, not under Error (the default)', async () => {
  const def = await run('--use-kube=false', WARNING);
  assert.equal(def.code, 0);
  assert.equal(def.stdout, `Warning [IST0002] (VirtualService default/productpage ${WARNING}:1) Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage`);
  assert.equal((await run('--use-kube=false', '--failure-threshold', 'Warning', WARNING)).code, 79);
  assert.equal((await run('--use-kube=false', '--failure-threshold=Error', WARNING)).code, 0);
  assert.equal((await run('--use-kube=false', '--failure-threshold', 'Info', WARNING)).code, 79);
});

test('--output-threshold hides messages below it', async () => {
  const r = await run('--use-kube=false', '--output-threshold', 'Error', WARNING, MISSING_SUBSET);
  assert.doesNotMatch(r.stdout, /IST0002/);
  assert.match(r.stdout, /IST0101/);
});

test('-o json and -o yaml print istioctl\'s message objects', async () => {
  const r = await run('--use-kube=false', '-o', 'json', MISSING_SUBSET, WARNING);
  assert.equal(r.code, 0, 'json output does not turn findings into an exit code (as istioctl)');
  const ms = JSON.parse(r.stdout) as Record<string, string>[];
  assert.deepEqual(ms.map((m) => [m.code, m.level, m.origin, m.reference]), [
    ['IST0101', 'Error', 'VirtualService default/ratings', `${MISSING_SUBSET}:10`],
    ['IST0002', 'Warning', 'VirtualService default/productpage', `${WARNING}:1`],
  ]);
  assert.deepEqual(Object.keys(ms[0]), ['code', 'documentationUrl', 'level', 'message', 'origin', 'reference']);
  assert.match(ms[0].documentationUrl, /\/ist0101\/\?ref=istioctl-analyze$/);
  const y = await run('--use-kube=false', '-o', 'yaml', MISSING_SUBSET);
  assert.match(y.stdout, /^- code: IST0101\n {2}documentationUrl: /);
  assert.equal((await run('--use-kube=false', '-o', 'json', CLEAN)).stdout, '[]');
});

test('--suppress and the analyze-suppress annotation silence a finding', async () => {
  assert.equal((await run('--use-kube=false', '-S', 'IST0101=VirtualService ratings.default', MISSING_SUBSET)).code, 0);
  assert.equal((await run('--use-kube=false', '--suppress', 'IST0101=VirtualService *.default', MISSING_SUBSET)).code, 0);
  assert.equal((await run('--use-kube=false', '-S', 'IST0101=VirtualService other.default', MISSING_SUBSET)).code, 79, 'another name is not suppressed');
  assert.equal((await run('--use-kube=false', '-S', 'IST0102=VirtualService ratings.default', MISSING_SUBSET)).code, 79, 'another code is not suppressed');
  const annotated = file('annotated.yaml', `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
  annotations:
    galley.istio.io/analyze-suppress: IST0101
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v2}
`);
  const r = await run('--use-kube=false', annotated);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /✔ No validation issues found/);
  const bad = await run('--use-kube=false', '-S', 'VirtualService ratings', MISSING_SUBSET);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /<code>=<resource>/);
});

test('-n analyzes one namespace: objects without one are in it, other namespaces are not reported', async () => {
  const other = file('other-ns.yaml', `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v2}
`);
  assert.equal((await run('--use-kube=false', other)).code, 0);
  const shop = await run('--use-kube=false', '-n', 'shop', other, MISSING_SUBSET);
  assert.equal(shop.code, 79);
  assert.match(shop.stdout, /VirtualService shop\/ratings/);
  const all = await run('--use-kube=false', '-A', other);
  assert.match(all.stdout, /VirtualService shop\/ratings/);
  assert.match(all.stderr, /when analyzing all namespaces/);
});

test('bad input: a missing file, an unparseable document, a bad flag', async () => {
  const missing = await run('--use-kube=false', join(dir, 'nope.yaml'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /stat .*nope\.yaml: no such file or directory/);
  const nokind = file('nokind.yaml', 'metadata: {name: x}\n');
  const parse = await run('--use-kube=false', nokind);
  assert.equal(parse.code, 65);
  assert.match(parse.stderr, /unable to parse resource with no group, version and kind/);
  assert.match(parse.stderr, /Some files couldn't be parsed/);
  const flag = await run('--failure-threshold', 'Bogus', CLEAN);
  assert.equal(flag.code, 64);
  assert.match(flag.stderr, /invalid argument "Bogus" for "--failure-threshold" flag/);
  assert.equal((await run('--use-kube=false')).code, 64);
});

test('-L lists analyzers by Istio name; --help names the flags', async () => {
  const l = await run('-L');
  assert.equal(l.code, 0);
  assert.match(l.stdout, /^\* virtualservice\.GatewayAnalyzer:\n {4}Checks the gateways associated with each virtual service$/m);
  const h = await run('--help');
  for (const f of ['--failure-threshold', '--output-threshold', '--suppress', '--meshConfigFile', '--all-namespaces', '--list-analyzers']) assert.match(h.stdout, new RegExp(f));
});

test('the tsmesh binary runs analyze with the same exit code', async () => {
  const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [join(REPO, 'bin/tsmesh.js'), 'analyze', '--use-kube=false', MISSING_SUBSET], { timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout }),
    );
  });
  assert.equal(r.code, 79);
  assert.match(r.stdout, /^Error \[IST0101\] \(VirtualService default\/ratings /);
});
