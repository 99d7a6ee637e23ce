/**
 * `tsmesh tap` against the running Bookinfo demo (Linkerd's tap, issue 13's acceptance 3): while
 * page loads go through the ingress gateway, `tsmesh tap deploy/reviews-v2` shows live inbound
 * requests with status 200 and a latency; --path and --method filter; --max-rps bounds the rate
 * and the end says how many were dropped; Ctrl-C (SIGINT) ends it with exit 0 and the proxy's
 * tap.active back to 0; a direct POST /tap on the proxy's admin port is refused; and the tapped
 * proxy's RSS does not grow while a tap runs for a minute under load.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { ISTIO_BOOKINFO_CONFIGS, NO_ISTIO_DATA, sleep, startIstioDemo, type IstioDemo } from '../helpers/demo.ts';
import { until } from '../helpers/poll.ts';
import { REPO } from '../helpers/processes.ts';

interface Tap {
  child: ChildProcess;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  lines(): string[];
  /** Ctrl-C: resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

function startTap(demo: IstioDemo, args: string[]): Tap {
  const cmd = tsmeshCommand(['tap', ...args, '--state-dir', demo.stateDir, '--controlplane', demo.controlplane]);
  const child = spawn(cmd.command, cmd.args, { cwd: REPO, env: { ...process.env, TSMESH_CONTROLPLANE: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  void exited.then(() => clearTimeout(killer));
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split('\n').filter(Boolean),
    interrupt: async () => {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Page loads through the gateway until stop() (and never more than `max`). */
function loadLoop(demo: IstioDemo, max: number, concurrency = 1): { stop: () => Promise<number> } {
  let stopped = false;
  let n = 0;
  const worker = async () => {
    while (!stopped && n < max) {
      n++;
      await demo.get('/productpage').catch(() => undefined);
    }
  };
  const all = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    stop: async () => {
      stopped = true;
      await all;
      return n;
    },
  };
}

async function stat(admin: string, name: string): Promise<number> {
  const body = await (await fetch(`${admin}/stats`)).text();
  const m = new RegExp(`^${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(body);
  if (!m) throw new Error(`no ${name} in ${admin}/stats`);
  return Number(m[1]);
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const EVENT = /^\S+Z proxy=(in |out) src=\S+ dst=\S+ tls=(true|false) :method=(\S+) :authority=(\S+) :path=(\S+) :status=(\d+) latency=\d+ms flags=\S+/;

test('tsmesh tap deploy/reviews-v2 on the Bookinfo demo', { skip: NO_ISTIO_DATA, timeout: 600_000 }, async (t) => {
  const demo = await startIstioDemo(t, { configs: ISTIO_BOOKINFO_CONFIGS });
  const pod = demo.state.pods.find((p) => p.deployment === 'reviews-v2')!;
  const admin = pod.admin;
  const sidecar = demo.state.processes.find((p) => p.name.includes(pod.name) && p.name.endsWith('sidecar'));
  assert.ok(sidecar, `the reviews-v2 sidecar process in ${JSON.stringify(demo.state.processes.map((p) => p.name))}`);
  assert.equal((await demo.get('/productpage')).status, 200);

  await t.test('a direct POST /tap on the proxy admin port is refused', async () => {
    const none = await fetch(`${admin}/tap`, { method: 'POST' });
    assert.equal(none.status, 401);
    const forged = await fetch(`${admin}/tap`, { method: 'POST', headers: { authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA' } });
    assert.equal(forged.status, 403, await forged.text());
    assert.equal(await stat(admin, 'tap.sessions_total'), 0);
    assert.equal(await stat(admin, 'tap.streams_inspected'), 0, 'no tap: the request path did no tap work');
  });

  await t.test('bad targets and parameters get a sentence saying what to do', async () => {
    const tap = startTap(demo, ['deploy/nope']);
    assert.equal(await tap.exited, 1);
    assert.match(tap.stderr(), /no deployment nope in namespace default of the running demo/i);
    const noPod = await fetch(`${demo.controlplane}/debug/tap`);
    assert.equal(noPod.status, 400);
    assert.match(await noPod.text(), /pod is required/);
    const unknown = await fetch(`${demo.controlplane}/debug/tap?pod=deploy/nope&namespace=default`);
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /no connected proxy of deployment nope in namespace default; deployments connected there: .*reviews-v2/);
    // A web page (foreign Host or Origin) cannot start a tap on this machine's control plane.
    const cp = new URL(demo.controlplane);
    const rebound = await fetch(`${demo.controlplane}/debug/tap?pod=deploy/reviews-v2`, { headers: { origin: 'http://evil.example' } });
    assert.equal(rebound.status, 403);
    assert.match(await rebound.text(), /Origin http:\/\/evil\.example is not this control plane's own/);
    assert.equal(cp.hostname, '127.0.0.1');
  });

  await t.test('the ingress gateway can be tapped (its admin address comes from its node metadata); query strings stay hidden unless --show-query', async () => {
    const gw = 'istio-ingressgateway-1.istio-system';
    const load = { stopped: false, n: 0 };
    const loop = (async () => {
      while (!load.stopped && load.n < 2000) {
        load.n++;
        await demo.get('/productpage?access_token=s3cret').catch(() => undefined);
      }
    })();
    const plain = startTap(demo, [gw]);
    const shown = startTap(demo, [gw, '--show-query']);
    try {
      await until(() => plain.lines().filter((l) => EVENT.exec(l)?.[5] === '/productpage').length >= 2, `gateway events from tsmesh tap ${gw}:\n${plain.stdout()}${plain.stderr()}`, 90_000, 100);
      await until(() => shown.lines().some((l) => EVENT.exec(l)?.[5] === '/productpage?access_token=s3cret'), `query-string events from --show-query:\n${shown.stdout()}${shown.stderr()}`, 90_000, 100);
    } finally {
      load.stopped = true;
      await loop;
    }
    assert.equal(await plain.interrupt(), 0, plain.stderr());
    assert.equal(await shown.interrupt(), 0, shown.stderr());
    assert.doesNotMatch(plain.stdout(), /s3cret/);
    console.log(plain.lines()[0]);
  });

  await t.test('live inbound requests with status 200 and a latency; Ctrl-C ends it cleanly', async () => {
    const load = loadLoop(demo, 2000);
    const tap = startTap(demo, ['deploy/reviews-v2', '-o', 'wide']);
    try {
      await until(() => tap.lines().filter((l) => EVENT.exec(l)?.[1] === 'in ' && EVENT.exec(l)?.[6] === '200').length >= 3, `three inbound 200 lines from tsmesh tap:\n${tap.stdout()}${tap.stderr()}`, 90_000, 100);
      assert.equal(await stat(admin, 'tap.active'), 1);
    } finally {
      await load.stop();
    }
    const code = await tap.interrupt();
    console.log(tap.lines().slice(0, 4).join('\n'));
    assert.equal(code, 0, tap.stderr());
    assert.match(tap.stderr(), /^tap: \d+ requests shown, \d+ dropped by the proxy/m);
    const inbound = tap.lines().map((l) => EVENT.exec(l)).filter((m) => m?.[1] === 'in ');
    assert.ok(inbound.every((m) => m![5]!.startsWith('/reviews/')), tap.stdout());
    // -o wide: the caller's mTLS identity.
    for (const l of tap.lines().filter((x) => EVENT.exec(x)?.[1] === 'in ')) assert.match(l, / src_id=spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage cluster=\S+ request_id=\S+$/);
    await until(async () => (await stat(admin, 'tap.active')) === 0, 'the proxy dropped the tap (tap.active 0)', 10_000, 50);
    // Dropped: no tap work on the request path again.
    const inspected = await stat(admin, 'tap.streams_inspected');
    for (let i = 0; i < 6; i++) await demo.get('/productpage');
    assert.equal(await stat(admin, 'tap.streams_inspected'), inspected);
  });

  await t.test('--path and --method filter (outbound /ratings calls, GET only), -o json', async () => {
    const load = loadLoop(demo, 2000);
    const tap = startTap(demo, ['deploy/reviews-v2', '--path', '/ratings', '--method', 'get', '-o', 'json']);
    let events: Array<Record<string, unknown>> = [];
    try {
      events = await until(() => {
        const e = tap.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
        return e.length >= 3 && e;
      }, `three /ratings events:\n${tap.stdout()}${tap.stderr()}`, 90_000, 100);
    } finally {
      await load.stop();
    }
    assert.equal(await tap.interrupt(), 0, tap.stderr());
    for (const e of events) {
      assert.equal(e.type, 'event');
      assert.equal(e.direction, 'outbound');
      assert.equal(e.method, 'GET');
      assert.match(String(e.path), /^\/ratings\//);
      assert.equal(e.status, 200);
      assert.equal(typeof e.latencyMs, 'number');
      assert.match(String(e.upstreamCluster), /^outbound\|9080\|.*\|ratings\.default\.svc\.cluster\.local$/);
    }
  });

  await t.test('--max-rps bounds the event rate; the end shows what was dropped', async () => {
    const tap = startTap(demo, ['deploy/reviews-v2', '--max-rps', '1']);
    const t0 = performance.now();
    // The first event says the tap is live; the proxy has not been asked for the one before it.
    const load = loadLoop(demo, 2000);
    try {
      await until(() => tap.lines().length >= 1, `a first tap line:\n${tap.stderr()}`, 90_000, 50);
      let pages = 0;
      while (pages < 40) (await demo.get('/productpage'), pages++);
    } finally {
      await load.stop();
    }
    // The proxy reports its drop counts once a second.
    await sleep(2500);
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(await tap.interrupt(), 0, tap.stderr());
    const m = /^tap: (\d+) requests shown, (\d+) dropped by the proxy \((\d+) over --max-rps 1, (\d+) while the reader was slow\)/m.exec(tap.stderr());
    assert.ok(m, tap.stderr());
    const [shown, dropped] = [Number(m[1]), Number(m[2])];
    console.log(`--max-rps 1 over ${seconds.toFixed(1)} s: ${shown} shown, ${dropped} dropped`);
    // A burst of one, then one a second.
    assert.ok(shown <= Math.ceil(seconds) + 1, `${shown} events in ${seconds.toFixed(1)} s at --max-rps 1`);
    assert.ok(dropped > 0, tap.stderr());
  });

  await t.test("the tapped proxy's RSS does not grow while a tap runs for a minute under load", async () => {
    const load = loadLoop(demo, 30_000, 2);
    const tap = startTap(demo, ['deploy/reviews-v2', '-o', 'json']);
    const samples: Array<[number, number]> = [];
    try {
      await until(() => tap.lines().length >= 1, `a first tap line:\n${tap.stderr()}`, 90_000, 50);
      const t0 = performance.now();
      for (let i = 0; i <= 12; i++) {
        samples.push([Math.round((performance.now() - t0) / 1000), rssKb(sidecar!.pid)]);
        if (i < 12) await sleep(5000);
      }
    } finally {
      const pages = await load.stop();
      console.log(`page loads during the minute: ${pages}`);
    }
    assert.equal(await tap.interrupt(), 0, tap.stderr());
    const events = tap.lines().length;
    const plateau = Math.max(...samples.filter(([s]) => s <= 10).map(([, kb]) => kb));
    const end = samples[samples.length - 1]![1];
    console.log(`tapped proxy RSS (kB) by second: ${samples.map(([s, kb]) => `${s}s=${kb}`).join(' ')}`);
    console.log(`plateau (first 10 s) ${plateau} kB, after a minute ${end} kB (${(((end - plateau) / plateau) * 100).toFixed(1)}%), ${events} events shown; ${tap.stderr().trim()}`);
    assert.ok(events > 100, `the tap saw traffic (${events} events)`);
    // Not growing: within 15% (GC noise) of where it stood after the first ten seconds.
    assert.ok(end <= plateau * 1.15, `RSS grew from ${plateau} kB to ${end} kB while tapped`);
  });
});
