/**
 * `npm run bench -- proxy`: HTTP/1.1 keep-alive, 1 KiB responses, all on this machine in one run:
 * (a) direct to the upstream, (b) one tsmesh proxy, (c) nginx and HAProxy as proxies configured
 * alike, (d) two tsmesh proxies in series; then at a fixed 1,000 rps the latency (d) adds over
 * (a) with the proxies' CPU seconds and RSS; then TCP passthrough MB/s against direct.
 *
 * Besides req/s, each proxy's CPU time per request is read from /proc: on a 2-core machine shared
 * with the load generator (and often with other work), req/s swings with whatever else runs,
 * while requests per CPU-second ("per core") is what the aim compares and stays comparable.
 *
 * Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS (32), BENCH_RATE_SECONDS (10),
 * BENCH_TCP_MB (512), BENCH_PROXY_NODE_ARGS (extra node flags for the tsmesh proxies, e.g.
 * "--max-semi-space-size=2"), BENCH_CPU_PROF=<dir> (write a V8 CPU profile per tsmesh proxy
 * there, read on exit; open in Chrome DevTools), BENCH_NO_INSTALL=1 (never apt-get).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, createServer } from 'node:net';
import { cpuSeconds, rssMB, start, type Started } from './lib/procs.ts';
import { freePort } from './lib/ports.ts';
import { wrk, type WrkResult } from './lib/wrk.ts';
import { fixedRate } from './lib/probe.ts';
import { haproxyConfig, httpBootstrap, nginxProxy, nginxUpstream, tcpBootstrap } from './lib/configs.ts';
import { ensureTools } from './lib/tools.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 32);

function proxyNodeArgs(): string[] {
  const args = (process.env.BENCH_PROXY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const prof = process.env.BENCH_CPU_PROF;
  if (prof) {
    mkdirSync(prof, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`);
  }
  return args;
}

// A short drain: the bench's clients are gone when it stops a proxy, and a CPU profile is only
// written once the process exits.
const TSMESH = [...proxyNodeArgs(), '--import', 'tsx', 'src/cli/main.ts', 'proxy', '--concurrency', '1', '--log-level', 'warn', '--drain-time-s', '1'];

interface Measured extends WrkResult {
  /** Proxy CPU seconds spent per request, in microseconds (NaN when not measured). */
  cpuUsPerReq: number;
}

function line(label: string, r: Measured, base?: WrkResult): string {
  const ratio = base ? `  ${(r.rps / base.rps).toFixed(2)}x direct` : '';
  const cpu = Number.isFinite(r.cpuUsPerReq) ? `  cpu ${r.cpuUsPerReq.toFixed(1)} us/req = ${(1e6 / r.cpuUsPerReq / 1000).toFixed(1)}k req/s per core` : '';
  return `${label.padEnd(24)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  errors ${r.errors}${ratio}${cpu}`;
}

/** wrk against `url` while reading the CPU time of `pids` (the proxy under test). */
function measure(url: string, pids: number[], seconds = SECONDS): Measured {
  const c0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const r = wrk(url, { seconds, connections: CONNS });
  const cpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - c0;
  const served = r.rps * seconds;
  return { ...r, cpuUsPerReq: pids.length && served > 0 ? (cpu / served) * 1e6 : NaN };
}

async function tsmeshProxy(dir: string, name: string, listen: number, upstream: number): Promise<Started> {
  const admin = await freePort();
  const f = httpBootstrap(dir, name, listen, upstream, admin);
  return start(`tsmesh ${name}`, process.execPath, [...TSMESH, '--bootstrap', f], { port: listen });
}

function skip(what: string, why: string): void {
  console.log(`${what.padEnd(24)} skipped: ${why}`);
}

export async function run(): Promise<void> {
  const tools = ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-bench-'));
  const procs: Started[] = [];
  const haveWrk = tools.path.wrk !== undefined;
  if (!haveWrk) console.log(`wrk ${tools.why.wrk}: throughput lines (a)-(d) are skipped; the 1,000 rps probe and TCP passthrough still run`);
  try {
    const up = await freePort();
    if (tools.path.nginx) {
      procs.push(await start('nginx upstream', tools.path.nginx, ['-c', nginxUpstream(dir, up), '-e', join(dir, 'nginx-up.err')], { port: up }));
    } else {
      console.log(`nginx ${tools.why.nginx}: upstream is node's http server instead (slower than nginx, so ratios to "direct" flatter the proxies)`);
      procs.push(await start('node upstream', process.execPath, ['--import', 'tsx', 'bench/lib/node_upstream.ts', String(up)], { port: up }));
    }
    const url = (port: number) => `http://127.0.0.1:${port}/`;
    let direct: Measured | undefined;
    if (haveWrk) {
      direct = measure(url(up), []);
      console.log(line('(a) direct', direct));
    }

    const p1 = await freePort();
    const one = await tsmeshProxy(dir, 'hop1', p1, up);
    procs.push(one);
    let b: Measured | undefined;
    if (haveWrk) {
      wrk(url(p1), { seconds: 1, connections: CONNS }); // warm-up (JIT)
      b = measure(url(p1), [one.proc.pid!]);
      console.log(line('(b) one tsmesh proxy', b, direct) + `  rss ${rssMB(one.proc.pid!).toFixed(0)} MB`);
    }

    const peers: { name: string; r: Measured }[] = [];
    if (haveWrk) {
      if (tools.path.nginx) {
        const pn = await freePort();
        const ngx = await start('nginx proxy', tools.path.nginx, ['-c', nginxProxy(dir, pn, up), '-e', join(dir, 'nginx-px.err')], { port: pn });
        procs.push(ngx);
        wrk(url(pn), { seconds: 1, connections: CONNS });
        const r = measure(url(pn), [ngx.proc.pid!]);
        peers.push({ name: 'nginx', r });
        console.log(line('(c) nginx proxy', r, direct));
        await ngx.stop();
      } else skip('(c) nginx proxy', tools.why.nginx!);
      if (tools.path.haproxy) {
        const ph = await freePort();
        const hap = await start('haproxy', tools.path.haproxy, ['-f', haproxyConfig(dir, ph, up), '-db'], { port: ph });
        procs.push(hap);
        wrk(url(ph), { seconds: 1, connections: CONNS });
        const r = measure(url(ph), [hap.proc.pid!]);
        peers.push({ name: 'haproxy', r });
        console.log(line('(c) haproxy', r, direct));
        await hap.stop();
      } else skip('(c) haproxy', tools.why.haproxy!);
    }

    const p2 = await freePort();
    const two = await tsmeshProxy(dir, 'hop2', p2, p1);
    procs.push(two);
    if (haveWrk) {
      wrk(url(p2), { seconds: 1, connections: CONNS });
      const d = measure(url(p2), [one.proc.pid!, two.proc.pid!]);
      // CPU here is both proxies' together: each request costs two hops.
      console.log(line('(d) two tsmesh proxies', d, direct) + ' (cpu of both hops)');
    }
    if (b) {
      for (const p of peers) {
        console.log(
          `ratio one tsmesh proxy / ${p.name}: ${(b.rps / p.r.rps).toFixed(2)} by req/s, ${(p.r.cpuUsPerReq / b.cpuUsPerReq).toFixed(2)} per core (aim >= 0.6 per core)`,
        );
      }
    }

    // Fixed 1,000 rps, open loop: what two hops add to the latency of a direct call.
    const rate = 1000;
    const secs = Number(process.env.BENCH_RATE_SECONDS ?? 10);
    const a1k = await fixedRate(url(up), rate, secs);
    const c0 = cpuSeconds(one.proc.pid!) + cpuSeconds(two.proc.pid!);
    const d1k = await fixedRate(url(p2), rate, secs);
    const cpu = cpuSeconds(one.proc.pid!) + cpuSeconds(two.proc.pid!) - c0;
    console.log(
      `at ${rate} rps for ${secs} s: direct p50 ${a1k.p50ms.toFixed(3)} p90 ${a1k.p90ms.toFixed(3)} p99 ${a1k.p99ms.toFixed(3)} ms; two hops p50 ${d1k.p50ms.toFixed(3)} p90 ${d1k.p90ms.toFixed(3)} p99 ${d1k.p99ms.toFixed(3)} ms (errors ${a1k.errors + d1k.errors}; probe lag max ${Math.max(a1k.maxSendLagMs, d1k.maxSendLagMs).toFixed(1)} ms)`,
    );
    console.log(
      `added by two hops: p50 +${(d1k.p50ms - a1k.p50ms).toFixed(3)} ms, p90 +${(d1k.p90ms - a1k.p90ms).toFixed(3)} ms, p99 +${(d1k.p99ms - a1k.p99ms).toFixed(3)} ms (aim p99 <= +0.3; Istio 1.20 two Envoys: +0.228 p90, +0.298 p99)`,
    );
    const vcpuPer1k = cpu / secs / 2;
    console.log(
      `proxy CPU: ${(cpu / 2).toFixed(2)} s per proxy over ${secs} s = ${vcpuPer1k.toFixed(3)} vCPU per 1,000 rps (aim <= 0.1; Istio 1.24 Envoy 0.20); RSS hop1 ${rssMB(one.proc.pid!).toFixed(0)} MB, hop2 ${rssMB(two.proc.pid!).toFixed(0)} MB (aim <= 40)`,
    );

    await tcpPassthrough(dir, procs);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Pushes a fixed volume through a TCP sink, direct and through tcp_proxy, and prints MB/s. */
async function tcpPassthrough(dir: string, procs: Started[]): Promise<void> {
  const sink = createServer((s) => {
    s.on('data', () => undefined);
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkPort = (sink.address() as { port: number }).port;
  const tp = await freePort();
  const admin = await freePort();
  const px = await start('tsmesh tcp', process.execPath, [...TSMESH, '--bootstrap', tcpBootstrap(dir, 'tcp', tp, sinkPort, admin)], { port: tp });
  procs.push(px);
  const MB = Number(process.env.BENCH_TCP_MB ?? 512);
  const direct = await push(sinkPort, MB);
  const c0 = cpuSeconds(px.proc.pid!);
  const proxied = await push(tp, MB);
  const cpu = cpuSeconds(px.proc.pid!) - c0;
  console.log(
    `TCP passthrough ${MB} MB: direct ${direct.toFixed(0)} MB/s, through tcp_proxy ${proxied.toFixed(0)} MB/s (${(proxied / direct).toFixed(2)}x); proxy cpu ${cpu.toFixed(2)} s = ${((cpu / MB) * 1000).toFixed(1)} ms per MB`,
  );
  sink.close();
}

function push(port: number, mb: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const chunks = (mb * 1024 * 1024) / chunk.length;
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const t0 = performance.now();
    let sent = 0;
    const write = () => {
      while (sent < chunks) {
        sent++;
        if (!s.write(chunk)) return void s.once('drain', write);
      }
      s.end();
    };
    s.once('connect', write);
    s.on('data', () => undefined);
    s.once('close', () => resolve(mb / ((performance.now() - t0) / 1000)));
    s.once('error', reject);
    setTimeout(() => reject(new Error('tcp push timed out')), 120_000).unref();
  });
}
