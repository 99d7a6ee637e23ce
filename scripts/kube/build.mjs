#!/usr/bin/env node
// Builds Kubernetes' own kube-apiserver, kube-controller-manager and kubectl (k8s.io/kubernetes,
// the version in go.mod beside this file) and etcd v3.6 (etcd/go.mod) for the tests and
// `tsmesh demo --kube`. Output: $TSMESH_KUBE_BIN_DIR, else ~/.cache/tsmesh-kube/<version>/bin.
// Cached: a binary whose stamp matches its go.mod, go.sum and Go is not built again, and Go's
// module and build caches live under ~/.cache/tsmesh-kube/go. A cold build takes 15-20 minutes
// on 2 cores. Plain Node (no tsx): npm's pretest runs it before anything is compiled.
//
//   node scripts/kube/build.mjs           build what is missing
//   node scripts/kube/build.mjs --force   rebuild all four
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KUBE_VERSION = 'v1.37.2';
const HERE = fileURLToPath(new URL('.', import.meta.url));
const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kubectl'];
const cacheRoot = join(homedir(), '.cache', 'tsmesh-kube');
const binDir = process.env.TSMESH_KUBE_BIN_DIR || join(cacheRoot, KUBE_VERSION, 'bin');
const force = process.argv.includes('--force');

const say = (line) => console.log(`kube-build: ${line}`);

function fail(line) {
  console.error(`kube-build: ${line}`);
  process.exit(1);
}

const go = spawnSync('go', ['version'], { encoding: 'utf8' });
if (go.status !== 0) {
  fail('Go is not installed; it builds Kubernetes for the tests. Install Go 1.26 or newer (https://go.dev/doc/install, or the golang-go package where it is 1.26+), then run `node scripts/kube/build.mjs` again.');
}

// What each binary is built from: a change to its go.mod or go.sum (another release) or to Go
// rebuilds it.
const recipeOf = (dir) =>
  createHash('sha256')
    .update(readFileSync(join(dir, 'go.mod')))
    .update(readFileSync(join(dir, 'go.sum')))
    .update(go.stdout)
    .digest('hex')
    .slice(0, 16);
const stampOf = (name) => join(binDir, `.${name}.stamp`);

mkdirSync(binDir, { recursive: true });
const env = {
  ...process.env,
  CGO_ENABLED: '0',
  GOMODCACHE: join(cacheRoot, 'go', 'mod'),
  GOCACHE: join(cacheRoot, 'go', 'build'),
  // -modcacherw: the module cache can be removed with rm -rf like any cache.
  GOFLAGS: `${process.env.GOFLAGS ?? ''} -modcacherw -buildvcs=false`.trim(),
};
// What `kubectl version` and the API server's /version report (the Kubernetes release's
// hack/lib/version.sh sets the same variables).
const [major, minor] = KUBE_VERSION.slice(1).split('.');
const versionFlags = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
  `-X ${pkg}.gitVersion=${KUBE_VERSION}`,
  `-X ${pkg}.gitMajor=${major}`,
  `-X ${pkg}.gitMinor=${minor}`,
  `-X ${pkg}.gitTreeState=clean`,
]);

const TARGETS = [
  ...BINARIES.map((name) => ({ name, dir: HERE, pkg: `k8s.io/kubernetes/cmd/${name}`, ldflags: versionFlags })),
  // etcd v3.6 (scripts/kube/etcd/go.mod): its server module's root package is etcd's main.
  { name: 'etcd', dir: join(HERE, 'etcd'), pkg: 'go.etcd.io/etcd/server/v3', ldflags: [] },
];

for (const { name, dir, pkg, ldflags } of TARGETS) {
  const out = join(binDir, name);
  const stamp = `${pkg} ${recipeOf(dir)}\n`;
  if (!force && existsSync(out) && existsSync(stampOf(name)) && readFileSync(stampOf(name), 'utf8') === stamp) {
    say(`${name} already built (${binDir})`);
    continue;
  }
  say(`building ${name} from ${pkg} (cold: downloads modules and compiles for many minutes; cached after)`);
  const t0 = Date.now();
  // Built beside and renamed over: a cluster starting meanwhile runs the old or the new file, whole.
  const r = spawnSync('go', ['build', '-trimpath', `-ldflags=${['-s', '-w', ...ldflags].join(' ')}`, '-o', `${out}.new`, pkg], {
    cwd: dir,
    env,
    stdio: 'inherit',
  });
  if (r.status !== 0) fail(`go build of ${name} failed (exit ${r.status ?? r.signal}); see the errors above`);
  renameSync(`${out}.new`, out);
  writeFileSync(stampOf(name), stamp);
  const mb = (statSync(out).size / 1024 / 1024).toFixed(0);
  say(`built ${name} in ${Math.round((Date.now() - t0) / 1000)} s (${mb} MB)`);
}
say(`ready: ${binDir}`);
