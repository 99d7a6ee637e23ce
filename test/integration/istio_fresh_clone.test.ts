/**
 * The README's set-up on a fresh machine, from a fresh clone (committed files only):
 * `npm ci` (README says `npm install`; ci installs exactly the lock file, from the npm cache),
 * `npx tsmesh demo` in the background, then `curl http://127.0.0.1:8080/productpage` returns
 * Bookinfo's page with its reviews; Ctrl-C (SIGINT to the demo's process group) stops
 * everything. Needs 127.0.0.1:8080 and the default pod addresses free: skips otherwise, and
 * skips when the install cannot finish (offline without a cache, or too slow).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkPort } from '../../src/demo/ports.ts';
import { httpRequest } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { REPO } from '../helpers/processes.ts';

const INSTALL_TIMEOUT_MS = 300_000;
const DEMO_TIMEOUT_MS = 240_000;

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

/** `curl -s <url>`, with the curl binary when there is one (as the README reader would). */
async function curl(url: string): Promise<{ status: number; body: string }> {
  const hasCurl = spawnSync('curl', ['--version']).status === 0;
  if (!hasCurl) {
    const u = new URL(url);
    const r = await httpRequest(u.hostname, Number(u.port), u.pathname, { timeoutMs: 15_000 });
    return { status: r.status, body: r.body };
  }
  return new Promise((resolve) => {
    execFile('curl', ['-s', '-m', '15', '-w', '\n%{http_code}', url], { maxBuffer: 8 << 20 }, (_err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(i + 1)) || 0, body: stdout.slice(0, Math.max(i, 0)) });
    });
  });
}

/** The tail of the demo's ingress gateway log, for failure messages. */
function gatewayLog(clone: string): string {
  try {
    return `istio-ingressgateway.log:\n${readFileSync(join(clone, '.tsmesh/demo/logs/istio-ingressgateway.log'), 'utf8').slice(-3000)}`;
  } catch {
    return '';
  }
}

test("fresh clone: README's npm install + npx tsmesh demo serve /productpage with reviews on 127.0.0.1:8080", { timeout: 900_000 }, async (t) => {
  // Another test using the default addresses (test/demo) may be running: wait a while for them.
  const needed = [
    ['127.0.0.1', 8080, 'the ingress gateway'],
    ['127.0.1.1', 9080, "the default demo's first pod"],
  ] as const;
  const busy = async () => {
    for (const [host, port, what] of needed) {
      const c = await checkPort(host, port);
      if (!c.free) return `${host}:${port} (${what}) is not free (${c.code})`;
    }
    return undefined;
  };
  let why: string | undefined;
  await until(async () => (why = await busy()) === undefined, 'the default addresses free', 120_000, 1000).catch(() => undefined);
  if (why) {
    t.skip(`${why}: is a demo running? This test runs the README's demo on its default addresses`);
    return;
  }
  if (spawnSync('git', ['--version']).status !== 0) {
    t.skip('git is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-fresh-clone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clone = join(dir, 'tsmesh');
  const c = run('git', ['clone', '-q', REPO, clone], dir, 120_000);
  assert.ok(c.ok, `git clone: ${c.out}`);

  const install = run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone, INSTALL_TIMEOUT_MS);
  if (!install.ok) {
    t.skip(`npm ci did not finish in ${INSTALL_TIMEOUT_MS / 1000} s (offline without a cache?):\n${install.out.slice(-1500)}`);
    return;
  }

  // `npx tsmesh demo`, in its own process group, like a shell job.
  const demo = spawn('npx', ['tsmesh', 'demo'], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  demo.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => demo.once('exit', (code, signal) => r({ code, signal })));
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-demo.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  const onExit = () => group('SIGKILL');
  process.on('exit', onExit);
  let stopped = false;
  t.after(async () => {
    process.off('exit', onExit);
    if (stopped) return;
    group('SIGINT');
    const killer = setTimeout(() => group('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  });

  let page: { status: number; body: string } | undefined;
  let tries = 0;
  await until(
    async () => {
      if (demo.exitCode !== null) return true;
      if (!/Press Ctrl-C/.test(out)) return false;
      tries++;
      page = await curl('http://127.0.0.1:8080/productpage');
      return page.status === 200;
    },
    'the page',
    DEMO_TIMEOUT_MS,
    1000,
  ).catch(() => undefined);
  if (demo.exitCode !== null && /is already in use|addresses are in use|port 8080 on 127\.0\.0\.1 is in use/.test(out)) {
    // Something else took the default addresses between the check and the start.
    t.skip(`the default demo addresses were taken while starting:\n${out.slice(-1000)}`);
    return;
  }
  assert.ok(demo.exitCode === null, `npx tsmesh demo exited (${demo.exitCode}):\n${out}`);
  assert.ok(page && page.status === 200, `no page from http://127.0.0.1:8080/productpage in ${DEMO_TIMEOUT_MS / 1000} s (${tries} tries, last: ${page?.status} ${page?.body.slice(0, 300)}):\n${out}\n${gatewayLog(clone)}`);
  assert.match(out, /Bookinfo is running in the mesh/);
  assert.match(page.body, /The Comedy of Errors/, 'the page shows the book (details)');
  assert.match(page.body, /Reviewer1/, 'the page shows the reviews');
  assert.doesNotMatch(page.body, /Sorry, product (reviews|details) are currently unavailable/);

  // Ctrl-C: everything stops and the port is free again.
  group('SIGINT');
  const killer = setTimeout(() => group('SIGKILL'), 30_000);
  const { code, signal } = await exited;
  clearTimeout(killer);
  stopped = true;
  // npx itself may die of the SIGINT (npm's own behaviour); the demo under it exits 0.
  assert.ok(code === 0 || signal === 'SIGINT', `on Ctrl-C the demo exits cleanly (code ${code}, signal ${signal}):\n${out.slice(-2000)}`);
  await until(() => /\nstopped\n/.test(out), 'the demo to say it stopped', 30_000, 250).catch(() => undefined);
  assert.match(out, /\nstopped\n/, `the demo says it stopped everything:\n${out.slice(-2000)}`);
  await until(async () => (await checkPort('127.0.0.1', 8080)).free, 'port 8080 free', 5000, 250).catch(() => undefined);
  assert.ok((await checkPort('127.0.0.1', 8080)).free, 'port 8080 is free after Ctrl-C');
});
