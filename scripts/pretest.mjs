#!/usr/bin/env node
// Installs what the tests need from the system, when it is missing and we are root (CI, fresh
// Debian). Tests that need a missing tool skip with a message saying how to install it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// The tests run tsmesh's processes the way users do: from the plain-JavaScript build.
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

// Issue 15's tests run Kubernetes' own API server and controller manager, built from source with
// Go (cached under ~/.cache/tsmesh-kube; a cold build takes tens of minutes). Without Go those
// tests fail saying how to build them; the rest of the suite still runs.
if (spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0) {
  const kube = spawnSync(process.execPath, ['scripts/kube/build.mjs'], { stdio: 'inherit' });
  if (kube.status !== 0) console.warn('pretest: building Kubernetes failed (above); the tests under test/kube/ will fail');
} else {
  console.warn('pretest: Go is missing, so Kubernetes is not built and the tests under test/kube/ will fail; install Go 1.26+ and run `node scripts/kube/build.mjs`');
}

/** Debian package -> a file whose presence means it is installed. */
const NEEDED = {
  // The gateway TLS tests make a throwaway CA and certificates with the openssl CLI.
  openssl: '/usr/bin/openssl',
  // Tests probe listeners and fetch pages like a user would.
  curl: '/usr/bin/curl',
  // The TLS scan test judges the gateway's and a STRICT sidecar's ports with testssl.sh.
  'testssl.sh': '/usr/bin/testssl',
  // Issue 12's acceptance: a real Prometheus scrapes the demo (test/integration/istio_prometheus.test.ts).
  prometheus: '/usr/bin/prometheus',
  // Issue 13's acceptance: the dashboard in a real headless browser, driven by playwright-core (test/integration/dashboard.test.ts).
  chromium: '/usr/bin/chromium',
  // Issue 14's acceptance: hosts as network namespaces, and `tsmesh init`'s capture rules applied
  // there with both of Istio's back ends.
  iproute2: '/usr/sbin/ip',
  iptables: '/usr/sbin/iptables',
  nftables: '/usr/sbin/nft',
};
const missing = Object.entries(NEEDED).filter(([, file]) => !existsSync(file)).map(([pkg]) => pkg);
if (missing.length === 0) process.exit(0);
if (process.getuid?.() !== 0) {
  console.warn(`pretest: missing ${missing.join(', ')}; run as root or: sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(0);
}
console.log(`pretest: installing ${missing.join(', ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
const r = spawnSync('apt-get', ['install', '-y', '-q', ...missing], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
