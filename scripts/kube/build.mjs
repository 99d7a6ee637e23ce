#!/usr/bin/env node
// Builds Kubernetes' own kube-apiserver, kube-controller-manager and kubectl (k8s.io/kubernetes,
// the version in go.mod beside this file) for the tests and `tsmesh demo --kube`, and makes sure
// an etcd is there. Output: $TSMESH_KUBE_BIN_DIR, else ~/.cache/tsmesh-kube/<version>/bin.
// Cached: a binary whose stamp matches this go.mod and go.sum is not built again, and Go's module
// and build caches live under ~/.cache/tsmesh-kube/go. A cold build takes tens of minutes on 2
// cores. Plain Node (no tsx): npm's pretest runs it before anything is compiled.
//
//   node scripts/kube/build.mjs           build what is missing
//   node scripts/kube/build.mjs --force   rebuild all three
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
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

// What a binary was built from: a change to go.mod or go.sum (another release) rebuilds it.
const recipe = createHash('sha256')
  .update(readFileSync(join(HERE, 'go.mod')))
  .update(readFileSync(join(HERE, 'go.sum')))
  .update(go.stdout)
  .digest('hex')
  .slice(0, 16);
const stampOf = (name) => join(binDir, `.${name}.stamp`);
const stamp = () => `${KUBE_VERSION} ${recipe}\n`;
const built = (name) => existsSync(join(binDir, name)) && existsSync(stampOf(name)) && readFileSync(stampOf(name), 'utf8') === stamp();

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

for (const name of BINARIES) {
  if (!force && built(name)) {
    say(`${name} ${KUBE_VERSION} already built (${binDir})`);
    continue;
  }
  say(`building ${name} ${KUBE_VERSION} (cold: downloads modules and compiles for many minutes; cached after)`);
  const t0 = Date.now();
  const out = join(binDir, name);
  // Built beside and renamed over: a cluster starting meanwhile runs the old or the new file, whole.
  const r = spawnSync(
    'go',
    ['build', '-trimpath', `-ldflags=-s -w ${versionFlags.join(' ')}`, '-o', `${out}.new`, `k8s.io/kubernetes/cmd/${name}`],
    { cwd: HERE, env, stdio: 'inherit' },
  );
  if (r.status !== 0) fail(`go build of ${name} failed (exit ${r.status ?? r.signal}); see the errors above`);
  renameSync(`${out}.new`, out);
  writeFileSync(stampOf(name), stamp());
  const mb = (statSync(out).size / 1024 / 1024).toFixed(0);
  say(`built ${name} in ${Math.round((Date.now() - t0) / 1000)} s (${mb} MB)`);
}

// etcd: Debian's etcd-server works with this API server; an etcd in the bin dir wins if present.
const executable = (f) => {
  try {
    accessSync(f, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};
const etcdOnPath = () => (process.env.PATH ?? '').split(':').some((d) => d && executable(join(d, 'etcd')));
if (!executable(join(binDir, 'etcd')) && !etcdOnPath()) {
  if (process.getuid?.() !== 0) fail('etcd is missing: sudo apt-get install -y etcd-server');
  say('installing etcd (apt-get install etcd-server)');
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'etcd-server'], { stdio: 'inherit', env: aptEnv }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env: aptEnv });
    if (!install()) fail('apt-get install etcd-server failed; see above');
  }
}
say(`ready: ${binDir}`);
